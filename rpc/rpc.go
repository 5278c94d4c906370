package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/dialerr"
	"github.com/coconet/coconet/node"
)

// Proto is the request/reply protocol ID.
const Proto = "/coco/rpc/1.0.0"

// maxInflight bounds the handlers running at once for one caller stream;
// past it the stream is not read until one finishes (backpressure).
const maxInflight = 256

// Request is one call as the handler sees it. From is the caller as the
// serving node's ledger records it. Payload is the handler's: each request
// is read into memory of its own, which the handler may keep.
type Request struct {
	From    node.Sender
	Service string
	Payload []byte
}

// Handler serves one request. Its context ends when the caller's deadline
// passes, the caller gives up, or the service closes. A returned error
// reaches the caller as a *RemoteError.
type Handler func(ctx context.Context, req *Request) ([]byte, error)

// Options configures a Service.
type Options struct {
	// Authorize decides whether from may call service; a non-nil error
	// refuses the call with ErrNotAllowed (its text goes to the caller).
	// Nil allows every member.
	Authorize func(from node.Sender, service string) error
	// Logf receives diagnostic lines; nil discards them.
	Logf func(string, ...any)
}

// Service serves and calls request/reply services on one node.
type Service struct {
	n    *node.Node
	opts Options
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	hmu      sync.RWMutex // guards handlers
	handlers map[string]handler

	mu      sync.Mutex // guards following fields
	closed  bool
	conns   map[peer.ID]*connEntry // shared caller streams
	streams map[network.Stream]struct{}
}

// connEntry is a caller stream to one peer, being dialed or ready.
type connEntry struct {
	ready chan struct{} // closed when c or err is set
	c     *clientConn
	err   error
}

// New starts request/reply on a started node.
func New(n *node.Node, opts Options) (*Service, error) {
	if n == nil || n.Host() == nil {
		return nil, errors.New("rpc: the node is not started")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	s := &Service{
		n:        n,
		opts:     opts,
		handlers: map[string]handler{},
		conns:    map[peer.ID]*connEntry{},
		streams:  map[network.Stream]struct{}{},
	}
	s.ctx, s.stop = context.WithCancel(n.Context())
	n.Host().SetStreamHandler(Proto, s.handleStream)
	return s, nil
}

// Node is the node the service runs on.
func (s *Service) Node() *node.Node { return s.n }

// handler is a registered service: its handler and who may call it.
type handler struct {
	h      Handler
	access node.Access
}

// Handle registers h for name, replacing any handler; a nil h removes it.
// access says who may call it (node.JoinAccess of the list): by default
// only the owner and admins, decided on every request from this node's
// ledger; a refused caller gets ErrNotAllowed and the reason.
func (s *Service) Handle(name string, h Handler, access ...node.Access) {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if h == nil {
		delete(s.handlers, name)
		return
	}
	s.handlers[name] = handler{h: h, access: node.JoinAccess(access...)}
}

// Close stops serving, fails calls in flight and waits for handlers to
// return. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	streams := s.streams
	s.streams = map[network.Stream]struct{}{}
	s.mu.Unlock()
	if h := s.n.Host(); h != nil {
		h.RemoveStreamHandler(Proto)
	}
	s.stop()
	for st := range streams {
		st.Reset()
	}
	s.wg.Wait()
	return nil
}

// track registers a stream to be reset by Close and a goroutine for Close
// to wait on; it fails once the service is closed.
func (s *Service) track(st network.Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.streams[st] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Service) untrack(st network.Stream) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
	s.wg.Done()
}

// ---- caller side ----

