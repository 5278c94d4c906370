package ledger

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// This file checks Fold and Log against a reference model: a deliberately
// naive, independent implementation of the ordering and conflict rule
// written in doc.go (no bitsets, no memo, ancestors found by DFS on every
// question, toposort by rescanning for the smallest ready ID). It shares
// only the permission matrix of a single op (State.check and State.apply),
// which the table tests cover.

var long = flag.Bool("long", false, "run many more random ledger scenarios")

// refFold is the reference model of Fold.
func refFold(ops []*Op) *State {
	byID := make(map[ID]*Op)
	for _, o := range ops {
		byID[o.ID()] = o
	}
	// Canonical order: repeatedly take the smallest ready ID.
	var order []*Op
	var orderIDs []ID
	placed := make(map[ID]bool)
	for {
		var best *Op
		var bestID ID
		for id, o := range byID {
			if placed[id] {
				continue
			}
			ready := true
			for _, p := range o.Parents {
				if !placed[p] {
					ready = false
				}
			}
			if ready && (best == nil || compareID(id, bestID) < 0) {
				best, bestID = o, id
			}
		}
		if best == nil {
			break
		}
		placed[bestID] = true
		order = append(order, best)
		orderIDs = append(orderIDs, bestID)
	}
	var missing []ID
	for id := range byID {
		if !placed[id] {
			missing = append(missing, id)
		}
	}
	anc := refAncestry(byID)
	concurrent := func(a, b ID) bool { return a != b && !anc.isAncestor(a, b) && !anc.isAncestor(b, a) }
	pos := func(id ID) int { return slices.Index(orderIDs, id) }

	type removal struct {
		op    *Op
		id    ID
		role  Role
		added int
	}
	var rms []removal
	for i, o := range order {
		if o.Kind != KindRemoveUser {
			continue
		}
		var ancs []*Op
		for _, p := range order {
			if anc.isAncestor(p.ID(), orderIDs[i]) {
				ancs = append(ancs, p)
			}
		}
		cs := refFold(ancs)
		r := removal{op: o, id: orderIDs[i], added: math.MaxInt}
		if m := cs.Members[o.Author]; m != nil {
			r.role, r.added = m.Role, pos(m.AddedAt)
		}
		rms = append(rms, r)
	}
	sort.Slice(rms, func(i, j int) bool {
		a, b := rms[i], rms[j]
		if a.role != b.role {
			return a.role > b.role
		}
		if a.added != b.added {
			return a.added < b.added
		}
		return compareID(a.id, b.id) < 0
	})

	var result *State
	var prevApplied map[ID]bool
	ignored := map[ID]bool{}
	for round := 0; round <= len(order); round++ {
		voider := map[ID]*Op{}
		for _, r := range rms {
			if ignored[r.id] || voider[r.id] != nil {
				continue
			}
			for _, o := range order {
				if o.Author == r.op.Subject && voider[o.ID()] == nil && concurrent(o.ID(), r.id) {
					voider[o.ID()] = r.op
				}
			}
		}
		s := newState(anc, order)
		applied := map[ID]bool{}
		rejected := map[ID]bool{}
		for _, o := range order {
			id := o.ID()
			if v := voider[id]; v != nil {
				s.Rejected = append(s.Rejected, Rejection{Op: id, Err: ErrUnauthorized,
					Reason: "voided: " + s.nameOf(v.Subject) + " was removed by " + s.nameOf(v.Author) + " concurrently"})
			} else if rej := s.check(o, id); rej != nil {
				s.Rejected = append(s.Rejected, *rej)
			} else {
				s.apply(o, id)
				applied[id] = true
				continue
			}
			if o.Kind == KindRemoveUser {
				rejected[id] = true
			}
		}
		for _, id := range missing {
			s.Rejected = append(s.Rejected, Rejection{Op: id, Reason: "missing parents", Err: ErrMissingParents})
		}
		done := result != nil && maps.Equal(applied, prevApplied)
		result, prevApplied, ignored = s, applied, rejected
		if done {
			break
		}
	}
	return result
}

// refAncestry answers ancestry by depth-first search, every time.
type refAncestry map[ID]*Op

func (m refAncestry) isAncestor(a, b ID) bool {
	o := m[b]
	if o == nil {
		return false
	}
	for _, p := range o.Parents {
		if p == a || m.isAncestor(a, p) {
			return true
		}
	}
	return false
}

