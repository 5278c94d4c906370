package pubsub

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/security/noise"

	"github.com/coconet/coconet/node"
)

// The publisher side: one remote per subscriber node that announced
// subscriptions, with its queue, QoS 1 outbox and sender goroutine.

// pubMsg is one published message, shared by every queue it is in.
type pubMsg struct {
	topic string
	data  []byte
	qos   QoS
}

// entry is a message queued for one subscriber node.
type entry struct {
	m        *pubMsg
	qos      QoS    // effective QoS for this node
	sub      uint64 // the one subscription it is for (retained values), or 0
	retained bool
	seq      uint64 // assigned when first written; kept for resends
}

type remote struct {
	ps     *PubSub
	id     peer.ID
	sender atomic.Pointer[node.Sender]
	pats   atomic.Pointer[[]patSub] // active subscriptions, for matching without the lock
	// removed is set when the node left the membership.
	removed atomic.Bool

	mu       sync.Mutex // guards following fields
	session  uint64
	gen      uint64
	dormant  []string // QoS 1 patterns of an earlier session of the subscriber, kept for its outbox
	queue    []entry  // not yet written
	inflight []entry  // written QoS 1, not acknowledged; seq ascending
	pending  []entry  // QoS 1 kept while the node is away (or for a dormant pattern)
	n1       int      // QoS 1 entries in queue+inflight+pending
	nextSeq  uint64
	lost     map[string]uint64 // dropped from the outbox, by pattern, to report
	running  bool              // a sender goroutine exists
	active   bool              // the sender is connecting or streaming: queue messages
	up       chan struct{}     // closed when a stream is open; replaced when it ends
	room     chan struct{}     // closed when queue or outbox space frees
	wake     chan struct{}
	stream   network.Stream
	// stopping is set by stop until the next stream opens: the writer
	// takes nothing more from the queue for the stream being reset, so what
	// a new subscription queued meanwhile (its retained values) waits for
	// the next stream instead of being written to a dead one.
	stopping bool
}

func newRemote(ps *PubSub, id peer.ID, s node.Sender) *remote {
	r := &remote{ps: ps, id: id, up: make(chan struct{}), room: make(chan struct{}), wake: make(chan struct{}, 1), lost: map[string]uint64{}}
	r.sender.Store(&s)
	r.pats.Store(&[]patSub{})
	return r
}

// match reports whether topic matches one of the node's subscriptions, with
// which QoS, or (dormant) only one of its earlier session's QoS 1 patterns.
func (r *remote) match(topic string, q QoS) (matched bool, eff QoS, dormant bool) {
	for _, p := range *r.pats.Load() {
		if Match(p.pattern, topic) {
			matched = true
			if p.qos == QoS1 && q == QoS1 {
				return true, QoS1, false
			}
		}
	}
	if matched || q != QoS1 {
		return matched, QoS0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.dormant {
		if Match(p, topic) {
			return true, QoS1, true
		}
	}
	return false, QoS0, false
}

func (r *remote) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// freeRoomLocked wakes the publishers waiting for room.
func (r *remote) freeRoomLocked() {
	close(r.room)
	r.room = make(chan struct{})
}

// enqueue queues e: for a connected node (waiting for room), else in the
// outbox if it is QoS 1.
func (r *remote) enqueue(ctx context.Context, e entry, dormant bool) error {
	r.mu.Lock()
	for r.active && !dormant && (len(r.queue) >= r.ps.opts.QueueLen || (e.qos == QoS1 && r.n1 >= r.ps.opts.OutboxLen)) {
		room := r.room
		r.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return fmt.Errorf("pubsub: publish to %s: waiting for its queue: %w", r.id.ShortString(), ctx.Err())
		case <-r.ps.ctx.Done():
			return errClosed
		}
		r.mu.Lock()
	}
	defer r.mu.Unlock()
	if r.removed.Load() {
		return nil
	}
	if r.active && !dormant {
		r.queue = append(r.queue, e)
		if e.qos == QoS1 {
			r.n1++
		}
		r.signal()
		return nil
	}
	if e.qos != QoS1 {
		return nil // at most once: a node that is away misses it
	}
	if r.n1 >= r.ps.opts.OutboxLen {
		r.dropOldestLocked()
	}
	r.pending = append(r.pending, e)
	r.n1++
	return nil
}

