package ledger

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestIsAncestorMatchesBFS compares the DAG's ancestry index (chains and
// vector clocks) with a search of the parents, on random DAGs from linear
// to very wide, and its full flags with their definition.
func TestIsAncestorMatchesBFS(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 7))
		n := 2 + r.IntN(90)
		width := 1 + r.IntN(1+int(seed)%40) // how far back parents reach
		var ops []*Op
		for i := range n {
			o := &Op{V: Version, Kind: KindPut, Table: TableGrant, Key: fmt.Sprint(seed, "/", i), Value: []byte{1}}
			if i > 0 {
				for range 1 + r.IntN(3) {
					if r.IntN(10) == 0 && i > 1 {
						continue // a root now and then
					}
					p := max(0, i-1-r.IntN(width))
					o.Parents = append(o.Parents, ops[p].ID())
				}
				slices.SortFunc(o.Parents, compareID)
				o.Parents = slices.Compact(o.Parents)
			}
			ops = append(ops, o)
		}
		d, missing := buildDAG(shuffled(r, ops), nil)
		if len(missing) > 0 || len(d.ops) != n {
			t.Fatalf("seed %d: buildDAG placed %d of %d ops", seed, len(d.ops), n)
		}
		ref := bfsAncestry{}
		for _, o := range ops {
			ref[o.ID()] = o
		}
		for i, a := range d.ids {
			before := 0
			for j, b := range d.ids {
				if got, want := d.isAncestor(a, b), ref.isAncestor(a, b); got != want {
					t.Fatalf("seed %d: isAncestor(op %d, op %d) = %v, want %v", seed, i, j, got, want)
				}
				if j < i && ref.isAncestor(b, a) {
					before++
				}
			}
			if got, want := d.full[i], before == i; got != want {
				t.Fatalf("seed %d: full[%d] = %v, want %v (%d of the %d ops before it are ancestors)", seed, i, got, want, before, i)
			}
		}
		if _, ok := d.pos(ID{1}); ok || d.isAncestor(ID{1}, d.ids[n-1]) {
			t.Fatalf("seed %d: an unknown op is in the DAG", seed)
		}
	}
}

// bfsAncestry answers ancestry by a breadth-first search of the parents.
type bfsAncestry map[ID]*Op

func (m bfsAncestry) isAncestor(a, b ID) bool {
	seen := map[ID]bool{}
	queue := []ID{b}
	for len(queue) > 0 {
		o := m[queue[0]]
		queue = queue[1:]
		if o == nil {
			continue
		}
		for _, p := range o.Parents {
			if p == a {
				return true
			}
			if !seen[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return false
}

// guestCycle makes alice add a node to carol and carol remove it: one op of
// carol's, which a guest may make without the owner's help but for the node.
func guestCycle(t *testing.T, f *family, i int) {
	t.Helper()
	n := nodeKey(fmt.Sprint("cycle ", i))
	f.c.advance(time.Millisecond)
	mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: n, SubjectName: "phone"})
	f.c.advance(time.Millisecond)
	mustAppend(t, f.l, carol, Op{Kind: KindRemoveNode, Node: n})
}

// TestQuotaOpsPerHour: a guest who writes ops as fast as she can gets
// QuotaOpsPerHour[RoleGuest] of them into one hour, from her own client
// (Append) or from a modified one (Add); the next hour she may go on;
// admins and the owner have more.
func TestQuotaOpsPerHour(t *testing.T) {
	fastWrites(t)
	f := newFamily(t)
	lim := QuotaOpsPerHour[RoleGuest]
	for i := range lim {
		guestCycle(t, f, i)
	}
	f.c.advance(time.Millisecond)
	n := nodeKey("one too many")
	mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: n})
	_, err := f.l.Append(carol, Op{Kind: KindRemoveNode, Node: n})
	wantRejection(t, "Append over the quota", err, ErrQuota, fmt.Sprintf("quota: guest carol already has %d operations dated in the hour from 2026-11-20 09:00 UTC; a guest may make %d an hour", lim, lim))
	// A modified client signs it anyway and sends it.
	err = f.l.Add(f.next(carol, Op{Kind: KindRemoveNode, Node: n}))
	wantRejection(t, "Add over the quota", err, ErrQuota, "a guest may make 1000 an hour")

	f.c.t = t0.Add(time.Hour)
	mustAppend(t, f.l, carol, Op{Kind: KindRemoveNode, Node: n})

	// An admin may make more in an hour, the owner any number.
	for i := range lim + 1 {
		mustAppend(t, f.l, bob, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint("g", i), Value: []byte{1}})
		mustAppend(t, f.l, alice, Op{Kind: KindPut, Table: TableZone, Key: fmt.Sprint("z", i), Value: []byte{1}})
	}
	if got, want := f.l.State(), Fold(f.l.Ops()); !got.Equal(want) {
		t.Fatalf("state differs from Fold: %s", stateDiff(got, want))
	}
}