// Request calls service on peer to and returns its reply. The error says
// what went wrong: errors.Is(err, ErrUnreachable), ErrUnknownService,
// ErrNotAllowed or ErrDeadline, or a *RemoteError from the handler.
func (s *Service) Request(ctx context.Context, to peer.ID, service string, payload []byte) ([]byte, error) {
	if len(service) == 0 || len(service) > MaxService {
		return nil, fmt.Errorf("rpc: service name of %d bytes: use 1 to %d bytes", len(service), MaxService)
	}
	if len(payload) > MaxPayload {
		return nil, fmt.Errorf("rpc: payload of %d bytes is over the %d byte limit; use a stream for bulk data", len(payload), MaxPayload)
	}
	if err := ctx.Err(); err != nil {
		return nil, ctxError(service, to, err)
	}
	if len(payload) > largePayload {
		// A large request gets its own stream so it does not hold up
		// small ones behind it.
		c, err := s.dial(ctx, to, service)
		if err != nil {
			return nil, err
		}
		defer c.close()
		reply, _, err := c.call(ctx, service, payload)
		return reply, err
	}
	for attempt := 0; ; attempt++ {
		c, err := s.shared(ctx, to, service)
		if err != nil {
			return nil, err
		}
		reply, sent, err := c.call(ctx, service, payload)
		if err != nil && !sent && attempt == 0 && ctx.Err() == nil {
			// The cached stream died before the request left (the peer
			// restarted, say): redial once.
			continue
		}
		return reply, err
	}
}

// shared returns the long-lived caller stream to p, dialing it if needed.
func (s *Service) shared(ctx context.Context, p peer.ID, service string) (*clientConn, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errors.New("rpc: service closed")
	}
	e := s.conns[p]
	if e == nil {
		e = &connEntry{ready: make(chan struct{})}
		s.conns[p] = e
		s.mu.Unlock()
		e.c, e.err = s.dial(ctx, p, service)
		if e.err != nil {
			s.forget(p, e)
		} else {
			e.c.entry = e
		}
		close(e.ready)
	} else {
		s.mu.Unlock()
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctxError(service, p, ctx.Err())
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.c, nil
}

// forget drops e as p's shared stream if it still is.
func (s *Service) forget(p peer.ID, e *connEntry) {
	s.mu.Lock()
	if s.conns[p] == e {
		delete(s.conns, p)
	}
	s.mu.Unlock()
}

