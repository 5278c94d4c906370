package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/dialerr"
	"github.com/coconet/coconet/node"
)

// Proto is the stream protocol ID.
const Proto = "/coco/stream/1.0.0"

// MaxService is the longest service name.
const MaxService = 255

// The header exchange (pinned by TestHeaderGolden):
//
//	dialer:   len(service) (1 byte) service
//	listener: status (1 byte); on refusal, len(reason) (1 byte) reason
const (
	statusOK      = 0
	statusUnknown = 1 // nobody listens on that service
	statusDenied  = 2 // not a member, or Authorize refused
	statusBusy    = 3 // the listener's accept queue stayed full
)

// acceptBacklog is how many connections may wait for Accept per listener.
const acceptBacklog = 64

// handshakeTimeout bounds the header exchange on both sides.
const handshakeTimeout = 10 * time.Second

// Errors returned by Dial, matched with errors.Is.
var (
	ErrUnreachable    = errors.New("peer unreachable")
	ErrUnknownService = errors.New("unknown service")
	ErrNotAllowed     = errors.New("not allowed")
	ErrClosed         = errors.New("stream service closed")
)

// Options configures a Service.
type Options struct {
	// Authorize decides whether from may connect to service; a non-nil
	// error refuses the stream (its text goes to the dialer). Nil allows
	// every member.
	Authorize func(from node.Sender, service string) error
	// Logf receives diagnostic lines; nil discards them.
	Logf func(string, ...any)
}

// Service dials and listens for streams on one node.
type Service struct {
	n    *node.Node
	opts Options

	mu        sync.Mutex // guards following fields
	closed    bool
	listeners map[string]*listener
}

// New starts streams on a started node.
func New(n *node.Node, opts Options) (*Service, error) {
	if n == nil || n.Host() == nil {
		return nil, errors.New("stream: the node is not started")
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	s := &Service{n: n, opts: opts, listeners: map[string]*listener{}}
	n.Host().SetStreamHandler(Proto, s.handleStream)
	return s, nil
}

// Node is the node the service runs on.
func (s *Service) Node() *node.Node { return s.n }

// Close stops accepting streams and closes every listener. Connections
// already accepted stay open; their owners close them. It is idempotent.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := s.listeners
	s.listeners = map[string]*listener{}
	s.mu.Unlock()
	if h := s.n.Host(); h != nil {
		h.RemoveStreamHandler(Proto)
	}
	for _, l := range ls {
		l.close()
	}
	return nil
}

// Dial opens a stream to service on peer to. It returns once the peer has
// accepted it; a refusal is an error that says why (errors.Is with
// ErrUnreachable, ErrUnknownService or ErrNotAllowed).
func (s *Service) Dial(ctx context.Context, to peer.ID, service string) (*Conn, error) {
	if len(service) == 0 || len(service) > MaxService {
		return nil, fmt.Errorf("stream: service name of %d bytes: use 1 to %d bytes", len(service), MaxService)
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	where := fmt.Sprintf("stream: dial %q on %s", service, to.ShortString())
	st, err := s.n.Host().NewStream(ctx, to, Proto)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", where, ctx.Err())
		}
		switch {
		case dialerr.Refused(err):
			return nil, fmt.Errorf("%s: %w: the peer's node refused the connection (its ledger does not list this node as a member; wait for the ledger to sync or ask an admin)", where, ErrNotAllowed)
		case dialerr.NotSupported(err):
			return nil, fmt.Errorf("%s: %w: the peer does not accept streams (is its app running?)", where, ErrUnknownService)
		}
		return nil, fmt.Errorf("%s: %w: %v (check that the peer is online)", where, ErrUnreachable, err)
	}
	// One write for the header, then one read for the verdict.
	dl := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	st.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	defer stop()
	hdr := append([]byte{byte(len(service))}, service...)
	if _, err := st.Write(hdr); err != nil {
		st.Reset()
		return nil, dialErr(ctx, where, err)
	}
	var status [1]byte
	if _, err := io.ReadFull(st, status[:]); err != nil {
		st.Reset()
		return nil, dialErr(ctx, where, err)
	}
	if status[0] != statusOK {
		reason := readReason(st)
		st.Reset()
		switch status[0] {
		case statusUnknown:
			return nil, fmt.Errorf("%s: %w: nobody listens on %q there (is the service running on that node?)", where, ErrUnknownService, service)
		case statusDenied:
			return nil, fmt.Errorf("%s: %w: %s", where, ErrNotAllowed, reason)
		case statusBusy:
			return nil, fmt.Errorf("%s: the listener is not accepting connections fast enough; try again", where)
		default:
			return nil, fmt.Errorf("%s: refused with status %d: %s", where, status[0], reason)
		}
	}
	if !stop() {
		st.Reset()
		return nil, fmt.Errorf("%s: %w", where, ctx.Err())
	}
	st.SetDeadline(time.Time{})
	from, _ := s.n.SenderOf(to)
	return &Conn{st: st, sender: from, service: service}, nil
}

func dialErr(ctx context.Context, where string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", where, ctx.Err())
	}
	return fmt.Errorf("%s: %w: the stream ended during the handshake: %v", where, ErrUnreachable, err)
}

func readReason(r io.Reader) string {
	var l [1]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "no reason given"
	}
	b := make([]byte, l[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "no reason given"
	}
	return string(b)
}

// refuse answers a refusal with a reason of at most 255 bytes.
func refuse(st network.Stream, status byte, reason string) {
	if len(reason) > 255 {
		reason = reason[:255]
	}
	st.Write(append([]byte{status, byte(len(reason))}, reason...))
	st.Close()
}

