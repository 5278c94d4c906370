package ledger

import (
	"container/heap"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
)

// MaxClockSkew is how far in the future of the receiver's clock an
// operation received from a peer may be dated.
const MaxClockSkew = 10 * time.Minute

// Options tune Open and Init.
type Options struct {
	// Now is the clock used to date appended operations and to refuse
	// operations from the future. Nil means time.Now.
	Now func() time.Time
}

// Files inside a ledger directory.
const (
	opsDir      = "ops"     // one file per operation: <hex id>.op, its canonical encoding
	networkFile = "network" // the NetworkID as text, for quick listing
	opExt       = ".op"
)

// writeFile writes a file durably; tests that do not exercise crashes may
// replace it with something faster.
var writeFile = atomicfile.Write

// Log is a network's ledger stored in a directory. It is safe for
// concurrent use.
type Log struct {
	dir      string
	now      func() time.Time
	net      NetworkID
	warnings []string

	mu    sync.Mutex // guards all following fields
	ops   map[ID]*Op
	state *State // fold of ops; stale while an AddAll is in progress
	fresh bool   // state is the fold of ops
	heads []ID
	memo  map[ID]seniority // of removals' authors at their causal points
	hooks []func(*State)
}

// Create starts a new network owned by owner in dir (created if needed; it
// must not hold a ledger already) and returns its log.
func Create(dir string, owner ed25519.PrivateKey, ownerName, netName, netKind string) (*Log, error) {
	nonce := make([]byte, NonceSize)
	rand.Read(nonce)
	g := &Op{
		V:           Version,
		Time:        time.Now().UnixMilli(),
		Kind:        KindGenesis,
		SubjectName: ownerName,
		Name:        netName,
		NetKind:     netKind,
		Nonce:       nonce,
	}
	g.Sign(owner)
	return Init(dir, g, nil)
}

// Init creates in dir an empty replica of an existing network from its
// genesis operation (received from a member, checked against the
// NetworkID the caller expects: compare NetworkID(genesis.ID())).
func Init(dir string, genesis *Op, opts *Options) (*Log, error) {
	id := genesis.ID()
	if genesis.Kind != KindGenesis {
		return nil, &Rejection{Op: id, Reason: "not a genesis operation", Err: ErrMalformed}
	}
	if rej := newState(nil, nil).check(genesis, id); rej != nil {
		return nil, rej
	}
	if err := genesis.VerifySignature(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, networkFile)); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, opsDir)); slices.ContainsFunc(ents, func(e fs.DirEntry) bool {
		return strings.HasSuffix(e.Name(), opExt) && !strings.HasPrefix(e.Name(), ".")
	}) {
		return nil, fmt.Errorf("%w: %s", ErrExists, dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, opsDir), 0o700); err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	if err := writeFile(opPath(dir, id), genesis.Marshal(), 0o600); err != nil {
		return nil, fmt.Errorf("ledger: write genesis: %w", err)
	}
	if err := writeFile(filepath.Join(dir, networkFile), []byte(NetworkID(id).String()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("ledger: write network file: %w", err)
	}
	return Open(dir, opts)
}

func opPath(dir string, id ID) string { return filepath.Join(dir, opsDir, id.String()+opExt) }