// TestQuotaConcurrentBranches: a guest who forks her history into
// concurrent branches, each within the quota at its causal point (so every
// replica stores them), still gets only one hour's quota of them into the
// state: the fold counts her ops over the canonical order, so every replica
// picks the same ones.
func TestQuotaConcurrentBranches(t *testing.T) {
	genesisOnlyWrites(t)
	f := newFamily(t)
	lim := QuotaOpsPerHour[RoleGuest]
	base := f.l.Heads()
	var all []*Op
	perBranch := lim*6/10 + 1
	for b := range 2 {
		var parents []*Op
		for _, h := range base {
			p, _ := f.l.Get(h)
			parents = append(parents, p)
		}
		ms := t0.Add(time.Minute).UnixMilli()
		for i := range perBranch {
			n := nodeKey(fmt.Sprint("branch ", b, " ", i))
			add := build(f.net, alice, ms, parents, Op{Kind: KindAddNode, Subject: uid(carol), Node: n})
			rm := build(f.net, carol, ms+1, []*Op{add}, Op{Kind: KindRemoveNode, Node: n})
			all = append(all, add, rm)
			parents = []*Op{rm}
			ms += 2
		}
	}
	for i := range 2 { // two replicas, fed in different orders
		r := replica(t, f.l, f.c)
		if added, errs := r.AddAll(append(f.l.Ops(), shuffled(rand.New(rand.NewPCG(uint64(i), 1)), all)...)); added != len(f.l.Ops())-1+len(all) {
			t.Fatalf("AddAll added %d, want %d (each branch is valid at its causal point): %v", added, len(f.l.Ops())-1+len(all), errors.Join(errs...))
		}
		st := r.State()
		applied, quota := 0, 0
		rejected := map[ID]string{}
		for _, rej := range st.Rejected {
			rejected[rej.Op] = rej.Reason
		}
		for _, o := range all {
			if o.Author != uid(carol) {
				continue
			}
			switch why, ok := rejected[o.ID()]; {
			case !ok:
				applied++
			case strings.HasPrefix(why, "quota: guest carol already has 1000 operations") && errors.Is(ErrQuota, ErrQuota):
				quota++
			default:
				t.Errorf("carol's op rejected for %q, want a quota", why)
			}
		}
		if applied != lim || quota != 2*perBranch-lim {
			t.Errorf("replica %d: %d of carol's ops took effect and %d were over the quota, want %d and %d", i, applied, quota, lim, 2*perBranch-lim)
		}
		if ref := refFold(r.Ops()); !st.Equal(ref) {
			t.Fatalf("replica %d: state differs from the reference model: %s", i, stateDiff(st, ref))
		}
	}
}

// TestQuotaNodes: a guest has at most QuotaNodes[RoleGuest] nodes, whoever
// adds them.
func TestQuotaNodes(t *testing.T) {
	f := newFamily(t)
	lim := QuotaNodes[RoleGuest]
	for i := range lim {
		mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey(fmt.Sprint("carol ", i))})
	}
	_, err := f.l.Append(alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("carol more")})
	wantRejection(t, "Append of a 17th node", err, ErrQuota, "quota: guest carol already has 16 nodes, the most a guest may have; remove one first")
	err = f.l.Add(f.next(alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("carol more")}))
	wantRejection(t, "Add of a 17th node", err, ErrQuota, "16 nodes")
	mustAppend(t, f.l, carol, Op{Kind: KindRemoveNode, Node: nodeKey("carol 3")})
	mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey("carol more")})
	// Removing carol frees her nodes: added again, she starts from none.
	mustAppend(t, f.l, alice, Op{Kind: KindRemoveUser, Subject: uid(carol)})
	mustAppend(t, f.l, alice, Op{Kind: KindAddUser, Subject: uid(carol), SubjectName: "carol", Role: RoleGuest})
	for i := range lim {
		mustAppend(t, f.l, alice, Op{Kind: KindAddNode, Subject: uid(carol), Node: nodeKey(fmt.Sprint("carol again ", i))})
	}
	if got, want := f.l.State(), Fold(f.l.Ops()); !got.Equal(want) {
		t.Fatalf("state differs from Fold: %s", stateDiff(got, want))
	}
}

