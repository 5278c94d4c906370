package ledger

import (
	"container/heap"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/coconet/coconet/identity"
)

// The fold's machinery: the DAG in canonical order, its ancestry index, and
// foldDAG, which applies the rule of the package documentation.
//
// Ancestry is a chain decomposition with a vector clock per op. Walking the
// canonical order, each op continues the chain of one of its parents whose
// chain it ends (the chain's tip), or starts a new chain; a chain is thus a
// path of the DAG, totally ordered by ancestry, and its ops' positions
// increase along it. An op's clock maps each chain to 1 + the position of
// the last op of that chain among the op's ancestors and itself (0: none),
// so a is an ancestor of b exactly when a comes before b and b's clock has
// reached a's position on a's chain. Clocks are persistent radix trees
// (vclock): an op with one parent shares all but one leaf of its parent's
// clock, a merge shares every subtree its parents agree on. A linear ledger
// is one chain and costs one small leaf per op; n concurrent ops cost
// O(n log n), not the n² bits of a set of ancestors per op.

// vclock maps chains to 1 + a position, 0 for chains not reached.
type vclock struct {
	h    uint8 // height: the root covers chains [0, 32^(h+1))
	root *vnode
}

// vnode is a node of a vclock: inner nodes have kids, leaves vals.
type vnode struct {
	kids *[32]*vnode
	vals *[32]int32
}

func (v vclock) get(c int32) int32 {
	if uint64(c) >= 1<<(5*(uint(v.h)+1)) {
		return 0
	}
	n := v.root
	for l := int(v.h); l > 0 && n != nil; l-- {
		n = n.kids[c>>(5*l)&31]
	}
	if n == nil {
		return 0
	}
	return n.vals[c&31]
}

// lift returns v with height h (>= v.h).
func (v vclock) lift(h uint8) vclock {
	for v.h < h {
		if v.root != nil {
			v.root = &vnode{kids: &[32]*vnode{v.root}}
		}
		v.h++
	}
	return v
}

// with returns v with chain c set to x (larger than its value in v).
func (v vclock) with(c int32, x int32) vclock {
	for uint64(c) >= 1<<(5*(uint(v.h)+1)) {
		v = v.lift(v.h + 1)
	}
	var set func(n *vnode, l int) *vnode
	set = func(n *vnode, l int) *vnode {
		i := c >> (5 * l) & 31
		if l == 0 {
			vals := new([32]int32)
			if n != nil {
				*vals = *n.vals
			}
			vals[i] = x
			return &vnode{vals: vals}
		}
		kids := new([32]*vnode)
		if n != nil {
			*kids = *n.kids
		}
		kids[i] = set(kids[i], l-1)
		return &vnode{kids: kids}
	}
	v.root = set(v.root, int(v.h))
	return v
}

// vmax is the pointwise maximum of a and b; it shares every subtree on
// which one dominates.
func vmax(a, b vclock) vclock {
	h := max(a.h, b.h)
	a, b = a.lift(h), b.lift(h)
	var merge func(x, y *vnode, l int) *vnode
	merge = func(x, y *vnode, l int) *vnode {
		switch {
		case x == y || y == nil:
			return x
		case x == nil:
			return y
		}
		if l == 0 {
			xs, ys := true, true // x dominates, y dominates
			var out [32]int32
			for i := range out {
				out[i] = max(x.vals[i], y.vals[i])
				xs = xs && out[i] == x.vals[i]
				ys = ys && out[i] == y.vals[i]
			}
			switch {
			case xs:
				return x
			case ys:
				return y
			}
			return &vnode{vals: &out}
		}
		var out [32]*vnode
		xs, ys := true, true
		for i := range out {
			out[i] = merge(x.kids[i], y.kids[i], l-1)
			xs = xs && out[i] == x.kids[i]
			ys = ys && out[i] == y.kids[i]
		}
		switch {
		case xs:
			return x
		case ys:
			return y
		}
		return &vnode{kids: &out}
	}
	return vclock{h: h, root: merge(a.root, b.root, int(h))}
}

// dag is a set of operations in canonical order with their ancestry. The
// slices are shared with the dags it was extended from (extendLocked appends
// to them), so they must never be changed below their length.
type dag struct {
	ops   []*Op
	ids   []ID
	idx   pmap[ID, int32] // position of each op
	tok   *token          // may change idx's nodes stamped with it
	chain []int32         // chain of each op
	clock []vclock        // clock of each op (see above)
	// full[i] reports that ops[i] descends from every op before it: its
	// ancestors are exactly the positions [0, i).
	full []bool

	// Read and changed only by push, under the log's lock when extending
	// (so below their length too).
	tips   []int32 // the last position of each chain
	isHead []bool  // no op of d names it as a parent
	heads  int     // how many are
}

