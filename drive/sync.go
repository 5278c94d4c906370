package drive

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/coconet/coconet/internal/frame"
)

// Protocol is the name under which a node serves the drive protocol; one
// stream syncs one drive.
const Protocol = "/coconet/drive/1"

// PeerID names the other end of a stream as the caller authenticated it
// (a node or member ID from the ledger, or a group member key). The drive
// protocol never takes the peer's word for who it is.
type PeerID string

// Dialer opens a stream to a peer. The engine implements it over coconet
// streams; tests over net.Pipe.
type Dialer interface {
	Open(ctx context.Context, peer PeerID) (io.ReadWriteCloser, error)
}

// Bounds of the protocol: what one message, and one session, may make a
// replica hold or do.
const (
	// MaxFrame is the largest message: one chunk and its header.
	MaxFrame = MaxChunk + 4<<10
	// MaxWant is the most chunks one want message may ask for; the
	// answer is read before the next want is sent.
	MaxWant = 256
	// batchBlocks and batchBytes bound the batches a replica sends.
	batchBlocks = 256
	batchBytes  = 1 << 20
	// MaxHeads is the most writers a hello may list.
	MaxHeads = MaxRefs
)

// Message types.
const (
	tHello = 1 // Hello: the drive and the sender's heads
	tBatch = 2 // Batch: blocks the receiver lacks
	tFork  = 3 // Fork: a fork proof the sender holds
	tEnd   = 4 // the end of the sender's turn
	tWant  = 5 // Want: chunks the sender asks for
	tChunk = 6 // Chunk: one chunk asked for (Missing if not held)
	tError = 7 // Err: why the sender gives up, for a person to read
	tGroup = 8 // Group: the sender's signed allow-list of a standalone group
)

// msg is one frame of the protocol, CBOR-encoded. Version 1; new fields
// are optional.
type msg struct {
	T     uint8      `cbor:"1,keyasint"`
	Hello *hello     `cbor:"2,keyasint,omitempty"`
	Batch *Batch     `cbor:"3,keyasint,omitempty"`
	Fork  *ForkProof `cbor:"4,keyasint,omitempty"`
	Want  []Hash     `cbor:"5,keyasint,omitempty"`
	Chunk *chunkMsg  `cbor:"6,keyasint,omitempty"`
	Err   string     `cbor:"7,keyasint,omitempty"`
	Group *Group     `cbor:"8,keyasint,omitempty"`
}

type hello struct {
	V     uint8        `cbor:"1,keyasint"`
	Drive Address      `cbor:"2,keyasint"`
	Heads []SignedRoot `cbor:"3,keyasint,omitempty"`
	// Fetch: the initiator only wants chunks (no blocks either way, no
	// wants from the responder).
	Fetch bool `cbor:"4,keyasint,omitempty"`
}

type chunkMsg struct {
	H       Hash   `cbor:"1,keyasint"`
	Data    []byte `cbor:"2,keyasint,omitempty"`
	Missing bool   `cbor:"3,keyasint,omitempty"`
}

// decodeMsg parses one frame and checks that the field its type needs is
// there.
func decodeMsg(b []byte) (*msg, error) {
	var m msg
	if err := unmarshal(b, &m); err != nil {
		return nil, err
	}
	ok := false
	switch m.T {
	case tHello:
		ok = m.Hello != nil && m.Hello.V == 1 && len(m.Hello.Heads) <= MaxHeads
	case tBatch:
		ok = m.Batch != nil
	case tFork:
		ok = m.Fork != nil
	case tGroup:
		ok = m.Group != nil
	case tEnd, tError:
		ok = true
	case tWant:
		ok = len(m.Want) > 0 && len(m.Want) <= MaxWant
	case tChunk:
		ok = m.Chunk != nil
	}
	if !ok {
		return nil, fmt.Errorf("%w: message of type %d", ErrMalformed, m.T)
	}
	return &m, nil
}

// ReplicaOptions tune a Replica.
type ReplicaOptions struct {
	// AllowPeer says whether a peer may sync this drive at all (a member,
	// or a replicator the group chose). Nil allows every peer the caller
	// lets through.
	AllowPeer func(PeerID) bool
	// MaxSessions bounds the sessions one peer may hold at once
	// (default 2).
	MaxSessions int
	// Now dates peer health records. Nil means time.Now.
	Now func() time.Time
	// Logf reports refusals. Nil discards.
	Logf func(format string, args ...any)
	// Limit bounds the bytes per second of all sessions together. Nil is
	// no bound.
	Limit *Limiter
	// Schedule is when content (chunks) moves; outside it only logs do.
	// Nil is always.
	Schedule *Schedule
	// Group is the allow-list of a standalone group: sent to every peer,
	// and replaced by a newer signed version a peer sends. Nil for a
	// network's drive.
	Group *Allow
}

