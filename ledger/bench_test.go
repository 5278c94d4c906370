package ledger

import (
	"fmt"
	"testing"
	"time"
)

// benchLedger makes a log of about n ops: members joining, leaving and
// adding nodes, with a removal every 20 ops.
func benchLedger(b *testing.B, n int) (*Log, *clock) {
	b.Helper()
	fastWrites(b)
	c := &clock{t: t0}
	l := newLog(b, c)
	var users []string
	for i := 0; len(l.IDs()) < n; i++ {
		c.advance(time.Second)
		switch {
		case i%20 == 19 && len(users) > 0:
			u := users[0]
			users = users[1:]
			mustAppend(b, l, alice, Op{Kind: KindRemoveUser, Subject: uid(testKey(u))})
		case i%4 == 0:
			u := fmt.Sprint("user", i)
			users = append(users, u)
			mustAppend(b, l, alice, Op{Kind: KindAddUser, Subject: uid(testKey(u)), SubjectName: u, Role: RoleAdmin})
		default:
			u := users[i%len(users)]
			mustAppend(b, l, testKey(u), Op{Kind: KindAddNode, Subject: uid(testKey(u)), Node: nodeKey(fmt.Sprint(i))})
		}
	}
	return l, c
}

func BenchmarkFold(b *testing.B) {
	for _, n := range []int{100, 1000, 3000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, _ := benchLedger(b, n)
			ops := l.Ops()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				Fold(ops)
			}
		})
	}
}

// BenchmarkAddAll is a new member's first sync of a whole ledger.
func BenchmarkAddAll(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, c := benchLedger(b, n)
			ops := l.Ops()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r := replica(b, l, c)
				if added, _ := r.AddAll(ops); added != len(ops)-1 {
					b.Fatalf("AddAll added %d, want %d", added, len(ops)-1)
				}
			}
		})
	}
}

// BenchmarkAppend is one more operation on a ledger of n.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1000, 3000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			l, c := benchLedger(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				c.advance(time.Second)
				i++
				mustAppend(b, l, alice, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint("g", i%50), Value: []byte{byte(i)}})
			}
		})
	}
}

// BenchmarkSyncOneByOne is a member receiving a ledger op by op, as live
// sync delivers it.
func BenchmarkSyncOneByOne(b *testing.B) {
	l, c := benchLedger(b, 1000)
	ops := l.Ops()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := replica(b, l, c)
		for _, o := range ops[1:] {
			if err := r.Add(o); err != nil {
				b.Fatal(err)
			}
		}
	}
}