// pos returns the position of op id, if the dag holds it.
func (d *dag) pos(id ID) (int, bool) {
	i, ok := d.idx.get(id)
	if !ok || int(i) >= len(d.ops) {
		return 0, false
	}
	return int(i), true
}

func (d *dag) isAncestor(a, b ID) bool {
	ai, ok := d.pos(a)
	if !ok {
		return false
	}
	bi, ok := d.pos(b)
	return ok && d.anc(ai, bi)
}

// anc reports whether the op at position i is a strict ancestor of the op
// at position j.
func (d *dag) anc(i, j int) bool { return i < j && int(d.clock[j].get(d.chain[i])) > i }

func (d *dag) concurrent(i, j int) bool { return i != j && !d.anc(i, j) && !d.anc(j, i) }

// push appends op o (id), whose parents are all in d, at the end of the
// canonical order: the caller knows it comes after every op of d.
func (d *dag) push(o *Op, id ID) {
	n := int32(len(d.ops))
	var c vclock
	ch := int32(-1)
	heads := 0 // parents that were heads of d
	for _, p := range o.Parents {
		j, ok := d.idx.get(p)
		if !ok || j >= n {
			continue // not in the dag: buildDAG lists it as missing
		}
		if d.isHead[j] {
			d.isHead[j] = false
			heads++
		}
		if c.get(d.chain[j]) > j {
			continue // a duplicate, or an ancestor of another parent
		}
		c = vmax(c, d.clock[j])
		if ch < 0 && d.tips[d.chain[j]] == j {
			ch = d.chain[j]
		}
	}
	if ch < 0 {
		ch = int32(len(d.tips))
		d.tips = append(d.tips, n)
	}
	d.tips[ch] = n
	// A head of d has no child in d, so it is an ancestor of o only if it
	// is a parent: o descends from all of d when its parents are d's heads.
	full := heads == d.heads
	d.heads += 1 - heads
	d.isHead = append(d.isHead, true)
	d.ops = append(d.ops, o)
	d.ids = append(d.ids, id)
	d.idx.set(id, n, d.tok)
	d.chain = append(d.chain, ch)
	d.clock = append(d.clock, c.with(ch, n+1))
	d.full = append(d.full, full)
}

// idHeap is a min-heap of operations by ID.
type idHeap struct {
	ids []ID
	pos []int
}

func (h *idHeap) Len() int           { return len(h.pos) }
func (h *idHeap) Less(i, j int) bool { return compareID(h.ids[h.pos[i]], h.ids[h.pos[j]]) < 0 }
func (h *idHeap) Swap(i, j int)      { h.pos[i], h.pos[j] = h.pos[j], h.pos[i] }
func (h *idHeap) Push(x any)         { h.pos = append(h.pos, x.(int)) }
func (h *idHeap) Pop() any {
	x := h.pos[len(h.pos)-1]
	h.pos = h.pos[:len(h.pos)-1]
	return x
}