func (m refAncestry) opTime(id ID) (int64, bool) {
	if o := m[id]; o != nil {
		return o.Time, true
	}
	return 0, false
}

// A random scenario: people on their own replicas, some offline, authoring
// valid and invalid ops and syncing now and then.

type simPerson struct {
	name   string
	key    ed25519.PrivateKey
	ops    map[ID]*Op
	online bool

	st    *State // cached fold of ops (which only grow)
	stLen int
}

type sim struct {
	r      *rand.Rand
	people []*simPerson
	net    NetworkID
	now    time.Time
	nkeys  int
}

func (p *simPerson) state() *State {
	if p.st == nil || p.stLen != len(p.ops) {
		p.st, p.stLen = Fold(slices.Collect(maps.Values(p.ops))), len(p.ops)
	}
	return p.st
}

func (p *simPerson) heads() []ID {
	isParent := map[ID]bool{}
	for _, o := range p.ops {
		for _, q := range o.Parents {
			isParent[q] = true
		}
	}
	var hs []ID
	for id := range p.ops {
		if !isParent[id] {
			hs = append(hs, id)
		}
	}
	slices.SortFunc(hs, compareID)
	return hs
}

func newSim(seed uint64) *sim {
	r := rand.New(rand.NewPCG(seed, 0x1ed6e7))
	s := &sim{r: r, now: t0}
	n := 3 + r.IntN(4)
	for i := range n {
		name := fmt.Sprintf("p%d", i)
		s.people = append(s.people, &simPerson{name: name, key: testKey(fmt.Sprint(seed, name)), ops: map[ID]*Op{}, online: true})
	}
	g := &Op{V: Version, Time: s.now.UnixMilli(), Kind: KindGenesis, SubjectName: "p0", Name: "sim", NetKind: NetKindUser, Nonce: make([]byte, NonceSize)}
	g.Sign(s.people[0].key)
	s.net = NetworkID(g.ID())
	owner := s.people[0]
	owner.ops[g.ID()] = g
	// The owner starts with a few members, mostly admins, so that removals
	// among admins (the interesting conflicts) happen often.
	for _, p := range s.people[1:min(len(s.people), 4)] {
		role := RoleAdmin
		if r.IntN(3) == 0 {
			role = RoleGuest
		}
		s.now = s.now.Add(time.Second)
		o := Op{V: Version, Net: s.net, Parents: owner.heads(), Time: s.now.UnixMilli(), Kind: KindAddUser, Subject: uid(p.key), SubjectName: p.name, Role: role}
		o.Sign(owner.key)
		owner.ops[o.ID()] = &o
	}
	for _, p := range s.people[1:] {
		maps.Copy(p.ops, owner.ops)
	}
	return s
}

func (s *sim) pick(n int) int { return s.r.IntN(n) }

// candidate proposes a random op for p given p's local state.
func (s *sim) candidate(p *simPerson, st *State) Op {
	other := s.people[s.pick(len(s.people))]
	role := RoleGuest
	if s.r.IntN(2) == 0 {
		role = RoleAdmin
	}
	var invites []*InviteInfo
	for _, id := range slices.SortedFunc(maps.Keys(p.ops), compareID) {
		if o := p.ops[id]; o.Kind == KindInvite {
			invites = append(invites, &InviteInfo{ID: id, Role: o.Role})
		}
	}
	node := nodeKey(fmt.Sprint("sim ", s.r.IntN(6)))
	switch s.r.IntN(12) {
	case 10:
		tables := []string{TableDevice, TableGrant, TablePushAlias}
		return Op{Kind: KindPut, Table: tables[s.pick(len(tables))], Key: fmt.Sprint("k", s.pick(3)), Value: []byte{byte(s.pick(256))}}
	case 11:
		tables := []string{TableDevice, TableGrant, TablePushAlias}
		return Op{Kind: KindDelete, Table: tables[s.pick(len(tables))], Key: fmt.Sprint("k", s.pick(3))}
	case 0:
		s.nkeys++
		return Op{Kind: KindInvite, InviteKey: nodeKey(fmt.Sprint("invite ", s.nkeys)), Role: role, Uses: 1 + s.r.IntN(2),
			Expires: s.now.Add(time.Duration(1+s.r.IntN(60)) * time.Minute).Unix()}
	case 1, 2:
		if len(invites) > 0 {
			inv := invites[s.pick(len(invites))]
			if s.r.IntN(8) != 0 {
				role = inv.Role
			}
			return Op{Kind: KindAddUser, Subject: uid(other.key), SubjectName: other.name, Role: role, Ref: inv.ID}
		}
		fallthrough
	case 3:
		return Op{Kind: KindAddUser, Subject: uid(other.key), SubjectName: other.name, Role: role}
	case 4, 5:
		return Op{Kind: KindRemoveUser, Subject: uid(other.key)}
	case 6:
		if len(invites) > 0 {
			return Op{Kind: KindRevokeInvite, Ref: invites[s.pick(len(invites))].ID}
		}
		fallthrough
	case 7, 8:
		subj := p
		if s.r.IntN(4) == 0 {
			subj = other
		}
		return Op{Kind: KindAddNode, Subject: uid(subj.key), Node: node, SubjectName: "app"}
	default:
		return Op{Kind: KindRemoveNode, Node: node}
	}
}

