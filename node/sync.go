package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/ledger"
)

// The sync protocol (ProtoSync). Operations and ID lists travel in chunks
// of bounded size, and each chunk is verified and stored before the next is
// read, so neither side holds the other's ledger in memory and a ledger of
// any size gets through. The opener O and the responder R:
//
//	O → R: syncHello (O's heads)
//	R → O: syncPlan (R's heads; Known if R holds all of O's heads; or an
//	       Error, e.g. a sync with O is already running)
//	if Known:   R → O: the ops O lacks (those not below O's heads)    done
//	O → R: syncNext (Push if O holds all of R's heads)
//	if Push:    O → R: the ops R lacks (those not below R's heads)    done
//	otherwise both have ops the other lacks:
//	O → R: O's IDs, in chunks
//	R → O: the ops O lacks, in chunks; then the IDs R wants, in chunks
//	O → R: the ops R wants, in chunks
//
// An ops chunk (opChunk) holds at most chunkOps ops or about chunkBytes
// bytes; an ID chunk (idChunk) at most chunkIDs IDs; the last chunk of a
// sequence says so. Every op goes through ledger.Log.AddAll, which verifies
// it. A node runs at most one exchange per peer at a time in each
// direction; a second stream from a peer while one runs is refused.

type syncHello struct {
	Heads []ledger.ID `json:"heads"`
}

type syncPlan struct {
	Error string      `json:"error,omitempty"`
	Heads []ledger.ID `json:"heads,omitempty"`
	Known bool        `json:"known,omitempty"`
}

type syncNext struct {
	Push bool `json:"push,omitempty"`
}

// opChunk is part of a sequence of ops, in canonical order.
type opChunk struct {
	Ops  [][]byte `json:"ops,omitempty"`
	Last bool     `json:"last,omitempty"`
}

// idChunk is part of a list of op IDs: 32 bytes each, concatenated.
type idChunk struct {
	IDs  []byte `json:"ids,omitempty"`
	Last bool   `json:"last,omitempty"`
}

// Limits of the sync and join exchanges.
const (
	// maxChunk bounds a chunk frame (ops are base64 in JSON: 4/3 of
	// chunkBytes, plus one op of up to ledger.MaxOpSize).
	maxChunk   = 1 << 20
	chunkBytes = 512 << 10
	chunkOps   = 1024
	chunkIDs   = 8192 // 256 KiB of IDs, 342 KiB in base64
	// maxHeads bounds the heads in a hello or plan (a ledger has a few:
	// every op names all heads as parents).
	maxHeads      = 1024
	maxHeadsFrame = 128 << 10 // 1024 IDs in hex, 67 bytes each in JSON
	// maxLedgerOps bounds the ops (or IDs) one exchange carries: a ledger
	// larger than that cannot be joined or synced ("ledger too large").
	maxLedgerOps = 1 << 21
	// maxWant bounds the ops a responder asks for in one sync; the next
	// sync asks for the rest.
	maxWant = 1 << 16
	// exchangeIdle is the longest wait for the peer's next frame, and
	// exchangeMax the longest a whole exchange may take.
	exchangeIdle = 30 * time.Second
	exchangeMax  = 10 * time.Minute
)

// ErrLedgerTooLarge is a ledger (or list of IDs) with more operations than
// one exchange carries.
var ErrLedgerTooLarge = errors.New("ledger too large")

// ErrBusy is a second exchange with a peer while one is running.
var ErrBusy = errors.New("an exchange with this node is already running")

// busySet holds the peers with an exchange running, per kind of exchange.
type busySet struct {
	mu sync.Mutex
	m  map[busyKey]bool
}

type busyKey struct {
	kind string // "sync-in", "sync-out", "join"
	p    peer.ID
}

// try marks (kind, p) busy; it reports false if it was already.
func (b *busySet) try(kind string, p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := busyKey{kind, p}
	if b.m[k] {
		return false
	}
	if b.m == nil {
		b.m = make(map[busyKey]bool)
	}
	b.m[k] = true
	return true
}