// dial opens a caller stream to p and starts its reader.
func (s *Service) dial(ctx context.Context, p peer.ID, service string) (*clientConn, error) {
	st, err := s.n.Host().NewStream(ctx, p, Proto)
	if err != nil {
		return nil, dialError(ctx, service, p, err)
	}
	if !s.track(st) {
		st.Reset()
		return nil, errors.New("rpc: service closed")
	}
	c := &clientConn{
		s:       s,
		peer:    p,
		st:      st,
		pending: map[uint64]chan frame{},
		dead:    make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

func dialError(ctx context.Context, service string, p peer.ID, err error) error {
	if ctx.Err() != nil {
		return ctxError(service, p, ctx.Err())
	}
	switch {
	case dialerr.Refused(err):
		return fmt.Errorf("rpc: call %q on %s: %w: the peer's node refused the connection (its ledger does not list this node as a member; wait for the ledger to sync or ask an admin)", service, p.ShortString(), ErrNotAllowed)
	case dialerr.NotSupported(err):
		return fmt.Errorf("rpc: call %q on %s: %w: the peer does not serve request/reply (is its app running with rpc enabled?)", service, p.ShortString(), ErrUnknownService)
	}
	return fmt.Errorf("rpc: call %q on %s: %w: %v (check that the peer is online)", service, p.ShortString(), ErrUnreachable, err)
}

func ctxError(service string, p peer.ID, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("rpc: call %q on %s: %w", service, p.ShortString(), ErrDeadline)
	}
	return fmt.Errorf("rpc: call %q on %s: %w", service, p.ShortString(), err)
}

// clientConn is one caller stream: requests go out under wmu, one reader
// goroutine hands replies to the waiting callers.
type clientConn struct {
	s     *Service
	peer  peer.ID
	st    network.Stream
	entry *connEntry // non-nil for the shared stream
	wmu   sync.Mutex
	wbuf  []byte

	mu      sync.Mutex // guards following fields
	nextID  uint64
	pending map[uint64]chan frame
	err     error // set when the stream died
	dead    chan struct{}
}

// call sends one request and waits for its reply. sent reports whether the
// request may have reached the peer.
func (c *clientConn) call(ctx context.Context, service string, payload []byte) (reply []byte, sent bool, err error) {
	ch := make(chan frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return nil, false, err
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	f := frame{kind: kindRequest, id: id, service: service, data: payload}
	if dl, ok := ctx.Deadline(); ok {
		f.timeout = time.Until(dl)
		if f.timeout <= 0 {
			c.drop(id)
			return nil, false, ctxError(service, c.peer, context.DeadlineExceeded)
		}
	}
	if err := c.write(&f); err != nil {
		c.drop(id)
		c.fail(err)
		return nil, false, fmt.Errorf("rpc: call %q on %s: %w: %v", service, c.peer.ShortString(), ErrUnreachable, err)
	}
	// A late reply makes the node check this connection: a dead path then
	// fails the call within a second, not at its deadline.
	stop := c.s.n.WatchPending(c.st.Conn())
	defer stop()
	select {
	case r := <-ch:
		return replyResult(service, c.peer, r)
	case <-c.dead:
		select {
		case r := <-ch: // the reply raced the stream's end
			return replyResult(service, c.peer, r)
		default:
		}
		return nil, true, fmt.Errorf("rpc: call %q on %s: %w: the connection was lost before the reply (%v)", service, c.peer.ShortString(), ErrUnreachable, c.err)
	case <-ctx.Done():
		if c.drop(id) {
			c.write(&frame{kind: kindCancel, id: id})
		}
		return nil, true, ctxError(service, c.peer, ctx.Err())
	}
}

func replyResult(service string, p peer.ID, r frame) ([]byte, bool, error) {
	switch r.status {
	case statusOK:
		return r.data, true, nil
	case statusUnknown:
		return nil, true, fmt.Errorf("rpc: call %q on %s: %w: the peer serves no service of that name", service, p.ShortString(), ErrUnknownService)
	case statusDenied:
		return nil, true, fmt.Errorf("rpc: call %q on %s: %w: %s", service, p.ShortString(), ErrNotAllowed, r.data)
	case statusDeadline:
		return nil, true, fmt.Errorf("rpc: call %q on %s: %w on the peer", service, p.ShortString(), ErrDeadline)
	case statusFailed:
		return nil, true, &RemoteError{Service: service, Message: string(r.data)}
	default:
		return nil, true, fmt.Errorf("rpc: call %q on %s: the peer rejected the request: %s", service, p.ShortString(), r.data)
	}
}

// drop removes a pending call; it reports whether it was still pending.
func (c *clientConn) drop(id uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pending[id]
	delete(c.pending, id)
	return ok
}

func (c *clientConn) write(f *frame) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = appendFrame(c.wbuf[:0], f)
	_, err := c.st.Write(c.wbuf)
	if cap(c.wbuf) > 4*largePayload {
		c.wbuf = nil // do not keep a large request's buffer
	}
	return err
}

func (c *clientConn) readLoop() {
	defer c.s.untrack(c.st)
	r := bufio.NewReaderSize(c.st, 16<<10)
	for {
		f, err := readFrame(r)
		if err == nil && f.kind != kindReply {
			err = fmt.Errorf("unexpected frame kind %d from the server", f.kind)
		}
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[f.id]
		delete(c.pending, f.id)
		c.mu.Unlock()
		if ok {
			ch <- f
		}
	}
}

// fail marks the stream dead, wakes its callers and resets it.
func (c *clientConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.dead)
	c.mu.Unlock()
	if c.entry != nil {
		c.s.forget(c.peer, c.entry)
	}
	c.st.Reset()
}

// close ends a one-request stream.
func (c *clientConn) close() { c.fail(errors.New("closed")) }

// ---- server side ----

// serverConn is one inbound caller stream.
type serverConn struct {
	s    *Service
	st   network.Stream
	wmu  sync.Mutex
	wbuf []byte

	mu       sync.Mutex // guards inflight
	inflight map[uint64]context.CancelFunc
}