// PeerState is what a replica last learned of a peer: its heads and when.
type PeerState struct {
	Peer     PeerID       `json:"peer"`
	LastSeen time.Time    `json:"last_seen"`
	Heads    []SignedRoot `json:"heads"`
}

// SyncStats counts what one session moved.
type SyncStats struct {
	BlocksSent, BlocksReceived int
	ChunksSent, ChunksReceived int
	BytesSent, BytesReceived   int64
}

// Replica runs the drive protocol for one Store: with a Drive on top for a
// member, alone for a blind replicator.
type Replica struct {
	store  *Store
	opts   ReplicaOptions
	tamper func(*Batch) // tests: a modified client altering what it sends

	mu       sync.Mutex // guards all following fields, and opts.Limit and opts.Schedule
	sessions map[PeerID]int
	peers    map[PeerID]PeerState
}

// SetBandwidth replaces the rate limit and the schedule (nil: none);
// sessions begun afterwards use the limit, every session the schedule.
func (r *Replica) SetBandwidth(l *Limiter, s *Schedule) {
	r.mu.Lock()
	r.opts.Limit, r.opts.Schedule = l, s
	r.mu.Unlock()
}

// NewReplica returns a replica serving store.
func NewReplica(store *Store, opts ReplicaOptions) *Replica {
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 2
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	return &Replica{store: store, opts: opts, sessions: make(map[PeerID]int), peers: make(map[PeerID]PeerState)}
}

// Peers returns what the replica last learned of each peer, by peer.
func (r *Replica) Peers() []PeerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PeerState, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b PeerState) int {
		switch {
		case a.Peer < b.Peer:
			return -1
		case a.Peer > b.Peer:
			return 1
		}
		return 0
	})
	return out
}

func (r *Replica) admit(peer PeerID) (func(), error) {
	if r.opts.AllowPeer != nil && !r.opts.AllowPeer(peer) {
		return nil, fmt.Errorf("%w: peer %s", ErrNotAllowed, peer)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions[peer] >= r.opts.MaxSessions {
		return nil, fmt.Errorf("%w: peer %s already has %d sessions", ErrQuota, peer, r.sessions[peer])
	}
	r.sessions[peer]++
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.sessions[peer]--; r.sessions[peer] == 0 {
			delete(r.sessions, peer)
		}
	}, nil
}

// Sync opens a stream to peer and exchanges with it, both ways, every
// block and chunk one has and the other lacks. Refresh a Drive on the
// store afterwards.
func (r *Replica) Sync(ctx context.Context, d Dialer, peer PeerID) (SyncStats, error) {
	done, err := r.admit(peer)
	if err != nil {
		return SyncStats{}, err
	}
	defer done()
	rw, err := d.Open(ctx, peer)
	if err != nil {
		return SyncStats{}, fmt.Errorf("drive: sync with %s: %w", peer, err)
	}
	s := r.newSession(ctx, peer, rw)
	defer s.close()
	err = s.run(true, nil)
	if err != nil {
		err = fmt.Errorf("drive: sync with %s: %w", peer, err)
	}
	return s.stats, err
}

// FetchChunks asks peer for the chunks hs only (a file to read now,
// before a full sync): the chunks on demand of a mount.
func (r *Replica) FetchChunks(ctx context.Context, d Dialer, peer PeerID, hs []Hash) (SyncStats, error) {
	done, err := r.admit(peer)
	if err != nil {
		return SyncStats{}, err
	}
	defer done()
	rw, err := d.Open(ctx, peer)
	if err != nil {
		return SyncStats{}, fmt.Errorf("drive: fetch from %s: %w", peer, err)
	}
	s := r.newSession(ctx, peer, rw)
	defer s.close()
	if hs == nil {
		hs = []Hash{}
	}
	err = s.run(true, hs)
	if err != nil {
		err = fmt.Errorf("drive: fetch from %s: %w", peer, err)
	}
	return s.stats, err
}

// Serve runs the responder's side of a session on a stream peer opened
// (the handler for incoming streams of Protocol). from is who the caller
// authenticated. It closes rw.
func (r *Replica) Serve(ctx context.Context, from PeerID, rw io.ReadWriteCloser) error {
	done, err := r.admit(from)
	if err != nil {
		rw.Close()
		return err
	}
	defer done()
	s := r.newSession(ctx, from, rw)
	defer s.close()
	if err := s.run(false, nil); err != nil {
		return fmt.Errorf("drive: serve %s: %w", from, err)
	}
	return nil
}