func (b *busySet) done(kind string, p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, busyKey{kind, p})
}

// conn is one side of an exchange: a stream with a deadline renewed for
// each frame (exchangeIdle), never past end.
type conn struct {
	s   network.Stream
	r   *bufio.Reader
	end time.Time
}

func newConn(ctx context.Context, s network.Stream) *conn {
	end := time.Now().Add(exchangeMax)
	if dl, ok := ctx.Deadline(); ok && dl.Before(end) {
		end = dl
	}
	return &conn{s: s, r: bufio.NewReader(s), end: end}
}

func (c *conn) renew() {
	dl := time.Now().Add(exchangeIdle)
	if c.end.Before(dl) {
		dl = c.end
	}
	c.s.SetDeadline(dl)
}

func (c *conn) write(v any) error {
	c.renew()
	return writeFrame(c.s, v)
}

func (c *conn) read(v any, max int) error {
	c.renew()
	return readFrame(c.r, v, max)
}

// sendOps writes ops (in canonical order) for which skip is false, in
// chunks; the last chunk says so.
func (c *conn) sendOps(ops []*ledger.Op, skip func(i int) bool) error { return sendOps(c, ops, skip) }

// frameWriter writes one frame of v.
type frameWriter interface {
	write(v any) error
}

func sendOps(c frameWriter, ops []*ledger.Op, skip func(i int) bool) error {
	var ch opChunk
	size := 0
	for i, op := range ops {
		if skip != nil && skip(i) {
			continue
		}
		b := op.Marshal()
		ch.Ops = append(ch.Ops, b)
		size += len(b)
		if len(ch.Ops) >= chunkOps || size >= chunkBytes {
			if err := c.write(ch); err != nil {
				return err
			}
			ch, size = opChunk{}, 0
		}
	}
	ch.Last = true
	return c.write(ch)
}

// frameReader reads one frame of at most max bytes into v.
type frameReader interface {
	read(v any, max int) error
}

// rawFrames reads and writes frames on a reader and a writer, without
// deadlines.
type rawFrames struct {
	r *bufio.Reader
	w io.Writer
}

func (f rawFrames) read(v any, max int) error { return readFrame(f.r, v, max) }
func (f rawFrames) write(v any) error         { return writeFrame(f.w, v) }

// SendOps writes ops, in canonical order (a ledger's genesis first), as
// join and sync do: in chunks of at most chunkOps ops or about chunkBytes
// bytes, one frame each, the last chunk marked as such. It is for other
// protocols that hand over a ledger (a device's claim); RecvOps reads it.
func SendOps(w io.Writer, ops []*ledger.Op) error {
	return sendOps(rawFrames{w: w}, ops, nil)
}

// RecvOps reads what SendOps wrote, up to the last chunk, and gives each
// chunk's ops to add as they arrive, so the reader never holds more than a
// chunk it has not added. A frame's buffer grows as its bytes arrive, never
// to a declared length; a frame over the chunk limit (1 MiB) fails with
// ErrFrameTooLarge, more ops than an exchange carries with
// ErrLedgerTooLarge. Ops are decoded, not verified: add verifies them (a
// ledger.Log's AddAll does).
func RecvOps(r *bufio.Reader, add func([]*ledger.Op) error) error {
	return recvOps(rawFrames{r: r}, maxLedgerOps, add)
}

// recvOps reads chunks of ops up to the last one, at most max ops in all,
// and gives each chunk's ops to add as they arrive.
func (c *conn) recvOps(max int, add func([]*ledger.Op) error) error { return recvOps(c, max, add) }

func recvOps(f frameReader, max int, add func([]*ledger.Op) error) error {
	total := 0
	for {
		var ch opChunk
		if err := f.read(&ch, maxChunk); err != nil {
			return err
		}
		total += len(ch.Ops)
		if total > max {
			return fmt.Errorf("%w: more than %d operations", ErrLedgerTooLarge, max)
		}
		ops := make([]*ledger.Op, 0, len(ch.Ops))
		for _, b := range ch.Ops {
			op, err := ledger.Unmarshal(b)
			if err != nil {
				return fmt.Errorf("bad operation: %w", err)
			}
			ops = append(ops, op)
		}
		if len(ops) > 0 {
			if err := add(ops); err != nil {
				return err
			}
		}
		if ch.Last {
			return nil
		}
	}
}

