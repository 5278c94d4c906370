package ledger

import (
	"errors"
	"strings"
	"testing"
)

// TestRecordsMatrix checks who may put and delete records of each kind of
// table, and that the last put wins and a delete removes.
func TestRecordsMatrix(t *testing.T) {
	fastWrites(t)
	owner, admin, guest := testKey("alice"), testKey("admin"), testKey("guest")
	l := newLog(t, &clock{t0})
	mustAppend(t, l, owner, Op{Kind: KindAddUser, Subject: uid(admin), SubjectName: "ann", Role: RoleAdmin})
	mustAppend(t, l, owner, Op{Kind: KindAddUser, Subject: uid(guest), SubjectName: "gus", Role: RoleGuest})

	tests := []struct {
		who   string
		key   []byte
		table string
		ok    bool
	}{
		{"alice", owner, TableDevice, true},
		{"admin", admin, TableDevice, false},
		{"guest", guest, TableDevice, false},
		{"alice", owner, TableOTA, true},
		{"admin", admin, TableOTA, false},
		{"alice", owner, TableGrant, true},
		{"admin", admin, TableGrant, true},
		{"guest", guest, TableGrant, false},
		{"admin", admin, TableScene, true},
		{"guest", guest, TableScene, false},
		{"admin", admin, TablePushKey, true},
		{"guest", guest, TablePushAlias, false},
	}
	for _, tt := range tests {
		k := testKey(tt.who)
		_, err := l.Append(k, Op{Kind: KindPut, Table: tt.table, Key: "x-" + tt.who, Value: []byte("v1")})
		if tt.ok != (err == nil) {
			t.Errorf("%s put %s: err = %v, want ok=%v", tt.who, tt.table, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrUnauthorized) {
			t.Errorf("%s put %s: err = %v, want ErrUnauthorized", tt.who, tt.table, err)
		}
	}
	if _, err := l.Append(admin, Op{Kind: KindPut, Table: TableDevice, Key: "d", Value: []byte("v")}); err == nil ||
		!strings.Contains(err.Error(), "owner only") && !strings.Contains(err.Error(), "the owner") {
		t.Errorf("admin put device: err = %v, want a reason naming the owner", err)
	}

	mustAppend(t, l, admin, Op{Kind: KindPut, Table: TableGrant, Key: "g", Value: []byte("one")})
	mustAppend(t, l, owner, Op{Kind: KindPut, Table: TableGrant, Key: "g", Value: []byte("two")})
	if r := l.State().Record(TableGrant, "g"); r == nil || string(r.Value) != "two" || r.Author != uid(owner) {
		t.Fatalf("Record(grant, g) = %+v, want value two by owner", r)
	}
	if _, err := l.Append(guest, Op{Kind: KindDelete, Table: TableGrant, Key: "g"}); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("guest delete grant: err = %v, want ErrUnauthorized", err)
	}
	mustAppend(t, l, admin, Op{Kind: KindDelete, Table: TableGrant, Key: "g"})
	if r := l.State().Record(TableGrant, "g"); r != nil {
		t.Errorf("Record(grant, g) after delete = %+v, want nil", r)
	}
	if _, err := l.Append(admin, Op{Kind: KindDelete, Table: TableGrant, Key: "g"}); err == nil {
		t.Errorf("delete of a missing record: err = nil, want a rejection")
	}
	if got := len(l.State().Table(TableGrant)); got != 2 {
		t.Errorf("len(Table(grant)) = %d, want 2 (x-alice, x-admin)", got)
	}

	for _, bad := range []Op{
		{Kind: KindPut, Table: "nope", Key: "k", Value: []byte("v")},
		{Kind: KindPut, Table: TableGrant, Value: []byte("v")},
		{Kind: KindPut, Table: TableGrant, Key: "k"},
		{Kind: KindDelete, Table: TableGrant, Key: "x-alice", Value: []byte("v")},
		{Kind: KindPut, Table: TableGrant, Key: strings.Repeat("k", MaxKeyLen+1), Value: []byte("v")},
	} {
		if _, err := l.Append(owner, bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("Append(%s %q %q): err = %v, want ErrMalformed", bad.Kind, bad.Table, bad.Key, err)
		}
	}
}

// TestRecordsSurviveReopen checks that records are folded again from disk.
func TestRecordsSurviveReopen(t *testing.T) {
	owner := testKey("alice")
	l := newLog(t, &clock{t0})
	mustAppend(t, l, owner, Op{Kind: KindPut, Table: TableZone, Key: "kitchen", Value: []byte(`{"name":"Kitchen"}`)})
	l2, err := Open(l.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := l2.State().Record(TableZone, "kitchen"); r == nil || string(r.Value) != `{"name":"Kitchen"}` {
		t.Errorf("after reopen Record(zone, kitchen) = %+v", r)
	}
}