func (s *Service) handleStream(st network.Stream) {
	p := st.Conn().RemotePeer()
	if _, ok := s.n.SenderOf(p); !ok {
		st.Reset()
		return
	}
	if !s.track(st) {
		st.Reset()
		return
	}
	defer s.untrack(st)
	sc := &serverConn{s: s, st: st, inflight: map[uint64]context.CancelFunc{}}
	sem := make(chan struct{}, maxInflight)
	var wg sync.WaitGroup
	defer func() {
		sc.mu.Lock()
		for _, cancel := range sc.inflight {
			cancel()
		}
		sc.mu.Unlock()
		wg.Wait()
		st.Reset()
	}()
	r := bufio.NewReaderSize(st, 16<<10)
	for {
		f, err := readFrame(r)
		if err != nil {
			var big *frameSizeError
			if !errors.Is(err, errFrame) && !errors.As(err, &big) {
				return // the caller went away
			}
			s.opts.Logf("rpc: %s sent a bad frame: %v", p.ShortString(), err)
			return
		}
		switch f.kind {
		case kindCancel:
			sc.mu.Lock()
			if cancel, ok := sc.inflight[f.id]; ok {
				cancel()
			}
			sc.mu.Unlock()
			continue
		case kindReply:
			s.opts.Logf("rpc: %s sent a reply on its own request stream", p.ShortString())
			return
		}
		// Membership is checked again on every request: a removal takes
		// effect on the next one even if the stream outlives it.
		from, ok := s.n.SenderOf(p)
		if !ok {
			sc.reply(f.id, statusDenied, []byte("this node is no longer a member of the network"))
			return
		}
		if s.opts.Authorize != nil {
			if err := s.opts.Authorize(from, f.service); err != nil {
				sc.reply(f.id, statusDenied, []byte(err.Error()))
				continue
			}
		}
		s.hmu.RLock()
		e, ok := s.handlers[f.service]
		s.hmu.RUnlock()
		if !ok {
			sc.reply(f.id, statusUnknown, nil)
			continue
		}
		if err := s.n.CheckAccess(e.access, f.service, from); err != nil {
			sc.reply(f.id, statusDenied, []byte(err.Error()))
			continue
		}
		h := e.h
		var ctx context.Context
		var cancel context.CancelFunc
		if f.timeout > 0 {
			ctx, cancel = context.WithTimeout(s.ctx, f.timeout)
		} else {
			ctx, cancel = context.WithCancel(s.ctx)
		}
		sc.mu.Lock()
		sc.inflight[f.id] = cancel
		sc.mu.Unlock()
		select {
		case sem <- struct{}{}:
		case <-s.ctx.Done():
			cancel()
			return
		}
		wg.Add(1)
		go func(f frame) {
			defer wg.Done()
			defer func() { <-sem }()
			defer cancel()
			out, err := sc.run(ctx, h, &Request{From: from, Service: f.service, Payload: f.data})
			sc.mu.Lock()
			_, live := sc.inflight[f.id]
			delete(sc.inflight, f.id)
			sc.mu.Unlock()
			if !live {
				return
			}
			switch {
			case err == nil && len(out) > MaxPayload:
				sc.reply(f.id, statusFailed, fmt.Appendf(nil, "reply of %d bytes is over the %d byte limit", len(out), MaxPayload))
			case err == nil:
				sc.reply(f.id, statusOK, out)
			case errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil:
				sc.reply(f.id, statusDeadline, nil)
			default:
				sc.reply(f.id, statusFailed, []byte(err.Error()))
			}
		}(f)
	}
}

// run calls h, turning a panic into an error.
func (sc *serverConn) run(ctx context.Context, h Handler, req *Request) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			sc.s.opts.Logf("rpc: handler %q panicked: %v", req.Service, r)
			err = fmt.Errorf("the handler panicked")
		}
	}()
	return h(ctx, req)
}

func (sc *serverConn) reply(id uint64, status byte, data []byte) {
	sc.wmu.Lock()
	defer sc.wmu.Unlock()
	sc.wbuf = appendFrame(sc.wbuf[:0], &frame{kind: kindReply, id: id, status: status, data: data})
	if _, err := sc.st.Write(sc.wbuf); err != nil {
		sc.st.Reset() // the reader sees it and ends the stream
	}
	if cap(sc.wbuf) > 4*largePayload {
		sc.wbuf = nil
	}
}