// sendIDs writes ids in chunks; the last chunk says so.
func (c *conn) sendIDs(ids []ledger.ID) error {
	for {
		n := min(len(ids), chunkIDs)
		ch := idChunk{IDs: make([]byte, 0, n*len(ledger.ID{})), Last: n == len(ids)}
		for _, id := range ids[:n] {
			ch.IDs = append(ch.IDs, id[:]...)
		}
		if err := c.write(ch); err != nil {
			return err
		}
		if ids = ids[n:]; len(ids) == 0 {
			return nil
		}
	}
}

// recvIDs reads chunks of IDs up to the last one, at most max IDs in all,
// and gives each ID to fn.
func (c *conn) recvIDs(max int, fn func(ledger.ID)) error { return recvIDs(c, max, fn) }

func recvIDs(f frameReader, max int, fn func(ledger.ID)) error {
	total := 0
	for {
		var ch idChunk
		if err := f.read(&ch, maxChunk); err != nil {
			return err
		}
		const size = len(ledger.ID{})
		if len(ch.IDs)%size != 0 {
			return fmt.Errorf("bad list of IDs: %d bytes", len(ch.IDs))
		}
		if total += len(ch.IDs) / size; total > max {
			return fmt.Errorf("%w: more than %d operation IDs", ErrLedgerTooLarge, max)
		}
		for i := 0; i < len(ch.IDs); i += size {
			fn(ledger.ID(ch.IDs[i : i+size]))
		}
		if ch.Last {
			return nil
		}
	}
}

// snapshot is a log's ops at one moment, in canonical order, indexed.
type snapshot struct {
	ops []*ledger.Op
	idx map[ledger.ID]int
}

func takeSnapshot(l *ledger.Log) *snapshot {
	ops := l.Ops()
	sn := &snapshot{ops: ops, idx: make(map[ledger.ID]int, len(ops))}
	for i, op := range ops {
		sn.idx[op.ID()] = i
	}
	return sn
}

// knows reports whether the snapshot holds every one of ids.
func (sn *snapshot) knows(ids []ledger.ID) bool {
	for _, id := range ids {
		if _, ok := sn.idx[id]; !ok {
			return false
		}
	}
	return true
}

// below marks the ops of the snapshot that are heads or their ancestors:
// what a log with these heads holds (a log holds the ancestors of its ops).
func (sn *snapshot) below(heads []ledger.ID) []bool {
	mark := make([]bool, len(sn.ops))
	var stack []int
	for _, h := range heads {
		if i, ok := sn.idx[h]; ok && !mark[i] {
			mark[i] = true
			stack = append(stack, i)
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range sn.ops[i].Parents {
			if j, ok := sn.idx[p]; ok && !mark[j] {
				mark[j] = true
				stack = append(stack, j)
			}
		}
	}
	return mark
}

func sortedIDs(ids []ledger.ID) []ledger.ID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b ledger.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func heads(l *ledger.Log) []ledger.ID {
	h := l.Heads()
	if len(h) > maxHeads {
		return nil // the other side then finds them unknown: a full exchange
	}
	return h
}

func (n *Node) kickSync() {
	select {
	case n.syncCh <- struct{}{}:
	default:
	}
}

// syncLoop syncs with every connected member now and then and when kicked:
// each peer in its own goroutine, one at a time per peer.
func (n *Node) syncLoop() {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.syncCh:
		case <-t.C:
		}
		for _, p := range n.host.Network().Peers() {
			if m, _ := n.classify(p); !m {
				continue
			}
			n.goLoop(func() { n.syncPeer(p) })
		}
	}
}