func (s *sim) author(p *simPerson) {
	st := p.state()
	valid := s.r.IntN(5) != 0 // mostly ops that are valid locally, sometimes not
	for range 20 {
		o := s.candidate(p, st)
		o.V, o.Net, o.Parents, o.Author, o.Time = Version, s.net, p.heads(), uid(p.key), s.now.UnixMilli()
		if s.r.IntN(8) != 0 { // sometimes without the proofs an honest client adds
			prove(s.net, &o)
		}
		if !valid || st.Check(&o) == nil {
			o.Sign(p.key)
			p.ops[o.ID()] = &o
			return
		}
	}
}

// remove makes p remove q if p's replica says p may.
func (s *sim) remove(p, q *simPerson) {
	o := Op{V: Version, Net: s.net, Parents: p.heads(), Author: uid(p.key), Time: s.now.UnixMilli(), Kind: KindRemoveUser, Subject: uid(q.key)}
	if p.state().Check(&o) == nil {
		o.Sign(p.key)
		p.ops[o.ID()] = &o
	}
}

func (s *sim) run() []*Op {
	steps := 20 + s.r.IntN(40)
	for range steps {
		s.now = s.now.Add(time.Duration(1+s.r.IntN(600)) * time.Second)
		p := s.people[s.pick(len(s.people))]
		for range 3 { // prefer people who are members on their own replica
			if p.state().Role(uid(p.key)) != RoleNone {
				break
			}
			p = s.people[s.pick(len(s.people))]
		}
		switch x := s.r.IntN(10); {
		case x == 0:
			p.online = !p.online
		case x <= 2:
			q := s.people[s.pick(len(s.people))]
			if p.online && q.online {
				maps.Copy(p.ops, q.ops)
				maps.Copy(q.ops, p.ops)
			}
		case x == 3:
			// Two people remove each other, each on their own replica.
			q := s.people[s.pick(len(s.people))]
			s.remove(p, q)
			s.remove(q, p)
		default:
			s.author(p)
		}
	}
	all := map[ID]*Op{}
	for _, p := range s.people {
		maps.Copy(all, p.ops)
	}
	return slices.Collect(maps.Values(all))
}

func shuffled(r *rand.Rand, ops []*Op) []*Op {
	sh := slices.Clone(ops)
	r.Shuffle(len(sh), func(i, j int) { sh[i], sh[j] = sh[j], sh[i] })
	return sh
}

// stateDiff says how two states differ, for failure messages.
func stateDiff(a, b *State) string {
	var d []string
	if a.Applied != b.Applied {
		d = append(d, fmt.Sprintf("applied %d vs %d", a.Applied, b.Applied))
	}
	for u, m := range a.Members {
		if n := b.Members[u]; n == nil || *n != *m {
			d = append(d, fmt.Sprintf("member %s: %+v vs %+v", u.Short(), m, n))
		}
	}
	for u := range b.Members {
		if a.Members[u] == nil {
			d = append(d, "member "+u.Short()+" only in the second")
		}
	}
	ra := map[ID]string{}
	for _, r := range a.Rejected {
		ra[r.Op] = r.Reason
	}
	for _, r := range b.Rejected {
		if ra[r.Op] != r.Reason {
			d = append(d, fmt.Sprintf("op %s rejected %q vs %q", r.Op.Short(), ra[r.Op], r.Reason))
		}
		delete(ra, r.Op)
	}
	for id, why := range ra {
		d = append(d, fmt.Sprintf("op %s rejected %q vs applied", id.Short(), why))
	}
	if len(d) == 0 {
		return "(nodes, invites or removals differ)"
	}
	return strings.Join(d, "; ")
}