// Open loads the ledger stored in dir. Files that are damaged (a torn or
// empty file, a name that does not match the content, a bad signature, an
// operation of another network, an operation whose parents are lost) are
// skipped and listed by Warnings; a crash can never make a log unreadable.
// Open fails only if the genesis itself is unreadable.
func Open(dir string, opts *Options) (*Log, error) {
	l := &Log{dir: dir, now: time.Now, ops: make(map[ID]*Op), memo: make(map[ID]seniority)}
	if opts != nil && opts.Now != nil {
		l.now = opts.Now
	}
	warn := func(format string, args ...any) { l.warnings = append(l.warnings, fmt.Sprintf(format, args...)) }

	var want NetworkID
	if b, err := os.ReadFile(filepath.Join(dir, networkFile)); err == nil {
		if want, err = ParseNetworkID(strings.TrimSpace(string(b))); err != nil {
			warn("%s: %v; using the genesis operation instead", networkFile, err)
		}
	}
	ents, err := os.ReadDir(filepath.Join(dir, opsDir))
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	loaded := make(map[ID]*Op)
	var geneses []ID
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, ".") || !strings.HasSuffix(name, opExt) || !e.Type().IsRegular() {
			continue // atomicfile's temporary files, or not ours
		}
		rel := filepath.Join(opsDir, name)
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			warn("%s: %v; skipped", rel, err)
			continue
		}
		o, err := Unmarshal(b)
		if err != nil {
			warn("%s: %v; skipped", rel, err)
			continue
		}
		id := ID(sha256.Sum256(b))
		if name != id.String()+opExt {
			warn("%s: content is op %s, not what the name says; skipped", rel, id.Short())
			continue
		}
		if err := o.VerifySignature(); err != nil {
			warn("%s: %v; skipped", rel, err)
			continue
		}
		loaded[id] = o
		if o.Kind == KindGenesis {
			geneses = append(geneses, id)
		}
	}
	switch {
	case !want.IsZero():
		if g := loaded[ID(want)]; g == nil || g.Kind != KindGenesis {
			return nil, fmt.Errorf("ledger: open %s: the genesis of network %s is missing or damaged", dir, want.Short())
		}
	case len(geneses) == 1:
		want = NetworkID(geneses[0])
		if err := writeFile(filepath.Join(dir, networkFile), []byte(want.String()+"\n"), 0o600); err != nil {
			warn("%s: %v", networkFile, err)
		}
	case len(geneses) == 0:
		return nil, fmt.Errorf("ledger: open %s: no genesis operation (not a ledger, or it is damaged)", dir)
	default:
		return nil, fmt.Errorf("ledger: open %s: %d genesis operations and no %s file to choose between them", dir, len(geneses), networkFile)
	}
	l.net = want
	for id, o := range loaded {
		if id != ID(want) && (o.Kind == KindGenesis || o.Net != want) {
			warn("%s: op %s belongs to another network; skipped", opsDir, id.Short())
			continue
		}
		l.ops[id] = o
	}
	l.refoldLocked()
	// Drop operations whose ancestors were lost, so that Append never names
	// them as parents.
	orphans := 0
	for _, r := range l.state.Rejected {
		if r.Err == ErrMissingParents {
			warn("%s: op %s: some of its ancestors are missing; skipped", opsDir, r.Op.Short())
			delete(l.ops, r.Op)
			orphans++
		}
	}
	if orphans > 0 {
		l.refoldLocked()
	}
	return l, nil
}

// Warnings lists the damaged files Open skipped.
func (l *Log) Warnings() []string { return slices.Clone(l.warnings) }

// Network is the network's ID.
func (l *Log) Network() NetworkID { return l.net }

// State returns the current state. Callers must not modify it.
func (l *Log) State() *State {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state
}

// Ops returns all operations in canonical order. Callers must not modify them.
func (l *Log) Ops() []*Op {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.state.dag.ops)
}

// Get returns an operation. Callers must not modify it.
func (l *Log) Get(id ID) (*Op, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.ops[id]
	return o, ok
}

// Has reports whether the log holds an operation.
func (l *Log) Has(id ID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.ops[id]
	return ok
}

// Heads returns the operations that no other operation names as a parent,
// sorted.
func (l *Log) Heads() []ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.heads)
}

// IDs returns the IDs of all operations, sorted.
func (l *Log) IDs() []ID {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]ID, 0, len(l.ops))
	for id := range l.ops {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, compareID)
	return ids
}

// OnChange registers fn to be called with the new state after each
// successful Append, Add or AddAll. It is called synchronously, without the
// log's lock held.
func (l *Log) OnChange(fn func(*State)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hooks = append(l.hooks, fn)
}

// Append makes, signs and stores a new operation authored by key. It fills
// V, Net, Parents (the current heads), Author and Time in o, and checks the
// operation with State().Check before signing: on a *Rejection nothing is
// written.
func (l *Log) Append(key ed25519.PrivateKey, o Op) (*Op, error) {
	l.mu.Lock()
	op := o.Clone()
	op.V = Version
	op.Net = l.net
	op.Parents = slices.Clone(l.heads)
	op.Author = identity.UserIDOf(key.Public().(ed25519.PublicKey))
	// Never before a parent (State.Check refuses that), even when a peer's
	// clock runs ahead of ours (by at most MaxClockSkew: Add refuses more).
	op.Time = max(l.now().UnixMilli(), l.state.maxParentTime(op))
	op.Sig = nil
	if op.Kind == KindGenesis {
		l.mu.Unlock()
		return nil, &Rejection{Op: op.ID(), Reason: "a network has one genesis; use Create for a new network", Err: ErrMalformed}
	}
	if err := l.state.Check(op); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	if err := op.verifyNodeProof(); err != nil {
		l.mu.Unlock()
		return nil, err
	}
	op.Sign(key)
	b := op.Marshal()
	id := op.ID()
	if len(b) > MaxOpSize {
		l.mu.Unlock()
		return nil, &Rejection{Op: id, Reason: fmt.Sprintf("the operation is %d bytes, more than %d", len(b), MaxOpSize), Err: ErrMalformed}
	}
	if err := writeFile(opPath(l.dir, id), b, 0o600); err != nil {
		l.mu.Unlock()
		return nil, fmt.Errorf("ledger: write op %s: %w", id.Short(), err)
	}
	l.ops[id] = op
	if l.extendable(op) {
		l.extendLocked(op, id)
	} else {
		l.refoldLocked()
	}
	l.unlockAndNotify()
	return op.Clone(), nil
}

