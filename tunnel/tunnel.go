package tunnel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/stream"
)

// ServicePrefix is prepended to a tunnel's name to form its stream service.
const ServicePrefix = "tunnel/"

// After the stream opens, the exposing side dials its target and writes one
// status byte before any data (pinned by TestStatusGolden):
//
//	statusOK, or statusTargetDown followed by len(reason) (1 byte) reason
const (
	statusOK         = 0
	statusTargetDown = 1
)

// Timeouts for the steps of a connection's setup.
const (
	targetDialTimeout = 10 * time.Second
	streamDialTimeout = 20 * time.Second
)

const bufSize = 128 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Stats counts a tunnel's connections and bytes. BytesIn is what arrived
// from the network (the other node), BytesOut what was sent to it.
type Stats struct {
	Conns, Active     int64
	BytesIn, BytesOut int64
}

type stats struct {
	conns, active, in, out atomic.Int64
}

func (s *stats) get() Stats {
	return Stats{Conns: s.conns.Load(), Active: s.active.Load(), BytesIn: s.in.Load(), BytesOut: s.out.Load()}
}

// conns tracks a tunnel's live connections and goroutines so Close can end
// them and wait.
type conns struct {
	wg     sync.WaitGroup
	mu     sync.Mutex // guards following fields
	closed bool
	open   map[io.Closer]struct{}
}

func (c *conns) add(cs ...io.Closer) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	if c.open == nil {
		c.open = map[io.Closer]struct{}{}
	}
	for _, x := range cs {
		c.open[x] = struct{}{}
	}
	return true
}

func (c *conns) remove(cs ...io.Closer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, x := range cs {
		delete(c.open, x)
	}
}

// closeAll marks the set closed and closes what is open; it reports
// whether this call did it.
func (c *conns) closeAll() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	open := c.open
	c.open = nil
	c.mu.Unlock()
	for x := range open {
		if r, ok := x.(interface{ Reset() error }); ok {
			r.Reset() // a stream: abort rather than wait for the peer
		} else {
			x.Close()
		}
	}
	return true
}

// Exposed is a local TCP service published to the network.
type Exposed struct {
	name, target string
	l            net.Listener
	logf         func(string, ...any)
	ctx          context.Context
	cancel       context.CancelFunc
	stats        stats
	conns        conns
}

// Expose publishes target (host:port) under name on s's node: members that
// Open it get connections to target. access says which members may
// (node.JoinAccess of the list): by default only the owner and admins;
// others read "alice's tunnel ssh is not open to guests". ctx bounds only
// the setup; Close ends the tunnel.
func Expose(ctx context.Context, s *stream.Service, name, target string, logf func(string, ...any), access ...node.Access) (*Exposed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("tunnel: expose %q: target %q is not host:port", name, target)
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	acc := node.JoinAccess(access...)
	if acc.What == "" {
		acc.What = "tunnel " + name
	}
	l, err := s.Listen(ServicePrefix+name, acc)
	if err != nil {
		return nil, fmt.Errorf("tunnel: expose %q: %w", name, err)
	}
	e := &Exposed{name: name, target: target, l: l, logf: logf}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.conns.wg.Add(1)
	go e.acceptLoop()
	return e, nil
}

// Stats reports the tunnel's connections and bytes so far.
func (e *Exposed) Stats() Stats { return e.stats.get() }

// Close stops accepting, closes every connection and waits for them. It is
// idempotent.
func (e *Exposed) Close() error {
	if e.conns.closeAll() {
		e.cancel()
		e.l.Close()
	}
	e.conns.wg.Wait()
	return nil
}

func (e *Exposed) acceptLoop() {
	defer e.conns.wg.Done()
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		sc := c.(*stream.Conn)
		if !e.conns.add(sc) {
			sc.Reset()
			return
		}
		e.conns.wg.Add(1)
		go e.serve(sc)
	}
}

func (e *Exposed) serve(sc *stream.Conn) {
	defer e.conns.wg.Done()
	defer e.conns.remove(sc)
	from := sc.Sender().Name
	ctx, cancel := context.WithTimeout(e.ctx, targetDialTimeout)
	var d net.Dialer
	tc, err := d.DialContext(ctx, "tcp", e.target)
	cancel()
	if err != nil {
		e.logf("tunnel %q: connection from %s: cannot reach %s: %v; start the service there or expose the right address", e.name, from, e.target, err)
		reason := fmt.Sprintf("the exposing node cannot reach %s (%v)", e.target, err)
		if len(reason) > 255 {
			reason = reason[:255]
		}
		sc.Write(append([]byte{statusTargetDown, byte(len(reason))}, reason...))
		sc.Close()
		return
	}
	if !e.conns.add(tc) {
		tc.Close()
		sc.Reset()
		return
	}
	defer e.conns.remove(tc)
	if _, err := sc.Write([]byte{statusOK}); err != nil {
		tc.Close()
		sc.Reset()
		return
	}
	e.stats.conns.Add(1)
	e.stats.active.Add(1)
	defer e.stats.active.Add(-1)
	pipe(tc.(*net.TCPConn), sc, &e.stats)
}