func seeds(t *testing.T) int {
	if v, err := strconv.Atoi(os.Getenv("COCONET_LEDGER_SEEDS")); err == nil {
		return v
	}
	if *long {
		return 5000
	}
	if testing.Short() {
		return 30
	}
	return 200
}

// genesisOnlyWrites keeps only genesis and network files on disk, so that
// the many replicas of the property test cost no I/O; persistence has its
// own tests.
func genesisOnlyWrites(t testing.TB) {
	t.Helper()
	old := writeFile
	writeFile = func(path string, data []byte, perm os.FileMode) error {
		if o, err := Unmarshal(data); filepath.Base(path) == networkFile || (err == nil && o.Kind == KindGenesis) {
			return os.WriteFile(path, data, perm)
		}
		return nil
	}
	t.Cleanup(func() { writeFile = old })
}

func TestFoldMatchesReferenceModel(t *testing.T) {
	genesisOnlyWrites(t)
	var voided, rejected, ops atomic.Int64
	t.Cleanup(func() {
		t.Logf("%d scenarios, %d ops: %d rejected in folds, %d of them voided by a concurrent removal",
			seeds(t), ops.Load(), rejected.Load(), voided.Load())
	})
	for seed := range uint64(seeds(t)) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			checkScenario(t, seed, &voided, &rejected, &ops)
		})
	}
}

func checkScenario(t *testing.T, seed uint64, voided, rejected, ops *atomic.Int64) {
	s := newSim(seed)
	all := s.run()
	ops.Add(int64(len(all)))
	r := rand.New(rand.NewPCG(seed, 99))
	ref := refFold(all)
	got := Fold(shuffled(r, all))
	if !got.Equal(ref) {
		t.Fatalf("seed %d: Fold(%d ops) differs from the reference model: %s", seed, len(all), stateDiff(got, ref))
	}
	if !Fold(shuffled(r, all)).Equal(got) {
		t.Fatalf("seed %d: Fold depends on input order", seed)
	}
	for _, rej := range got.Rejected {
		if strings.HasPrefix(rej.Reason, "voided") {
			voided.Add(1)
		}
	}
	rejected.Add(int64(len(got.Rejected)))

	// Fresh replicas, fed in random orders: two all at once after the
	// scenario, one op by op as they are made (live sync: each op arrives
	// within a minute of its making, by the replica's clock).
	c := &clock{t: s.now.Add(time.Minute)}
	live := &clock{}
	g := all[slices.IndexFunc(all, func(o *Op) bool { return o.Kind == KindGenesis })]
	var logs []*Log
	for i := range 3 {
		now := c.Now
		if i == 2 {
			now = live.Now
		}
		l, err := Init(t.TempDir(), g, &Options{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		in := shuffled(r, all)
		if i < 2 {
			l.AddAll(in)
		} else {
			// One by one, buffering what arrives before its parents.
			var buf []*Op
			for _, o := range in {
				buf = append(buf, o)
				for progress := true; progress; {
					progress = false
					for j := 0; j < len(buf); j++ {
						if !slices.ContainsFunc(buf[j].Parents, func(p ID) bool { return !l.Has(p) }) {
							live.t = time.UnixMilli(buf[j].Time).Add(time.Minute)
							err := l.Add(buf[j])
							if errors.Is(err, ErrMissingParents) {
								t.Fatalf("seed %d: Add = %v, but its parents are all in the log", seed, err)
							}
							buf = slices.Delete(buf, j, j+1)
							j--
							progress = progress || err == nil
						}
					}
				}
			}
		}
		logs = append(logs, l)
	}
	accepted := logs[0].Ops()
	ref = refFold(accepted)
	for i, l := range logs {
		if !slices.Equal(l.IDs(), logs[0].IDs()) {
			t.Fatalf("seed %d: replica %d holds %d ops, replica 0 %d", seed, i, len(l.IDs()), len(logs[0].IDs()))
		}
		if st := l.State(); !st.Equal(ref) {
			t.Fatalf("seed %d: replica %d state differs from the reference model: %s", seed, i, stateDiff(st, ref))
		}
	}
}