// Add verifies and stores an operation received from a peer. In order it
// may fail with ErrMalformed (does not encode canonically, or fields that
// make no sense for its kind), ErrWrongNetwork, ErrDuplicate,
// ErrBadSignature, ErrMissingParents (the error lists them), ErrFuture, and
// a *Rejection wrapping ErrUnauthorized if the author lacked the authority
// at the operation's causal point (the fold of its ancestors). Nothing is
// written on error. An operation that was valid at its causal point is kept
// even if the fold later gives it no effect (a concurrent removal won).
func (l *Log) Add(o *Op) error {
	errs := make([]error, 1)
	l.mu.Lock()
	arriving := l.arrivingLocked([]*Op{o})
	if op, id, err := l.precheckLocked(o); err == nil && l.extendable(op) {
		// The usual case of live sync: the op follows the whole log.
		if err := l.addExtendingLocked(op, id, arriving); err != nil {
			l.mu.Unlock()
			return err
		}
		l.unlockAndNotify()
		return nil
	}
	if l.addLocked([]*Op{o}, errs, arriving) == 0 {
		l.mu.Unlock()
		return errs[0]
	}
	l.refoldLocked()
	l.unlockAndNotify()
	return nil
}

// AddAll adds a batch of operations in any order (an operation may come
// before its parents). It returns how many were added and, for each
// operation of ops, the error Add would give (nil for an operation added or
// already in the log).
func (l *Log) AddAll(ops []*Op) (added int, errs []error) {
	errs = make([]error, len(ops))
	l.mu.Lock()
	arriving := l.arrivingLocked(ops)
	added, rest := l.addAllExtendingLocked(ops, errs, arriving)
	slow := 0
	if len(rest) > 0 {
		restErrs := make([]error, len(rest))
		slow = l.addLocked(rest, restErrs, arriving)
		added += slow
		j := 0
		for i := range ops {
			if errs[i] == errRest {
				errs[i] = restErrs[j]
				j++
			}
		}
	}
	for i, err := range errs {
		if errors.Is(err, ErrDuplicate) {
			errs[i] = nil
		}
	}
	if added == 0 {
		l.mu.Unlock()
		return 0, errs
	}
	if slow > 0 {
		l.refoldLocked()
	}
	l.unlockAndNotify()
	return added, errs
}