type session struct {
	r     *Replica
	peer  PeerID
	rw    io.ReadWriteCloser
	br    *bufio.Reader
	stop  func() bool
	stats SyncStats
	their map[WriterID]SignedRoot
}

func (r *Replica) newSession(ctx context.Context, peer PeerID, rw io.ReadWriteCloser) *session {
	// A session lives as long as ctx: when it ends, the stream closes and
	// the blocked read or write returns.
	stop := context.AfterFunc(ctx, func() { rw.Close() })
	r.mu.Lock()
	lim := r.opts.Limit
	r.mu.Unlock()
	if lim != nil {
		rw = limited{rw, ctx, lim}
	}
	return &session{r: r, peer: peer, rw: rw, br: bufio.NewReader(rw), stop: stop}
}

func (s *session) close() {
	s.stop()
	s.rw.Close()
}

func (s *session) send(m *msg) error {
	b, err := encMode.Marshal(m)
	if err != nil {
		return err
	}
	s.stats.BytesSent += int64(len(b))
	return frame.Write(s.rw, b)
}

func (s *session) recv() (*msg, error) {
	b, err := frame.Read(s.br, MaxFrame)
	if err != nil {
		if errors.Is(err, frame.ErrTooLarge) {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return nil, err
	}
	s.stats.BytesReceived += int64(len(b))
	m, err := decodeMsg(b)
	if err != nil {
		return nil, err
	}
	if m.T == tError {
		return nil, fmt.Errorf("peer gave up: %.200q", m.Err)
	}
	return m, nil
}

// fail tells the peer why, then returns err. The peer may be in the
// middle of its own turn and not reading (a stream without buffering):
// the stream is closed if the reason does not go out within failWait.
func (s *session) fail(err error) error {
	t := time.AfterFunc(failWait, func() { s.rw.Close() })
	s.send(&msg{T: tError, Err: err.Error()})
	t.Stop()
	return err
}

const failWait = time.Second

// run is the session: hellos, the initiator's blocks, the responder's
// blocks, the initiator's wants, the responder's wants. Each side writes
// only in its turn, so the protocol needs no buffering from the stream.
// fetch non-nil makes it a fetch of those chunks only.
func (s *session) run(initiator bool, fetch []Hash) error {
	st := s.r.store
	me := &msg{T: tHello, Hello: &hello{V: 1, Drive: st.Address(), Heads: st.Heads(), Fetch: fetch != nil}}
	if initiator {
		if err := s.send(me); err != nil {
			return err
		}
	}
	m, err := s.recv()
	if err != nil {
		return err
	}
	if m.T != tHello {
		return s.fail(fmt.Errorf("%w: expected a hello", ErrMalformed))
	}
	if m.Hello.Drive != st.Address() {
		return s.fail(fmt.Errorf("%w: peer syncs %s", ErrWrongDrive, m.Hello.Drive))
	}
	if err := s.takeHello(m.Hello); err != nil {
		return s.fail(err)
	}
	if !initiator {
		me.Hello.Fetch = m.Hello.Fetch
		if err := s.send(me); err != nil {
			return err
		}
	}
	if me.Hello.Fetch {
		if initiator {
			return s.want(fetch)
		}
		return s.serveWants()
	}
	turns := []bool{initiator, !initiator} // true: my turn to send
	for _, mine := range turns {
		if mine {
			err = s.sendBlocks()
		} else {
			err = s.recvBlocks()
		}
		if err != nil {
			return err
		}
	}
	for _, mine := range turns {
		if mine {
			var hs []Hash
			if s.contentTime() {
				hs = st.MissingChunks()
			}
			err = s.want(hs)
		} else {
			err = s.serveWants()
		}
		if err != nil {
			return err
		}
	}
	s.sent()
	return nil
}

// sent records that the peer now holds what was sent to it: its heads are
// at least ours, for the writers that did not fork.
func (s *session) sent() {
	heads := maps.Clone(s.their)
	for _, h := range s.r.store.Heads() {
		if !s.r.store.Forked(h.Writer) && h.Size > heads[h.Writer].Size {
			heads[h.Writer] = h
		}
	}
	hs := slices.SortedFunc(maps.Values(heads), func(a, b SignedRoot) int { return bytes.Compare(a.Writer[:], b.Writer[:]) })
	s.r.mu.Lock()
	s.r.peers[s.peer] = PeerState{Peer: s.peer, LastSeen: s.r.opts.Now(), Heads: hs}
	s.r.mu.Unlock()
}

func (s *session) takeHello(h *hello) error {
	s.their = make(map[WriterID]SignedRoot, len(h.Heads))
	for _, root := range h.Heads {
		if _, dup := s.their[root.Writer]; dup {
			return fmt.Errorf("%w: two heads of one writer", ErrMalformed)
		}
		if err := s.r.store.CheckRoot(root); err != nil && !errors.Is(err, ErrForked) {
			return err
		}
		s.their[root.Writer] = root
	}
	s.r.mu.Lock()
	s.r.peers[s.peer] = PeerState{Peer: s.peer, LastSeen: s.r.opts.Now(), Heads: h.Heads}
	s.r.mu.Unlock()
	return nil
}

func (s *session) sendBlocks() error {
	st := s.r.store
	if s.r.opts.Group != nil {
		g := s.r.opts.Group.Group()
		if err := s.send(&msg{T: tGroup, Group: &g}); err != nil {
			return err
		}
	}
	for _, p := range st.Forks() {
		if err := s.send(&msg{T: tFork, Fork: &p}); err != nil {
			return err
		}
	}
	for _, h := range st.Heads() {
		if st.Forked(h.Writer) {
			continue // what we hold of a forked writer is no use to anyone
		}
		from := s.their[h.Writer].Size
		for from < h.Size {
			b, ok := st.BatchFrom(h.Writer, from, batchBlocks, batchBytes)
			if !ok {
				break
			}
			if s.r.tamper != nil {
				s.r.tamper(&b)
			}
			if err := s.send(&msg{T: tBatch, Batch: &b}); err != nil {
				return err
			}
			s.stats.BlocksSent += len(b.Blocks)
			from = b.Root.Size
		}
	}
	return s.send(&msg{T: tEnd})
}

func (s *session) recvBlocks() error {
	st := s.r.store
	for {
		m, err := s.recv()
		if err != nil {
			return err
		}
		switch m.T {
		case tEnd:
			return nil
		case tFork:
			if err := st.AddFork(*m.Fork); err != nil {
				return s.fail(fmt.Errorf("fork proof: %w", err))
			}
		case tGroup:
			if s.r.opts.Group == nil {
				continue
			}
			if err := s.r.opts.Group.Update(*m.Group); errors.Is(err, ErrBadSignature) || errors.Is(err, ErrWrongDrive) {
				return s.fail(fmt.Errorf("allow-list: %w", err))
			}
		case tBatch:
			err := st.AddBatch(*m.Batch)
			switch {
			case err == nil:
				s.stats.BlocksReceived += len(m.Batch.Blocks)
			case errors.Is(err, ErrForked), errors.Is(err, ErrNotAllowed), errors.Is(err, ErrGap):
				// Recorded or not ours to keep; the session goes on.
				s.r.opts.Logf("drive: from %s: %v", s.peer, err)
			default:
				// Tampered, forged or malformed: this peer is not
				// to be trusted with the rest of the session.
				return s.fail(err)
			}
		default:
			return s.fail(fmt.Errorf("%w: message %d among blocks", ErrMalformed, m.T))
		}
	}
}

// contentTime reports whether chunks may move now.
func (s *session) contentTime() bool {
	s.r.mu.Lock()
	sch := s.r.opts.Schedule
	s.r.mu.Unlock()
	return sch == nil || sch.Active(s.r.opts.Now())
}

// want asks the peer for the chunks in hs, MaxWant at a time, and stores
// those that hash to their address.
func (s *session) want(hs []Hash) error {
	st := s.r.store
	for len(hs) > 0 {
		n := min(len(hs), MaxWant)
		ask := hs[:n]
		hs = hs[n:]
		if err := s.send(&msg{T: tWant, Want: ask}); err != nil {
			return err
		}
		for _, h := range ask {
			m, err := s.recv()
			if err != nil {
				return err
			}
			if m.T != tChunk || m.Chunk.H != h {
				return s.fail(fmt.Errorf("%w: expected chunk %x", ErrMalformed, h[:6]))
			}
			if m.Chunk.Missing {
				continue
			}
			if err := st.AddChunk(h, m.Chunk.Data); err != nil {
				return s.fail(err)
			}
			s.stats.ChunksReceived++
		}
	}
	return s.send(&msg{T: tEnd})
}

func (s *session) serveWants() error {
	st := s.r.store
	for {
		m, err := s.recv()
		if err != nil {
			return err
		}
		switch m.T {
		case tEnd:
			return nil
		case tWant:
			serve := s.contentTime()
			for _, h := range m.Want {
				c := &chunkMsg{H: h}
				if !serve {
					c.Missing = true
				} else if b, err := st.Chunk(h); err == nil {
					c.Data = b
					s.stats.ChunksSent++
				} else {
					c.Missing = true
				}
				if err := s.send(&msg{T: tChunk, Chunk: c}); err != nil {
					return err
				}
			}
		default:
			return s.fail(fmt.Errorf("%w: message %d among wants", ErrMalformed, m.T))
		}
	}
}