// buildDAG puts the distinct operations of ops in canonical order: Kahn's
// algorithm, smallest ID first among the ready ones. opIDs, if not nil,
// holds the IDs of ops (hashing is the costly part of a fold). It returns
// the IDs of the operations some of whose ancestors are absent, sorted.
func buildDAG(ops []*Op, opIDs []ID) (*dag, []ID) {
	var in []*Op
	var ids []ID
	seen := make(map[ID]int, len(ops))
	for i, o := range ops {
		var id ID
		if opIDs != nil {
			id = opIDs[i]
		} else {
			id = o.ID()
		}
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = len(in)
		in = append(in, o)
		ids = append(ids, id)
	}
	indeg := make([]int, len(in))
	children := make([][]int, len(in))
	h := &idHeap{ids: ids}
	for i, o := range in {
		ps := slices.Clone(o.Parents)
		slices.SortFunc(ps, compareID)
		ps = slices.Compact(ps)
		indeg[i] = len(ps)
		for _, p := range ps {
			if j, ok := seen[p]; ok {
				children[j] = append(children[j], i)
			}
		}
		if indeg[i] == 0 {
			h.pos = append(h.pos, i)
		}
	}
	heap.Init(h)
	d := &dag{
		tok:    new(token),
		ops:    make([]*Op, 0, len(in)),
		ids:    make([]ID, 0, len(in)),
		chain:  make([]int32, 0, len(in)),
		clock:  make([]vclock, 0, len(in)),
		full:   make([]bool, 0, len(in)),
		isHead: make([]bool, 0, len(in)),
	}
	placed := 0
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		d.push(in[i], ids[i])
		placed++
		for _, c := range children[i] {
			if indeg[c]--; indeg[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	var missing []ID
	if placed < len(ids) {
		for _, id := range ids {
			if _, ok := d.pos(id); !ok {
				missing = append(missing, id)
			}
		}
		slices.SortFunc(missing, compareID)
	}
	return d, missing
}

// Fold computes the State of a set of operations by the rule written in the
// package documentation. The order of ops does not matter, nor do
// duplicates; operations whose ancestors are not all present are listed in
// Rejected as "missing parents".
func Fold(ops []*Op) *State {
	d, missing := buildDAG(ops, nil)
	f := &folder{d: d, memo: make(map[ID]seniority)}
	return f.fold(allOf(d), missing)
}

// seniority is what the fold needs to know of a removal's author at the
// removal's causal point. It depends only on the removal (its ancestors are
// fixed by its ID), so a memo of it may be shared by folds of any sets.
type seniority struct {
	role    Role
	addedAt ID // zero if the author was not a member
}

// view is a subset of a dag's ops closed under ancestry: the positions
// below upTo, and of those only the ancestors of the op at position of if
// of >= 0.
type view struct{ upTo, of int }

func allOf(d *dag) view { return view{upTo: len(d.ops), of: -1} }

func (v view) has(d *dag, i int) bool { return i < v.upTo && (v.of < 0 || d.anc(i, v.of)) }

// folder folds views of one dag. It keeps the fold of a prefix of the
// canonical order (pre, of the positions [0, preLen)), which it extends op
// by op while each next op descends from every op before it (the argument
// of extend.go): the causal point of such a removal is that prefix, so the
// seniority of the removals of a mostly linear ledger costs one pass, not a
// fold per removal.
type folder struct {
	d      *dag
	memo   map[ID]seniority
	pre    *State
	preLen int
}

// seniorityOf returns the seniority of the author of the removal at
// position r, at its causal point.
func (f *folder) seniorityOf(r int) seniority {
	d := f.d
	id := d.ids[r]
	if sn, ok := f.memo[id]; ok {
		return sn
	}
	if g := d.ops[0]; g.Kind == KindGenesis && d.ops[r].Author == g.Author && d.anc(0, r) {
		// The owner: the genesis comes first in any view that holds it,
		// and nothing removes or demotes the owner.
		sn := seniority{role: RoleOwner, addedAt: d.ids[0]}
		f.memo[id] = sn
		return sn
	}
	var st *State
	if d.full[r] {
		st = f.prefix(r)
	} else {
		st = f.fold(view{upTo: r, of: r}, nil)
	}
	var sn seniority
	if m := st.Members[d.ops[r].Author]; m != nil {
		sn = seniority{role: m.Role, addedAt: m.AddedAt}
	}
	f.memo[id] = sn
	return sn
}

// prefix returns the fold of the positions [0, k). The state is the
// folder's own: read it before the next call. Removals are asked for in
// canonical order, so the prefix mostly moves forward.
func (f *folder) prefix(k int) *State {
	d := f.d
	if f.pre != nil && f.preLen > k {
		return f.fold(view{upTo: k, of: -1}, nil)
	}
	if f.pre == nil {
		f.pre, f.preLen = newState(d, nil), 0
	}
	for f.preLen < k {
		i := f.preLen
		if !d.full[i] {
			// Op i is concurrent with some op before it: fold [0, k)
			// afresh, and go on from there.
			st := f.fold(view{upTo: k, of: -1}, nil)
			f.pre, f.preLen = st, k
			break
		}
		o, id := d.ops[i], d.ids[i]
		if o.Kind == KindRemoveUser {
			if _, ok := f.memo[id]; !ok {
				var sn seniority // its causal point is this prefix
				if m := f.pre.Members[o.Author]; m != nil {
					sn = seniority{role: m.Role, addedAt: m.AddedAt}
				}
				f.memo[id] = sn
			}
		}
		f.pre.nameOp(o)
		if rej := f.pre.check(o, id); rej != nil {
			f.pre.Rejected = append(f.pre.Rejected, *rej)
		} else {
			f.pre.apply(o, id)
		}
		f.preLen++
	}
	return f.pre
}

// nameOp records the names o gives, for reasons (see newState).
func (s *State) nameOp(o *Op) {
	switch {
	case o.Kind == KindGenesis && o.SubjectName != "":
		s.names[o.Author] = o.SubjectName
	case o.Kind == KindAddUser && o.SubjectName != "":
		s.names[o.Subject] = o.SubjectName
	}
}

// fold folds the operations of f.d in v. A view is closed under ancestry:
// the canonical order of such a subset is the canonical order of d
// restricted to it (whenever Kahn's algorithm on d takes an op of the
// subset, that op is the smallest ready op of the subset too), so d's
// positions and ancestry serve for the subset.
func (f *folder) fold(v view, missing []ID) *State {
	d := f.d
	var pos []int // positions in the view, in canonical order
	if v.of < 0 {
		pos = make([]int, v.upTo)
		for i := range pos {
			pos[i] = i
		}
	} else {
		for i := range v.upTo {
			if v.has(d, i) {
				pos = append(pos, i)
			}
		}
	}
	n := v.upTo

	// Seniority of the removals' authors at their causal points.
	type removal struct {
		i          int
		role, rank int
	}
	var rms []removal
	for _, i := range pos {
		o := d.ops[i]
		if o.Kind != KindRemoveUser {
			continue
		}
		sn := f.seniorityOf(i)
		r := removal{i: i, role: int(sn.role), rank: math.MaxInt}
		if !sn.addedAt.IsZero() {
			r.rank, _ = d.pos(sn.addedAt)
		}
		rms = append(rms, r)
	}
	slices.SortFunc(rms, func(a, b removal) int {
		if a.role != b.role {
			return b.role - a.role
		}
		if a.rank != b.rank {
			if a.rank < b.rank {
				return -1
			}
			return 1
		}
		return compareID(d.ids[a.i], d.ids[b.i])
	})
	// The ops of each removal's subject, in the view.
	var bySubject map[identity.UserID][]int
	if len(rms) > 0 {
		bySubject = make(map[identity.UserID][]int)
		for _, r := range rms {
			bySubject[d.ops[r.i].Subject] = nil
		}
		for _, i := range pos {
			if a := d.ops[i].Author; bySubject != nil {
				if l, ok := bySubject[a]; ok {
					bySubject[a] = append(l, i)
				}
			}
		}
	}

	var s *State
	var prev bitset
	ignored := make(map[int]bool)
	voidedBy := make([]int, n)
	for round := 0; round <= len(pos); round++ {
		// Removal wins: void what each removal's subject did concurrently.
		for _, i := range pos {
			voidedBy[i] = -1
		}
		for _, r := range rms {
			if ignored[r.i] || voidedBy[r.i] >= 0 {
				continue
			}
			for _, j := range bySubject[d.ops[r.i].Subject] {
				if voidedBy[j] < 0 && d.concurrent(j, r.i) {
					voidedBy[j] = r.i
				}
			}
		}
		// Apply in canonical order.
		cur := newState(d, nil)
		for _, i := range pos {
			cur.nameOp(d.ops[i])
		}
		if v.of < 0 && v.upTo == len(d.ops) {
			cur.dag = d
		}
		applied := newBitset(n)
		rejected := make(map[int]bool)
		for _, i := range pos {
			o, id := d.ops[i], d.ids[i]
			if vb := voidedBy[i]; vb >= 0 {
				r := d.ops[vb]
				cur.Rejected = append(cur.Rejected, Rejection{Op: id, Err: ErrUnauthorized,
					Reason: fmt.Sprintf("voided: %s was removed by %s concurrently", cur.nameOf(r.Subject), cur.nameOf(r.Author))})
			} else if rej := cur.check(o, id); rej != nil {
				cur.Rejected = append(cur.Rejected, *rej)
			} else {
				cur.apply(o, id)
				applied.set(i)
				continue
			}
			if o.Kind == KindRemoveUser {
				rejected[i] = true
			}
		}
		for _, id := range missing {
			cur.Rejected = append(cur.Rejected, Rejection{Op: id, Reason: "missing parents", Err: ErrMissingParents})
		}
		// Stop when the applied set stops changing, or sooner when the next
		// round would repeat this one (it would ignore the same removals).
		done := (s != nil && applied.equal(prev)) || maps.Equal(rejected, ignored)
		s, prev, ignored = cur, applied, rejected
		if done {
			break
		}
	}
	if s == nil { // an empty view
		s = newState(d, nil)
	}
	return s
}

// bitset is a set of small integers (operation positions).
type bitset []uint64

func newBitset(n int) bitset         { return make(bitset, (n+63)/64) }
func (b bitset) set(i int)           { b[i/64] |= 1 << (i % 64) }
func (b bitset) equal(c bitset) bool { return slices.Equal(b, c) }