// addLocked verifies and stores ops, setting errs[i] for each op refused.
//
// It checks every op at its causal point in one pass: the log and the
// candidates are put in one DAG, and each candidate, in canonical order, is
// checked against the fold of its ancestors (a view of that DAG).
//
// arriving holds the IDs of the ops of the whole Add or AddAll call that the
// log did not hold when it began (see lateRedeem).
func (l *Log) addLocked(ops []*Op, errs []error, arriving map[ID]bool) (added int) {
	type cand struct {
		i  int
		o  *Op
		id ID
	}
	var cands []cand
	inBatch := make(map[ID]bool)
	for i, in := range ops {
		o, id, err := l.precheckLocked(in)
		switch {
		case err != nil:
			errs[i] = err
		case inBatch[id]:
			errs[i] = fmt.Errorf("%w: op %s", ErrDuplicate, id.Short())
		default:
			inBatch[id] = true
			cands = append(cands, cand{i, o, id})
		}
	}
	if len(cands) == 0 {
		return 0
	}
	all := make([]*Op, 0, len(l.ops)+len(cands))
	ids := make([]ID, 0, len(l.ops)+len(cands))
	for id, o := range l.ops {
		all, ids = append(all, o), append(ids, id)
	}
	for _, c := range cands {
		all, ids = append(all, c.o), append(ids, c.id)
	}
	d, _ := buildDAG(all, ids)
	byID := make(map[ID]cand, len(cands))
	for _, c := range cands {
		byID[c.id] = c
	}
	failed := make(map[ID]bool) // candidates refused: their descendants lack parents
	missingErr := func(c cand) error {
		var miss []string
		for _, p := range c.o.Parents {
			if l.ops[p] == nil {
				miss = append(miss, p.Short())
			}
		}
		return fmt.Errorf("%w: op %s needs %s", ErrMissingParents, c.id.Short(), strings.Join(miss, ", "))
	}
	now := l.now()
	for i, id := range d.ids {
		c, ok := byID[id]
		if !ok {
			continue
		}
		delete(byID, id)
		err := func() error {
			if slices.ContainsFunc(c.o.Parents, func(p ID) bool { return failed[p] }) {
				return missingErr(c)
			}
			if future(c.o, now) {
				return l.futureErr(c.o, id)
			}
			var cs *State
			if l.fresh && d.anc[i].count() == len(l.ops) && !slices.ContainsFunc(c.o.Parents, func(p ID) bool { return inBatch[p] }) {
				cs = l.state // it has seen the whole log: the usual case of live sync
			} else {
				cs = foldDAG(d, d.anc[i], nil, l.memo)
			}
			if rej := cs.check(c.o, id); rej != nil {
				return rej
			}
			if rej := lateRedeem(cs, c.o, id, now, l.heldLocked(c.o.Ref, arriving)); rej != nil {
				return rej
			}
			if err := writeFile(opPath(l.dir, id), c.o.Marshal(), 0o600); err != nil {
				return fmt.Errorf("ledger: write op %s: %w", id.Short(), err)
			}
			return nil
		}()
		if err != nil {
			errs[c.i] = err
			failed[id] = true
			continue
		}
		l.ops[id] = c.o
		l.fresh = false
		added++
	}
	for _, c := range byID { // not in the DAG: ancestors absent
		errs[c.i] = missingErr(c)
	}
	return added
}

// precheckLocked runs the checks of Add that need no fold, in the order Add
// documents, and returns a private copy of the op and its ID.
func (l *Log) precheckLocked(in *Op) (*Op, ID, error) {
	if in == nil {
		return nil, ID{}, fmt.Errorf("%w: nil operation", ErrMalformed)
	}
	b := in.Marshal()
	o, err := Unmarshal(b) // a private copy, and the strict checks
	if err != nil {
		return nil, ID{}, err
	}
	id := ID(sha256.Sum256(b))
	if p := o.shapeProblem(); p != "" {
		return nil, id, &Rejection{Op: id, Reason: p, Err: ErrMalformed}
	}
	if o.Kind == KindGenesis {
		if NetworkID(id) == l.net {
			return nil, id, fmt.Errorf("%w: the genesis %s", ErrDuplicate, id.Short())
		}
		return nil, id, fmt.Errorf("%w: op %s is the genesis of network %s, this log is %s", ErrWrongNetwork, id.Short(), NetworkID(id).Short(), l.net.Short())
	}
	if o.Net != l.net {
		return nil, id, fmt.Errorf("%w: op %s is for network %s, this log is %s", ErrWrongNetwork, id.Short(), o.Net.Short(), l.net.Short())
	}
	if _, ok := l.ops[id]; ok {
		return nil, id, fmt.Errorf("%w: op %s", ErrDuplicate, id.Short())
	}
	if err := o.VerifySignature(); err != nil {
		return nil, id, err
	}
	return o, id, nil
}

func (l *Log) refoldLocked() {
	ops := make([]*Op, 0, len(l.ops))
	ids := make([]ID, 0, len(l.ops))
	for id, o := range l.ops {
		ops = append(ops, o)
		ids = append(ids, id)
	}
	d, missing := buildDAG(ops, ids)
	l.state = foldDAG(d, nil, missing, l.memo)
	l.fresh = true
	parent := newBitset(len(d.ops))
	for _, o := range d.ops {
		for _, p := range o.Parents {
			parent.set(d.idx[p])
		}
	}
	l.heads = nil
	for i, id := range d.ids {
		if !parent.has(i) {
			l.heads = append(l.heads, id)
		}
	}
	slices.SortFunc(l.heads, compareID)
}

// unlockAndNotify releases l.mu and calls the OnChange hooks.
func (l *Log) unlockAndNotify() {
	st, hooks := l.state, slices.Clone(l.hooks)
	l.mu.Unlock()
	for _, fn := range hooks {
		fn(st)
	}
}