// dropOldestLocked drops the oldest outbox entry and records it for the
// subscriber's lag signal.
func (r *remote) dropOldestLocked() {
	var e entry
	switch {
	case len(r.inflight) > 0:
		e, r.inflight = r.inflight[0], r.inflight[1:]
	case len(r.pending) > 0:
		e, r.pending = r.pending[0], r.pending[1:]
	default:
		return
	}
	r.n1--
	for _, p := range *r.pats.Load() {
		if p.qos == QoS1 && Match(p.pattern, e.m.topic) {
			r.lost[p.pattern]++
			return
		}
	}
	for _, p := range r.dormant {
		if Match(p, e.m.topic) {
			r.lost[p]++
			return
		}
	}
}

// activeQoS1Locked reports whether e still matches a QoS 1 subscription.
func (r *remote) activeQoS1(topic string) bool {
	for _, p := range *r.pats.Load() {
		if p.qos == QoS1 && Match(p.pattern, topic) {
			return true
		}
	}
	return false
}

// apply installs an announcement. It reports whether it was newer than the
// last one applied, and the subscriptions that are new.
func (r *remote) apply(a announcement) (fresh []patSub, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if a.session == r.session && a.gen <= r.gen {
		return nil, false
	}
	old := *r.pats.Load()
	newSession := a.session != r.session
	r.session, r.gen = a.session, a.gen
	r.pats.Store(&a.subs)
	isActive := func(p string) bool {
		for _, s := range a.subs {
			if s.qos == QoS1 && s.pattern == p {
				return true
			}
		}
		return false
	}
	if newSession {
		r.keepDormantLocked(old)
		if r.stream != nil {
			// The subscriber restarted: resend what the old stream may have
			// lost, on a new one; wait for that one to be up.
			r.stream.Reset()
			r.stream = nil
			r.up = make(chan struct{})
		}
	}
	r.dormant = slices.DeleteFunc(r.dormant, isActive)
	// Move the outbox entries that match an active subscription to the queue;
	// drop those that match nothing any more (explicitly unsubscribed).
	kept := r.pending[:0]
	for _, e := range r.pending {
		switch {
		case r.activeQoS1(e.m.topic):
			r.queue = append(r.queue, e)
		case slices.ContainsFunc(r.dormant, func(p string) bool { return Match(p, e.m.topic) }):
			kept = append(kept, e)
		default:
			r.n1--
		}
	}
	clear(r.pending[len(kept):])
	r.pending = kept
	for _, s := range a.subs {
		if newSession || !slices.ContainsFunc(old, func(o patSub) bool { return o.id == s.id }) {
			fresh = append(fresh, s)
		}
	}
	if len(r.queue) > 0 {
		r.signal()
	}
	return fresh, true
}

// keepDormantLocked keeps the QoS 1 patterns of pats (of a subscriber
// session that ended) so their outbox survives until they are subscribed
// again.
func (r *remote) keepDormantLocked(pats []patSub) {
	for _, p := range pats {
		if p.qos == QoS1 && !slices.Contains(r.dormant, p.pattern) {
			r.dormant = append(r.dormant, p.pattern)
		}
	}
}

// newSessionLocked notes that the subscriber node restarted without
// announcing its subscriptions yet: it has none until it does.
func (r *remote) newSessionLocked(session uint64) {
	r.keepDormantLocked(*r.pats.Load())
	r.pats.Store(&[]patSub{})
	r.session, r.gen = session, 0
}

// start runs the sender unless it runs; reports the channel closed once a
// stream is up.
func (r *remote) start() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(*r.pats.Load()) > 0 && !r.running && !r.removed.Load() {
		if r.ps.goOwned(r.run) {
			r.running, r.active = true, true
		}
	}
	return r.up
}

// stop resets the stream; the sender then exits unless it should retry.
func (r *remote) stop() {
	r.mu.Lock()
	r.stopping = true
	if r.stream != nil {
		r.stream.Reset()
	}
	r.signal()
	r.mu.Unlock()
}