// TestStateSnapshots: a State the log handed out stays as it was while the
// log goes on (Append changes its own state in place when nobody holds it),
// and reading it while the log appends is no data race (go test -race).
func TestStateSnapshots(t *testing.T) {
	fastWrites(t)
	f := newFamily(t)
	type snap struct {
		st  *State
		ops []*Op
	}
	var snaps []snap
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	read := func(st *State) {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, m := range st.Members {
				_ = st.Role(m.User)
			}
			for k := range st.Nodes {
				_ = st.IsMemberNode(k)
			}
			for _, inv := range st.Invites {
				_ = inv.Used
			}
			for _, t := range st.Records {
				for _, r := range t {
					_ = r.Value
				}
			}
			_ = st.dag.isAncestor(st.dag.ids[0], st.dag.ids[len(st.dag.ids)-1])
			time.Sleep(time.Millisecond)
		}
	}
	var lastInvite ID
	for i := range 120 {
		f.c.advance(time.Second)
		user := testKey(fmt.Sprint("snap ", i%7))
		var err error
		switch i % 8 {
		case 0:
			_, err = f.l.Append(alice, Op{Kind: KindAddUser, Subject: uid(user), SubjectName: fmt.Sprint("u", i%7), Role: RoleGuest})
		case 1:
			_, err = f.l.Append(alice, Op{Kind: KindAddNode, Subject: uid(user), Node: nodeKey(fmt.Sprint("snap ", i))})
		case 2:
			_, err = f.l.Append(bob, Op{Kind: KindPut, Table: TableGrant, Key: fmt.Sprint("g", i%5), Value: []byte{byte(i)}})
		case 3:
			var inv *Op
			inv, err = f.l.Append(bob, Op{Kind: KindInvite, InviteKey: nodeKey(fmt.Sprint("inv ", i)), Role: RoleGuest, Uses: 2, Expires: f.c.Now().Add(time.Hour).Unix()})
			if err == nil {
				lastInvite = inv.ID()
			}
		case 4:
			_, err = f.l.Append(alice, Op{Kind: KindRevokeInvite, Ref: lastInvite})
		case 5:
			_, err = f.l.Append(bob, Op{Kind: KindDelete, Table: TableGrant, Key: fmt.Sprint("g", i%5)})
		case 6:
			_, err = f.l.Append(alice, Op{Kind: KindRemoveUser, Subject: uid(user)})
		case 7:
			_, err = f.l.Append(alice, Op{Kind: KindRemoveNode, Node: nodeKey(fmt.Sprint("snap ", i-6))})
		}
		var rej *Rejection
		if err != nil && !errors.As(err, &rej) {
			t.Fatal(err)
		}
		if i%3 == 0 || i%8 == 3 { // someone holds this state
			st := f.l.State()
			snaps = append(snaps, snap{st, f.l.Ops()})
			wg.Add(1)
			go read(st)
		}
	}
	for i, s := range snaps {
		if want := Fold(s.ops); !s.st.Equal(want) {
			t.Fatalf("snapshot %d changed after later appends: %s", i, stateDiff(s.st, want))
		}
	}
}