// Opened is a local port forwarding to a service exposed on another node.
type Opened struct {
	s      *stream.Service
	to     peer.ID
	name   string
	l      net.Listener
	logf   func(string, ...any)
	ctx    context.Context
	cancel context.CancelFunc
	stats  stats
	conns  conns

	errMu   sync.Mutex // guards lastErr
	lastErr error
}

// Open listens on listen (host:port, port 0 picks one; see Addr) and
// forwards each connection to the service exposed as name on peer to.
// ctx bounds only the setup; Close ends the tunnel.
func Open(ctx context.Context, s *stream.Service, to peer.ID, name, listen string, logf func(string, ...any)) (*Opened, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("tunnel: open %q: listen on %s: %w (pick another port)", name, listen, err)
	}
	o := &Opened{s: s, to: to, name: name, l: l, logf: logf}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	o.conns.wg.Add(1)
	go o.acceptLoop()
	return o, nil
}

// Addr is the local address clients connect to.
func (o *Opened) Addr() net.Addr { return o.l.Addr() }

// Stats reports the tunnel's connections and bytes so far.
func (o *Opened) Stats() Stats { return o.stats.get() }

// Err is why the last connection through the tunnel failed (the exposing
// node refused this member, is unreachable, or cannot reach its target);
// nil when it succeeded. The tunnel stays open either way.
func (o *Opened) Err() error {
	o.errMu.Lock()
	defer o.errMu.Unlock()
	return o.lastErr
}

func (o *Opened) setErr(err error) {
	o.errMu.Lock()
	o.lastErr = err
	o.errMu.Unlock()
}

// Close stops listening, closes every connection and waits for them. It is
// idempotent.
func (o *Opened) Close() error {
	if o.conns.closeAll() {
		o.cancel()
		o.l.Close()
	}
	o.conns.wg.Wait()
	return nil
}

func (o *Opened) acceptLoop() {
	defer o.conns.wg.Done()
	for {
		c, err := o.l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			o.logf("tunnel %q: accept: %v", o.name, err)
			select {
			case <-time.After(50 * time.Millisecond):
				continue
			case <-o.ctx.Done():
				return
			}
		}
		if !o.conns.add(c) {
			c.Close()
			return
		}
		o.conns.wg.Add(1)
		go o.serve(c.(*net.TCPConn))
	}
}

func (o *Opened) serve(tc *net.TCPConn) {
	defer o.conns.wg.Done()
	defer o.conns.remove(tc)
	defer tc.Close()
	ctx, cancel := context.WithTimeout(o.ctx, streamDialTimeout)
	sc, err := o.s.Dial(ctx, o.to, ServicePrefix+o.name)
	cancel()
	if err != nil {
		o.setErr(err)
		hint := fmt.Sprintf("check that the peer is online and exposes %q", o.name)
		if errors.Is(err, stream.ErrNotAllowed) {
			hint = "the exposing member must allow you"
		}
		o.logf("tunnel %q to %s: %v; the connection from %s was closed (%s)", o.name, o.to.ShortString(), err, tc.RemoteAddr(), hint)
		return
	}
	if !o.conns.add(sc) {
		sc.Reset()
		return
	}
	defer o.conns.remove(sc)
	// The exposing side says whether it reached its target before any
	// data; the client's first bytes are already on their way meanwhile.
	var status [1]byte
	if _, err := io.ReadFull(sc, status[:]); err != nil || status[0] != statusOK {
		reason := "the stream ended before the far side answered"
		if err == nil {
			reason = readReason(sc)
		}
		o.setErr(fmt.Errorf("tunnel %q: %s", o.name, reason))
		o.logf("tunnel %q to %s: %s; the connection from %s was closed (start the service on the exposing node)", o.name, o.to.ShortString(), reason, tc.RemoteAddr())
		sc.Reset()
		return
	}
	o.setErr(nil)
	o.stats.conns.Add(1)
	o.stats.active.Add(1)
	defer o.stats.active.Add(-1)
	pipe(tc, sc, &o.stats)
}

func readReason(r io.Reader) string {
	var l [1]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return "the far side refused without a reason"
	}
	b := make([]byte, l[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "the far side refused without a reason"
	}
	return string(b)
}

// pipe copies both ways between a TCP connection and a stream, carrying
// half-close across; it returns when both directions are done (or one
// failed) and both ends are closed.
func pipe(tc *net.TCPConn, sc *stream.Conn, st *stats) {
	errc := make(chan error, 2)
	go func() {
		// TCP → stream
		err := copyCount(sc, tc, &st.out)
		if err == nil {
			err = sc.CloseWrite()
		}
		errc <- err
	}()
	// stream → TCP
	err := copyCount(tc, sc, &st.in)
	if err == nil {
		err = tc.CloseWrite()
	}
	if err != nil {
		// Abort: unblock the other direction.
		sc.Reset()
		tc.Close()
		<-errc
		return
	}
	if err := <-errc; err != nil {
		sc.Reset()
	}
	sc.Close()
	tc.Close()
}

// copyCount copies src to dst until src's EOF, adding each chunk to n.
func copyCount(dst io.Writer, src io.Reader, n *atomic.Int64) error {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		k, err := src.Read(buf)
		if k > 0 {
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return werr
			}
			n.Add(int64(k))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