// syncWants coalesces the sync loop's exchanges with each peer: one runs at
// a time, and a kick that arrives while it runs asks for one more after it,
// so a change made meanwhile is not left for the next tick.
type syncWants struct {
	mu      sync.Mutex
	running map[peer.ID]bool
	again   map[peer.ID]bool
}

// busyRetry is how long the sync loop waits before it asks a busy peer
// again, and busyRetries how many times it asks.
const (
	busyRetry   = 100 * time.Millisecond
	busyRetries = 100
)

// syncPeer runs the sync loop's exchanges with p (see syncWants).
func (n *Node) syncPeer(p peer.ID) {
	w := &n.wants
	w.mu.Lock()
	if w.running[p] {
		w.again[p] = true
		w.mu.Unlock()
		return
	}
	if w.running == nil {
		w.running, w.again = make(map[peer.ID]bool), make(map[peer.ID]bool)
	}
	w.running[p] = true
	w.mu.Unlock()
	for busy := 0; ; {
		err := n.SyncWith(n.ctx, p)
		switch {
		case errors.Is(err, ErrBusy) && busy < busyRetries:
			// Another exchange with p (ours, or p's with us finishing)
			// holds the slot: ours must still run after it.
			busy++
			select {
			case <-n.ctx.Done():
			case <-time.After(busyRetry):
				w.mu.Lock()
				w.again[p] = true
				w.mu.Unlock()
			}
		case err != nil && n.ctx.Err() == nil:
			n.cfg.Logf("sync with %s: %v", p.ShortString(), err)
		}
		w.mu.Lock()
		if !w.again[p] || n.ctx.Err() != nil {
			delete(w.running, p)
			delete(w.again, p)
			w.mu.Unlock()
			return
		}
		delete(w.again, p)
		w.mu.Unlock()
	}
}

// SyncWith runs one ledger exchange with a member peer. Each frame must
// arrive within exchangeIdle and the whole exchange within ctx's deadline
// (at most exchangeMax).
func (n *Node) SyncWith(ctx context.Context, p peer.ID) error {
	if !n.busy.try("sync-out", p) {
		return ErrBusy
	}
	defer n.busy.done("sync-out", p)
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "sync"), p, ProtoSync)
	if err != nil {
		return err
	}
	defer s.Close()
	defer context.AfterFunc(ctx, func() { s.Reset() })()
	c := newConn(ctx, s)
	if err := c.write(syncHello{Heads: heads(n.log)}); err != nil {
		return err
	}
	var plan syncPlan
	if err := c.read(&plan, maxHeadsFrame); err != nil {
		return err
	}
	if plan.Error == ErrBusy.Error() {
		return fmt.Errorf("refused: %w", ErrBusy) // the peer is syncing with us already
	}
	if plan.Error != "" {
		return fmt.Errorf("refused: %s", plan.Error)
	}
	if len(plan.Heads) > maxHeads {
		return fmt.Errorf("%w: %d heads", ErrLedgerTooLarge, len(plan.Heads))
	}
	add := func(ops []*ledger.Op) error { n.addOps(p, ops); return nil }
	if plan.Known {
		// The other side holds everything we do.
		return c.recvOps(maxLedgerOps, add)
	}
	sn := takeSnapshot(n.log)
	if len(plan.Heads) > 0 && sn.knows(plan.Heads) {
		// We hold everything the other side does.
		if err := c.write(syncNext{Push: true}); err != nil {
			return err
		}
		theirs := sn.below(plan.Heads)
		if err := c.sendOps(sn.ops, func(i int) bool { return theirs[i] }); err != nil {
			return err
		}
		return c.finish()
	}
	if err := c.write(syncNext{}); err != nil {
		return err
	}
	ids := make([]ledger.ID, 0, len(sn.ops))
	for _, op := range sn.ops {
		ids = append(ids, op.ID())
	}
	if err := c.sendIDs(ids); err != nil {
		return err
	}
	if err := c.recvOps(maxLedgerOps, add); err != nil {
		return err
	}
	want := make(map[int]bool)
	if err := c.recvIDs(maxWant, func(id ledger.ID) {
		if i, ok := sn.idx[id]; ok {
			want[i] = true
		}
	}); err != nil {
		return err
	}
	if err := c.sendOps(sn.ops, func(i int) bool { return !want[i] }); err != nil {
		return err
	}
	return c.finish()
}

