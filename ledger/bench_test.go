package ledger

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The figures of issue 10 (run from the repository root):
//
//	go test -run '^$' -bench 'Fold/100000|Append/100000|AddAll/50000' -benchmem -benchtime 3x ./ledger/
//
// Fold and AddAll report peak-heap-MB, the most the heap in use grew while
// they ran (sampled), besides B/op (everything allocated); AddAll reports
// max-lock-ms, the longest a reader of the log waited for its lock; Fold and
// Append report the CPU time per op, which a loaded machine distorts less
// than ns/op.

// benchUser names the i-th user of a bench ledger.
func benchUser(i int) string { return fmt.Sprint("user", i) }

// genOps makes a linear ledger of n ops, about as a busy network writes
// them: the owner adds admins and their nodes and removes the oldest admin
// every 20 ops, and admins write grants. It makes the ops directly (no Log,
// no checks), one second apart, so that large ledgers are cheap to build.
func genOps(n int) []*Op {
	alice := testKey("alice")
	g := testGenesis(alice, "alice")
	net := NetworkID(g.ID())
	ops := []*Op{g}
	prev := g
	var users []int
	for i := 0; len(ops) < n; i++ {
		ms := t0.Add(time.Duration(i+1) * time.Second).UnixMilli()
		var o *Op
		switch {
		case i%20 == 19 && len(users) > 0:
			u := users[0]
			users = users[1:]
			o = build(net, alice, ms, []*Op{prev}, Op{Kind: KindRemoveUser, Subject: uid(testKey(benchUser(u)))})
		case i%4 == 0 || len(users) == 0:
			users = append(users, i)
			o = build(net, alice, ms, []*Op{prev}, Op{Kind: KindAddUser, Subject: uid(testKey(benchUser(i))), SubjectName: benchUser(i), Role: RoleAdmin})
		case i%4 == 1:
			u := users[i%len(users)]
			var node [32]byte
			copy(node[:], fmt.Sprintf("node %d", i))
			o = build(net, alice, ms, []*Op{prev}, Op{Kind: KindAddNode, Subject: uid(testKey(benchUser(u))), Node: node})
		default:
			u := users[i%len(users)]
			o = build(net, testKey(benchUser(u)), ms, []*Op{prev}, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint("g", u), Value: []byte{byte(i)}})
		}
		ops = append(ops, o)
		prev = o
	}
	return ops
}

var genCache sync.Map // n → []*Op

func cachedOps(n int) []*Op {
	if v, ok := genCache.Load(n); ok {
		return v.([]*Op)
	}
	ops := genOps(n)
	genCache.Store(n, ops)
	return ops
}

// benchLog stores ops in a new directory and opens it.
func benchLog(b *testing.B, ops []*Op, c *clock) *Log {
	b.Helper()
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, opsDir), 0o700); err != nil {
		b.Fatal(err)
	}
	for _, o := range ops {
		if err := os.WriteFile(opPath(dir, o.ID()), o.Marshal(), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, networkFile), []byte(NetworkID(ops[0].ID()).String()+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	l, err := Open(dir, &Options{Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	if w := l.Warnings(); len(w) > 0 {
		b.Fatalf("Open warnings: %q", w)
	}
	return l
}

// peakHeap samples the heap in use until stop is called, and returns the
// most it grew over what it was at the start (the benchmark's input, the
// test keys), in MB.
func peakHeap() (stop func() float64) {
	done := make(chan struct{})
	res := make(chan uint64)
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		var peak uint64
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
			select {
			case <-done:
				res <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return func() float64 {
		close(done)
		p := <-res
		return float64(p-min(base, p)) / (1 << 20)
	}
}

// cpuTime is the CPU time the process has used: on a loaded machine it
// says more than the wall clock of b.Elapsed.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkFold(b *testing.B) {
	for _, n := range []int{1000, 3000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ops := cachedOps(n)
			stop := peakHeap()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				if s := Fold(ops); s.Applied != n {
					b.Fatalf("Fold applied %d of %d ops: %v", s.Applied, n, s.Rejected[:min(3, len(s.Rejected))])
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(stop(), "peak-heap-MB")
		})
	}
}

// BenchmarkAddAll is a new member's first sync of a whole ledger.
func BenchmarkAddAll(b *testing.B) {
	for _, n := range []int{1000, 50000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			fastWrites(b)
			ops := cachedOps(n)
			c := &clock{t: t0.Add(time.Duration(n) * time.Second)}
			stop := peakHeap()
			var maxWait time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r, err := Init(b.TempDir(), ops[0], &Options{Now: c.Now})
				if err != nil {
					b.Fatal(err)
				}
				// A reader of the log (sync answering a peer, the daemon's
				// status) meanwhile.
				done := make(chan struct{})
				waited := make(chan time.Duration)
				go func() {
					var w time.Duration
					for {
						select {
						case <-done:
							waited <- w
							return
						default:
						}
						start := time.Now()
						r.Has(ops[0].ID())
						w = max(w, time.Since(start))
						time.Sleep(time.Millisecond)
					}
				}()
				added, _ := r.AddAll(ops)
				close(done)
				maxWait = max(maxWait, <-waited)
				if added != len(ops)-1 {
					b.Fatalf("AddAll added %d, want %d", added, len(ops)-1)
				}
			}
			b.ReportMetric(stop(), "peak-heap-MB")
			b.ReportMetric(float64(maxWait.Microseconds())/1000, "max-lock-ms")
		})
	}
}