// run is the sender goroutine: it opens the stream, writes until it breaks,
// and retries while the node is connected and subscribed.
func (r *remote) run() {
	ps := r.ps
	var delay time.Duration
	for {
		opened, err := r.serve()
		r.mu.Lock()
		r.endStreamLocked()
		retry := ps.ctx.Err() == nil && !r.removed.Load() && len(*r.pats.Load()) > 0 &&
			ps.h.Network().Connectedness(r.id) == network.Connected
		if !retry {
			r.running, r.active = false, false
			r.freeRoomLocked()
			r.mu.Unlock()
			if err != nil && ps.ctx.Err() == nil {
				ps.opts.Logf("pubsub: stream to %s ended: %v", r.id.ShortString(), err)
			}
			return
		}
		if opened {
			// It worked before (the subscriber restarted, or one stream
			// broke): try again at once, still accepting messages.
			delay = 0
			r.mu.Unlock()
			continue
		}
		delay = min(max(2*delay, 100*time.Millisecond), 5*time.Second)
		r.active = false
		r.freeRoomLocked()
		r.mu.Unlock()
		ps.opts.Logf("pubsub: stream to %s: %v; retrying in %v", r.id.ShortString(), err, delay)
		select {
		case <-time.After(delay):
		case <-ps.ctx.Done():
		}
		r.mu.Lock()
		r.active = true
		r.mu.Unlock()
	}
}

// endStreamLocked files what the stream did not deliver: unsent QoS 1
// entries go to the outbox, unsent QoS 0 ones are dropped; unacknowledged
// ones stay in flight to be sent again.
func (r *remote) endStreamLocked() {
	if r.stream != nil {
		r.stream = nil
		r.up = make(chan struct{})
	}
	// QoS 1 goes to the outbox. A retained value queued for a subscription
	// that is still there stays queued for the next stream: a stream can end
	// (an earlier announcement stopping it) right after a new subscription
	// queued its retained values, and the late subscriber must still get them.
	var keep []entry
	subs := *r.pats.Load()
	for _, e := range r.queue {
		switch {
		case e.qos == QoS1:
			r.pending = append(r.pending, e)
		case e.retained && slices.ContainsFunc(subs, func(p patSub) bool { return p.id == e.sub }):
			keep = append(keep, e)
		}
	}
	clear(r.queue)
	r.queue = append(r.queue[:0], keep...)
}

// writeBuffer is the size of the writer's batches: one yamux frame of it
// (a 12-byte header and its bytes) is one Noise message of the most
// (noise.MaxPlaintextLength, 65,519 bytes). A 64 KiB batch went out as a
// frame of 65,536 bytes, two Noise messages, and one of 12 bytes more:
// three seals and three write syscalls instead of one.
const writeBuffer = noise.MaxPlaintextLength - 12