// finish closes our side and waits until the other side has stored what we
// sent and closed.
func (c *conn) finish() error {
	if err := c.s.CloseWrite(); err != nil {
		return err
	}
	c.renew()
	io.Copy(io.Discard, c.r)
	return nil
}

func (n *Node) handleSync(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	if m, _ := n.classify(p); !m {
		s.Reset()
		return
	}
	c := newConn(context.Background(), s)
	if !n.busy.try("sync-in", p) {
		c.write(syncPlan{Error: ErrBusy.Error()})
		return
	}
	err := n.serveSync(p, c)
	n.busy.done("sync-in", p)
	if err != nil {
		n.cfg.Logf("sync from %s: %v", p.ShortString(), err)
		s.Reset()
	}
}

func (n *Node) serveSync(p peer.ID, c *conn) error {
	var hello syncHello
	if err := c.read(&hello, maxHeadsFrame); err != nil {
		return err
	}
	if len(hello.Heads) > maxHeads {
		return fmt.Errorf("%w: %d heads", ErrLedgerTooLarge, len(hello.Heads))
	}
	if mine := heads(n.log); len(mine) > 0 && slices.Equal(sortedIDs(hello.Heads), mine) {
		// In step, the usual case: nothing to send either way.
		if err := c.write(syncPlan{Heads: mine, Known: true}); err != nil {
			return err
		}
		if err := c.sendOps(nil, nil); err != nil {
			return err
		}
		return c.finish()
	}
	sn := takeSnapshot(n.log)
	plan := syncPlan{Heads: heads(n.log), Known: len(hello.Heads) > 0 && sn.knows(hello.Heads)}
	if err := c.write(plan); err != nil {
		return err
	}
	add := func(ops []*ledger.Op) error { n.addOps(p, ops); return nil }
	if plan.Known {
		theirs := sn.below(hello.Heads)
		if err := c.sendOps(sn.ops, func(i int) bool { return theirs[i] }); err != nil {
			return err
		}
		return c.finish()
	}
	var next syncNext
	if err := c.read(&next, 1<<10); err != nil {
		return err
	}
	if next.Push {
		return c.recvOps(maxLedgerOps, add)
	}
	theirs := make([]bool, len(sn.ops))
	var want []ledger.ID
	if err := c.recvIDs(maxLedgerOps, func(id ledger.ID) {
		if i, ok := sn.idx[id]; ok {
			theirs[i] = true
		} else if len(want) < maxWant && !n.log.Has(id) {
			want = append(want, id)
		}
	}); err != nil {
		return err
	}
	if err := c.sendOps(sn.ops, func(i int) bool { return theirs[i] }); err != nil {
		return err
	}
	if err := c.sendIDs(want); err != nil {
		return err
	}
	return c.recvOps(len(want), add)
}

// addOps verifies and stores ops from a peer, logging each rejection.
func (n *Node) addOps(from peer.ID, ops []*ledger.Op) {
	if len(ops) == 0 {
		return
	}
	added, errs := n.log.AddAll(ops)
	for _, err := range errs {
		if err != nil && !errors.Is(err, ledger.ErrDuplicate) {
			n.cfg.Logf("ledger op from %s rejected: %v", from.ShortString(), err)
		}
	}
	if added > 0 {
		n.cfg.Logf("ledger: %d new operation(s) from %s", added, from.ShortString())
	}
}

// pushTo sends our ledger to p, whatever p's standing, ignoring errors: used
// to tell a node it was removed before cutting it off.
func (n *Node) pushTo(ctx context.Context, p peer.ID) {
	if err := n.SyncWith(ctx, p); err != nil {
		n.cfg.Logf("last sync with removed %s: %v", p.ShortString(), err)
	}
}