// BenchmarkAppend is one more operation on a ledger of n.
func BenchmarkAppend(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			fastWrites(b)
			c := &clock{t: t0.Add(time.Duration(n) * time.Second)}
			l := benchLog(b, cachedOps(n), c)
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			cpu := cpuTime()
			for b.Loop() {
				c.advance(time.Second)
				i++
				mustAppend(b, l, alice, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint("g", i%50), Value: []byte{byte(i)}})
			}
			b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkSyncOneByOne is a member receiving a ledger op by op, as live
// sync delivers it.
func BenchmarkSyncOneByOne(b *testing.B) {
	fastWrites(b)
	ops := cachedOps(1000)
	c := &clock{t: t0.Add(time.Hour)}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, err := Init(b.TempDir(), ops[0], &Options{Now: c.Now})
		if err != nil {
			b.Fatal(err)
		}
		for _, o := range ops[1:] {
			if err := r.Add(o); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// genBranchyOps makes a ledger of n ops written by four members on their
// own replicas, who sync every 20 ops (each then names all four heads):
// most ops are concurrent with a few others, and the owner's removals
// (one per 40 ops) are concurrent with the admins' latest ops.
func genBranchyOps(n int) []*Op {
	alice := testKey("alice")
	g := testGenesis(alice, "alice")
	net := NetworkID(g.ID())
	ops := []*Op{g}
	writers := []string{"alice", "w1", "w2", "w3"}
	last := make([]*Op, len(writers))
	ms := t0.UnixMilli()
	for w := range writers[1:] {
		ms += 1000
		o := build(net, alice, ms, []*Op{ops[len(ops)-1]}, Op{Kind: KindAddUser, Subject: uid(testKey(writers[w+1])), SubjectName: writers[w+1], Role: RoleAdmin})
		ops = append(ops, o)
	}
	for w := range last {
		last[w] = ops[len(ops)-1]
	}
	var users []int
	for i := 0; len(ops) < n; i++ {
		ms += 1000
		w := i % len(writers)
		parents := []*Op{last[w]}
		if i%20 == 0 {
			parents = slices.Clone(last)
		}
		var o *Op
		switch {
		case w == 0 && i%40 == 0 && len(users) > 0:
			u := users[0]
			users = users[1:]
			o = build(net, alice, ms, parents, Op{Kind: KindRemoveUser, Subject: uid(testKey(benchUser(u)))})
		case w == 0:
			users = append(users, i)
			o = build(net, alice, ms, parents, Op{Kind: KindAddUser, Subject: uid(testKey(benchUser(i))), SubjectName: benchUser(i), Role: RoleGuest})
		default:
			o = build(net, testKey(writers[w]), ms, parents, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint(writers[w], i%100), Value: []byte{byte(i)}})
		}
		ops = append(ops, o)
		last[w] = o
	}
	return ops
}

// BenchmarkFoldBranchy folds a ledger of concurrent writers (genBranchyOps).
func BenchmarkFoldBranchy(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			key := -n
			v, ok := genCache.Load(key)
			if !ok {
				v = genBranchyOps(n)
				genCache.Store(key, v)
			}
			ops := v.([]*Op)
			stop := peakHeap()
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			for b.Loop() {
				if s := Fold(ops); s.Applied != n {
					b.Fatalf("Fold applied %d of %d ops: %v", s.Applied, n, s.Rejected[:min(3, len(s.Rejected))])
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(stop(), "peak-heap-MB")
		})
	}
}