// Listen returns a listener for service; its Accept returns *Conn. A
// service has at most one listener at a time. access says who may open
// streams to it (node.JoinAccess of the list): by default only the owner
// and admins, decided on every stream from this node's ledger; a refused
// dialer reads why.
func (s *Service) Listen(service string, access ...node.Access) (net.Listener, error) {
	if len(service) == 0 || len(service) > MaxService {
		return nil, fmt.Errorf("stream: service name of %d bytes: use 1 to %d bytes", len(service), MaxService)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if _, ok := s.listeners[service]; ok {
		return nil, fmt.Errorf("stream: %q already has a listener on this node; close it first", service)
	}
	l := &listener{s: s, service: service, access: node.JoinAccess(access...), ch: make(chan *Conn, acceptBacklog), done: make(chan struct{})}
	s.listeners[service] = l
	return l, nil
}

func (s *Service) handleStream(st network.Stream) {
	p := st.Conn().RemotePeer()
	from, ok := s.n.SenderOf(p)
	if !ok {
		st.Reset()
		return
	}
	st.SetDeadline(time.Now().Add(handshakeTimeout))
	var l [1]byte
	if _, err := io.ReadFull(st, l[:]); err != nil || l[0] == 0 {
		st.Reset()
		return
	}
	name := make([]byte, l[0])
	if _, err := io.ReadFull(st, name); err != nil {
		st.Reset()
		return
	}
	service := string(name)
	if s.opts.Authorize != nil {
		if err := s.opts.Authorize(from, service); err != nil {
			s.opts.Logf("stream: refused %s (%s) on %q: %v", from.Name, p.ShortString(), service, err)
			refuse(st, statusDenied, err.Error())
			return
		}
	}
	s.mu.Lock()
	ln := s.listeners[service]
	s.mu.Unlock()
	if ln == nil {
		refuse(st, statusUnknown, "")
		return
	}
	if err := s.n.CheckAccess(ln.access, service, from); err != nil {
		s.opts.Logf("stream: refused %s (%s) on %q: %v", from.Name, p.ShortString(), service, err)
		refuse(st, statusDenied, err.Error())
		return
	}
	c := &Conn{st: st, sender: from, service: service}
	// The verdict goes out before the connection is handed over so that
	// it always precedes the application's bytes.
	if _, err := st.Write([]byte{statusOK}); err != nil {
		st.Reset()
		return
	}
	st.SetDeadline(time.Time{})
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	select {
	case ln.ch <- c:
	case <-ln.done:
		st.Reset()
	case <-t.C:
		s.opts.Logf("stream: %q: Accept not called for %v; dropped a stream from %s", service, handshakeTimeout, from.Name)
		st.Reset()
	}
}

// listener is what Listen returns.
type listener struct {
	s       *Service
	service string
	access  node.Access
	ch      chan *Conn
	done    chan struct{}
	once    sync.Once
}

// Accept waits for the next stream; it returns a *Conn.
func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops listening; streams not yet accepted are reset.
func (l *listener) Close() error {
	l.s.mu.Lock()
	if l.s.listeners[l.service] == l {
		delete(l.s.listeners, l.service)
	}
	l.s.mu.Unlock()
	l.close()
	return nil
}

func (l *listener) close() {
	l.once.Do(func() {
		close(l.done)
		for {
			select {
			case c := <-l.ch:
				c.st.Reset()
			default:
				return
			}
		}
	})
}

func (l *listener) Addr() net.Addr { return Addr{Peer: l.s.n.ID(), Service: l.service} }

// Addr is a stream endpoint: a node and a service name.
type Addr struct {
	Peer    peer.ID
	Service string
}

func (Addr) Network() string  { return "coconet" }
func (a Addr) String() string { return a.Peer.String() + "/" + a.Service }

// Conn is one stream: a net.Conn with half-close and the sender's identity.
type Conn struct {
	st      network.Stream
	sender  node.Sender
	service string
}

var _ net.Conn = (*Conn)(nil)

func (c *Conn) Read(b []byte) (int, error)  { return c.st.Read(b) }
func (c *Conn) Write(b []byte) (int, error) { return c.st.Write(b) }

// Close closes both directions; unread incoming data is discarded.
func (c *Conn) Close() error { return c.st.Close() }

// CloseWrite half-closes the stream: the peer reads io.EOF after the data
// already written, and can keep writing to us.
func (c *Conn) CloseWrite() error { return c.st.CloseWrite() }

// CloseRead stops reading; the peer's further writes fail.
func (c *Conn) CloseRead() error { return c.st.CloseRead() }

// Reset aborts the stream in both directions.
func (c *Conn) Reset() error { return c.st.Reset() }

// Sender is the member at the other end, as this node's ledger records it.
func (c *Conn) Sender() node.Sender { return c.sender }

// Service is the service name the stream was opened for.
func (c *Conn) Service() string { return c.service }

func (c *Conn) LocalAddr() net.Addr {
	return Addr{Peer: c.st.Conn().LocalPeer(), Service: c.service}
}

func (c *Conn) RemoteAddr() net.Addr {
	return Addr{Peer: c.st.Conn().RemotePeer(), Service: c.service}
}

func (c *Conn) SetDeadline(t time.Time) error      { return c.st.SetDeadline(t) }
func (c *Conn) SetReadDeadline(t time.Time) error  { return c.st.SetReadDeadline(t) }
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.st.SetWriteDeadline(t) }