// serve opens one stream and writes to it until it breaks; opened reports
// whether the stream opened.
func (r *remote) serve() (opened bool, err error) {
	ps := r.ps
	ctx, cancel := context.WithTimeout(ps.ctx, 10*time.Second)
	s, err := ps.h.NewStream(network.WithAllowLimitedConn(ctx, "pubsub"), r.id, ProtoMsg)
	cancel()
	if err != nil {
		return false, fmt.Errorf("open stream: %w", err)
	}
	// The subscriber first says which session (process) it is: one that
	// restarted and has not subscribed again must not be sent its old
	// subscriptions' messages (nobody would read them, yet they would be
	// acknowledged).
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReaderSize(s, 4096)
	body, discard, err := readFrame(br)
	if err != nil {
		s.Reset()
		return false, fmt.Errorf("read subscriber hello: %w", err)
	}
	theirs, err := parseHello(body)
	br.Discard(discard)
	if err != nil {
		s.Reset()
		return false, err
	}
	s.SetReadDeadline(time.Time{})
	bw := bufio.NewWriterSize(s, writeBuffer)
	r.mu.Lock()
	if ps.ctx.Err() != nil || r.removed.Load() {
		r.mu.Unlock()
		s.Reset()
		return false, errClosed
	}
	if theirs != r.session {
		r.newSessionLocked(theirs)
	}
	if len(*r.pats.Load()) == 0 {
		r.mu.Unlock()
		s.Reset()
		return false, errors.New("the subscriber restarted and has not subscribed again")
	}
	r.stream = s
	r.stopping = false
	// Resend, first and in order, what was written but not acknowledged,
	// then the outbox, then what is queued.
	var front []entry
	for _, e := range r.inflight {
		if r.activeQoS1(e.m.topic) {
			front = append(front, e)
		} else {
			e.seq = 0
			r.pending = append(r.pending, e)
		}
	}
	r.inflight = r.inflight[:0]
	kept := r.pending[:0]
	for _, e := range r.pending {
		if r.activeQoS1(e.m.topic) {
			front = append(front, e)
		} else {
			kept = append(kept, e)
		}
	}
	r.pending = kept
	r.queue = append(front, r.queue...)
	var lags []lagEntry
	for p, n := range r.lost {
		lags = append(lags, lagEntry{p, n})
	}
	clear(r.lost)
	close(r.up)
	r.mu.Unlock()

	bw.Write(helloFrame(ps.session))
	if len(lags) > 0 {
		bw.Write(lagFrame(lags))
	}
	ackDone := make(chan struct{})
	var ackErr error
	go func() { // owned: serve waits for it below
		ackErr = r.readAcks(br)
		close(ackDone)
	}()
	err = r.write(s, bw, ackDone)
	s.Reset()
	<-ackDone
	if err == nil {
		err = ackErr
	}
	return true, err
}

// write sends the queue in batches, flushing when it runs empty.
// errStopped ends a stream that stop reset.
var errStopped = errors.New("stopped: the subscriber changed its subscriptions")

func (r *remote) write(s network.Stream, bw *bufio.Writer, ackDone <-chan struct{}) error {
	ps := r.ps
	var batch []entry
	var hdr []byte
	for {
		r.mu.Lock()
		if r.stopping {
			r.mu.Unlock()
			return errStopped
		}
		batch, r.queue = r.queue, batch[:0]
		for i := range batch {
			e := &batch[i]
			if e.seq == 0 {
				r.nextSeq++
				e.seq = r.nextSeq
			}
			if e.qos == QoS1 {
				r.inflight = append(r.inflight, *e)
			}
		}
		if len(batch) > 0 {
			r.freeRoomLocked()
		}
		r.mu.Unlock()
		if len(batch) == 0 {
			if bw.Buffered() > 0 {
				s.SetWriteDeadline(time.Now().Add(30 * time.Second))
				if err := bw.Flush(); err != nil {
					return err
				}
			}
			select {
			case <-r.wake:
				continue
			case <-ackDone:
				return nil // readAcks says why
			case <-ps.ctx.Done():
				return errClosed
			}
		}
		s.SetWriteDeadline(time.Now().Add(30 * time.Second))
		for i := range batch {
			e := &batch[i]
			var flags byte
			if e.qos == QoS1 {
				flags |= flagQoS1
			}
			if e.retained {
				flags |= flagRetained
			}
			if e.sub != 0 {
				flags |= flagTargeted
			}
			hdr = appendMsgHeader(hdr[:0], flags, e.seq, e.sub, e.m.topic, len(e.m.data))
			bw.Write(hdr)
			if _, err := bw.Write(e.m.data); err != nil {
				return err
			}
		}
		clear(batch)
	}
}

// readAcks reads the subscriber's acknowledgements and releases the
// acknowledged entries.
func (r *remote) readAcks(br *bufio.Reader) error {
	for {
		body, discard, err := readFrame(br)
		if err != nil {
			return err
		}
		seq, err := parseAck(body)
		br.Discard(discard)
		if err != nil {
			return err
		}
		r.mu.Lock()
		i := 0
		for i < len(r.inflight) && r.inflight[i].seq <= seq {
			i++
		}
		if i > 0 {
			clear(r.inflight[:i])
			r.inflight = r.inflight[i:]
			r.n1 -= i
			r.freeRoomLocked()
		}
		r.mu.Unlock()
	}
}