func (l *Log) futureErr(o *Op, id ID) error {
	now := l.now()
	return fmt.Errorf("%w: op %s is dated %s, more than %v after this node's clock (%s); check the clocks",
		ErrFuture, id.Short(), time.UnixMilli(o.Time).UTC().Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339))
}

// addExtendingLocked checks and stores op, which extends the log (see
// extendable): the fast path of Add.
func (l *Log) addExtendingLocked(op *Op, id ID, arriving map[ID]bool) error {
	if future(op, l.now()) {
		return l.futureErr(op, id)
	}
	if rej := l.state.check(op, id); rej != nil {
		return rej
	}
	if rej := lateRedeem(l.state, op, id, l.now(), l.heldLocked(op.Ref, arriving)); rej != nil {
		return rej
	}
	if err := writeFile(opPath(l.dir, id), op.Marshal(), 0o600); err != nil {
		return fmt.Errorf("ledger: write op %s: %w", id.Short(), err)
	}
	l.ops[id] = op
	l.extendLocked(op, id)
	return nil
}

// errRest marks, in AddAll, the ops left to addLocked.
var errRest = errors.New("ledger: not added yet")

// addAllExtendingLocked adds, in the batch's canonical order, the ops that
// extend the log one after the other (a new member's first sync of a linear
// history, mostly, and live sync of a few new ops), and returns the others
// for addLocked, marked errRest in errs: the first op that does not extend
// the log and every op after it.
func (l *Log) addAllExtendingLocked(ops []*Op, errs []error, arriving map[ID]bool) (added int, rest []*Op) {
	pre := make([]*Op, len(ops))
	preIDs := make([]ID, len(ops))
	index := make(map[ID]int, len(ops))
	var list []*Op
	var ids []ID
	for i, in := range ops {
		o, id, err := l.precheckLocked(in)
		if err != nil {
			errs[i] = err
			continue
		}
		if _, dup := index[id]; dup {
			errs[i] = fmt.Errorf("%w: op %s", ErrDuplicate, id.Short())
			continue
		}
		index[id] = i
		pre[i], preIDs[i] = o, id
		list, ids = append(list, o), append(ids, id)
	}
	done := make([]bool, len(ops))
	for _, id := range batchOrder(list, ids) {
		i := index[id]
		if !l.extendable(pre[i]) {
			break
		}
		if err := l.addExtendingLocked(pre[i], id, arriving); err != nil {
			errs[i] = err // its descendants go the long way and say why
			break
		}
		done[i] = true
		added++
	}
	for i := range ops {
		if errs[i] == nil && !done[i] {
			errs[i] = errRest
			rest = append(rest, pre[i])
		}
	}
	return added, rest
}

// batchOrder is the canonical order of ops among themselves (Kahn's
// algorithm, smallest ID first; parents outside the batch count as present).
func batchOrder(ops []*Op, ids []ID) []ID {
	idx := make(map[ID]int, len(ops))
	for i, id := range ids {
		idx[id] = i
	}
	indeg := make([]int, len(ops))
	children := make([][]int, len(ops))
	h := &idHeap{ids: ids}
	for i, o := range ops {
		for _, p := range slices.Compact(slices.Clone(o.Parents)) {
			if j, ok := idx[p]; ok {
				indeg[i]++
				children[j] = append(children[j], i)
			}
		}
		if indeg[i] == 0 {
			h.pos = append(h.pos, i)
		}
	}
	heap.Init(h)
	var out []ID
	for h.Len() > 0 {
		i := heap.Pop(h).(int)
		out = append(out, ids[i])
		for _, c := range children[i] {
			if indeg[c]--; indeg[c] == 0 {
				heap.Push(h, c)
			}
		}
	}
	return out
}

// arrivingLocked returns the IDs of the ops of ops the log does not hold
// yet (a peer may send again an op the log holds: it was held before).
func (l *Log) arrivingLocked(ops []*Op) map[ID]bool {
	m := make(map[ID]bool, len(ops))
	for _, o := range ops {
		if o == nil {
			continue
		}
		if id := o.ID(); l.ops[id] == nil {
			m[id] = true
		}
	}
	return m
}

// heldLocked reports whether the log held op id before the Add or AddAll
// whose new ops are arriving.
func (l *Log) heldLocked(id ID, arriving map[ID]bool) bool { return l.ops[id] != nil && !arriving[id] }