// TestAddAllInChunks: a large AddAll lets others take the log's lock
// between chunks, and each time they find a consistent state.
func TestAddAllInChunks(t *testing.T) {
	genesisOnlyWrites(t)
	oldChunk, oldHold := addAllChunk, addAllHold
	addAllChunk, addAllHold = 10, time.Hour
	t.Cleanup(func() { addAllChunk, addAllHold = oldChunk, oldHold })
	ops := genOps(95)
	c := &clock{t: t0.Add(time.Hour)}
	r, err := Init(t.TempDir(), ops[0], &Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent ops too, so that chunks take the slow path.
	extra := build(NetworkID(ops[0].ID()), alice, ops[40].Time+1, []*Op{ops[40]}, Op{Kind: KindPut, Table: TableZone, Key: "z", Value: []byte{1}})
	seen := 0
	afterChunk = func() {
		if !r.mu.TryLock() {
			t.Fatal("AddAll holds the log's lock between chunks")
		}
		r.mu.Unlock()
		if got, want := r.State(), Fold(r.Ops()); !got.Equal(want) {
			t.Fatalf("between chunks: state differs from Fold: %s", stateDiff(got, want))
		}
		seen++
	}
	t.Cleanup(func() { afterChunk = nil })
	if added, errs := r.AddAll(shuffled(rand.New(rand.NewPCG(1, 2)), append(ops[1:], extra))); added != len(ops) {
		t.Fatalf("AddAll added %d, want %d: %v", added, len(ops), errors.Join(errs...))
	}
	if seen != 10 {
		t.Errorf("AddAll released the lock %d times, want 10 (95 ops in chunks of 10)", seen)
	}
	if ref := refFold(r.Ops()); !r.State().Equal(ref) {
		t.Fatalf("state differs from the reference model: %s", stateDiff(r.State(), ref))
	}
}

// TestAppendIsConstant: an Append extends the state (no fold, no copy of
// the DAG's index or of the state's maps), so what it allocates does not
// grow with the log, even when someone holds each state.
func TestAppendIsConstant(t *testing.T) {
	fastWrites(t)
	allocs := func(n int, hold bool) float64 {
		ops := genOps(n)
		c := &clock{t: t0.Add(time.Duration(n) * time.Second)}
		dir := t.TempDir()
		l, err := Init(dir, ops[0], &Options{Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		if added, errs := l.AddAll(ops); added != n-1 {
			t.Fatalf("AddAll added %d of %d: %v", added, n-1, errors.Join(errs...))
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 50 {
			c.advance(time.Second)
			mustAppend(t, l, alice, Op{Kind: KindPut, Table: TableZone, Key: fmt.Sprint("z", i%10), Value: []byte{byte(i)}})
			if hold {
				l.State()
			}
		}
		runtime.ReadMemStats(&after)
		return float64(after.TotalAlloc-before.TotalAlloc) / 50
	}
	for _, hold := range []bool{false, true} {
		small, large := allocs(200, hold), allocs(3000, hold)
		t.Logf("hold %v: %.0f bytes allocated per Append at 200 ops, %.0f at 3000", hold, small, large)
		if large > small*2 {
			t.Errorf("hold %v: Append allocates %.0f bytes at 3000 ops, %.0f at 200: it grows with the log", hold, large, small)
		}
	}
}

// TestSeniorityMatchesReferenceModel checks the seniority the fold uses for
// each removal (from a running fold of the prefix, a fold of the ancestors,
// or the owner's shortcut) against the reference model's fold of the
// removal's ancestors.
func TestSeniorityMatchesReferenceModel(t *testing.T) {
	checked := 0
	for seed := range uint64(seeds(t)) {
		all := newSim(seed).run()
		d, _ := buildDAG(all, nil)
		f := &folder{d: d, memo: map[ID]seniority{}}
		ref := refAncestry{}
		for _, o := range all {
			ref[o.ID()] = o
		}
		for r, o := range d.ops {
			if o.Kind != KindRemoveUser {
				continue
			}
			var ancs []*Op
			for i := range r {
				if ref.isAncestor(d.ids[i], d.ids[r]) {
					ancs = append(ancs, d.ops[i])
				}
			}
			var want seniority
			if m := refFold(ancs).Members[o.Author]; m != nil {
				want = seniority{role: m.Role, addedAt: m.AddedAt}
			}
			if got := f.seniorityOf(r); got != want {
				t.Fatalf("seed %d: seniority of removal %d (full: %v) = %+v, want %+v", seed, r, d.full[r], got, want)
			}
			checked++
		}
	}
	t.Logf("%d removals checked", checked)
}
