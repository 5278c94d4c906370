package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Raw channels. Two ids of one push server are spliced in place: each
// reader writes its device's bytes straight into the other's socket. When
// the id asked for is connected to another push server of the network
// (Server.Forward is a Bridge), the ask travels there as a coco.push
// request ("raw"), and the second id to ask opens one stream (RawService)
// to the first one's server, which answers with a verdict byte; from then
// on each server copies between its device and the stream.

// rawAsk is the raw channel an id asked for.
type rawAsk struct {
	peer   string        // the id it asked for
	remote bool          // peer was not connected here: the ask went to the other push servers
	asked  chan struct{} // closed once the asker's reply is queued
}

// settledAsk is the asked channel of an ask answered at once.
var settledAsk = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (w *rawAsk) settled() bool {
	select {
	case <-w.asked:
		return true
	default:
		return false
	}
}

// Timeouts of raw channels across push servers.
const (
	// rawDialTimeout bounds opening a raw channel's stream: the far server
	// may wait up to forwardTimeout for its id's own ask to be answered.
	rawDialTimeout = 2 * forwardTimeout
	// maxRawFar bounds the ids of other push servers remembered as asking
	// for one id here.
	maxRawFar = 64
)

// The verdict byte a push server answers a raw channel's stream with.
const (
	rawAccepted = 0
	rawRefused  = 1
)

// Answers of Server.rawAsked (the "raw" field of a coco.push reply).
const (
	rawNotHere = ""     // the id is not connected here
	rawTold    = "wait" // the id is connected here and got "RAW:<from>"
	rawBoth    = "both" // the id asked for from too: one server opens the stream
)

var errRawRefused = errors.New("gateway: the far id does not wait for this raw channel")

// rawStream is the stream of a raw channel between two push servers (a
// *stream.Conn).
type rawStream interface {
	io.ReadWriter
	CloseWrite() error
	Close() error
	Reset() error
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// rawForwarder is a Forwarder that also pairs ids with ids connected to
// other push servers (Bridge).
type rawForwarder interface {
	// askRaw tells the push servers where to is connected that from asks
	// for a raw channel with it. found: one has it. dial: the push server
	// (its peer ID) where to has asked for from too and to which this
	// server is to open the stream.
	askRaw(ctx context.Context, account, from, to string) (found bool, dial string)
	// dialRaw opens the stream of a raw channel to the push server at
	// where, whose id to waits for from; errRawRefused if it no longer does.
	dialRaw(ctx context.Context, where, account, from, to string) (rawStream, error)
}

// farLink is this server's end of a raw channel's stream.
type farLink struct {
	st   rawStream
	ends atomic.Int32 // directions that ended cleanly
	once sync.Once
}

// end closes the stream: gracefully once both directions have ended (so
// the far server still delivers what it holds), else with a reset, which
// ends the far device's connection too.
func (f *farLink) end() {
	f.once.Do(func() {
		if f.ends.Load() == 2 {
			f.st.Close()
		} else {
			f.st.Reset()
		}
	})
}

// goRaw continues the reader on its raw channel, if it has one, starting
// with pending.
func (c *conn) goRaw(pending []byte) bool {
	if p := c.peer.Load(); p != nil {
		c.raw(p, pending)
		return true
	}
	if f := c.far.Load(); f != nil {
		c.rawFar(f, pending)
		return true
	}
	return false
}

// pair asks for a raw channel with peer; when both ids have asked for each
// other, both get [OK:RAW:<other>] and their connections are spliced. A
// peer not connected here is looked for on the other push servers.
func (c *conn) pair(account, peer string) {
	c.waitSlots() // no reply may come after the raw bytes begin
	s := c.s
	peer = s.canonID(account, peer)
	if id, ok := s.Dir.Alias(account, peer); ok {
		peer = s.canonID(account, id)
	}
	rf, _ := s.Forward.(rawForwarder)
	dialed := false
	for {
		s.mu.Lock()
		me := c.id
		if me == "" || c.account != account {
			s.mu.Unlock()
			c.reply(false, ReasonNoID)
			return
		}
		mk := acctID{account, me}
		p := s.ids[acctID{account, peer}]
		if p != nil || rf == nil || s.closed {
			c.pairLocal(p, account, me, peer) // unlocks s.mu
			return
		}
		if where := s.rawFar[mk][peer]; where != "" && !dialed {
			// peer asked for us from another push server: open the channel.
			delete(s.rawFar[mk], peer)
			delete(s.rawWant, mk)
			s.mu.Unlock()
			if c.dialFar(rf, where, account, me, peer) {
				return
			}
			dialed = true // it no longer waits for us: ask as if first
			continue
		}
		w := &rawAsk{peer: peer, remote: true, asked: make(chan struct{})}
		s.rawWant[mk] = w
		s.mu.Unlock()
		c.askFar(rf, w, account, me, peer)
		return
	}
}

// pairLocal pairs with p, connected here (nil: not connected anywhere).
// It is called with s.mu held and unlocks it.
func (c *conn) pairLocal(p *conn, account, me, peer string) {
	s := c.s
	if p == nil || p == c {
		s.mu.Unlock()
		c.reply(false, ReasonOffline)
		return
	}
	if w := s.rawWant[acctID{account, peer}]; w == nil || w.peer != me || !w.settled() {
		s.rawWant[acctID{account, me}] = &rawAsk{peer: peer, asked: settledAsk}
		s.mu.Unlock()
		p.enqueue(s.rawNotice(me), noWait, false) // tell the peer; dropped if it is busy
		c.replyLine(s.rawWaitReply(peer))
		c.rawHold = s.Dialect == DialectP2Pcluster
		return
	}
	// Both asked: neither id takes pushes any more, so nothing but the
	// replies below and raw bytes reach the two connections.
	c.unregisterLocked()
	p.unregisterLocked()
	s.mu.Unlock()
	c.replyLine(s.rawPairedReply(peer, true))
	if line := s.rawPairedReply(me, false); line != nil {
		p.enqueue(line, wait, false) // p's reader is not ours to kick
	}
	ends := new(atomic.Int32)
	c.rawEnds, p.rawEnds = ends, ends
	c.peer.Store(p)
	p.peer.Store(c)
}

// askFar asks the other push servers for peer, which is not connected
// here, and replies [OK:WAIT:peer] if one has it (and told it),
// [OK:RAW:peer] if peer has asked for us too and this server opened the
// channel, or [FAIL:OFFLINE]. A stream for w that comes meanwhile waits
// until the reply is queued.
func (c *conn) askFar(rf rawForwarder, w *rawAsk, account, me, peer string) {
	s := c.s
	defer close(w.asked)
	ctx, cancel := context.WithTimeout(s.ctx, forwardTimeout)
	found, dial := rf.askRaw(ctx, account, me, peer)
	cancel()
	if dial != "" && c.dialFar(rf, dial, account, me, peer) {
		return
	}
	if found && dial == "" {
		c.replyLine(s.rawWaitReply(peer))
		c.rawHold = s.Dialect == DialectP2Pcluster
		return
	}
	s.mu.Lock()
	if s.rawWant[acctID{account, me}] == w {
		delete(s.rawWant, acctID{account, me})
	}
	s.mu.Unlock()
	c.reply(false, ReasonOffline)
}

// dialFar opens the stream of a raw channel to the push server at where,
// whose id peer waits for me; on success c gets [OK:RAW:peer] and the
// channel runs.
func (c *conn) dialFar(rf rawForwarder, where, account, me, peer string) bool {
	s := c.s
	ctx, cancel := context.WithTimeout(s.ctx, rawDialTimeout)
	st, err := rf.dialRaw(ctx, where, account, me, peer)
	cancel()
	if err != nil {
		if !errors.Is(err, errRawRefused) && s.ctx.Err() == nil {
			s.Logf("gateway: raw channel %s/%s → %s: %v", account, me, peer, err)
		}
		return false
	}
	s.mu.Lock()
	c.unregisterLocked() // it takes no pushes any more
	s.mu.Unlock()
	c.replyLine(s.rawPairedReply(peer, true))
	c.spliceFar(st, nil) // the reader is ours: it goes raw after this line
	return true
}

// rawAsked answers the push server at where, whose id from asks for a raw
// channel with to: rawTold if to is connected here (it gets "RAW:<from>",
// and its own ask for from will open the stream to where), rawBoth if to
// has asked for from too, rawNotHere otherwise.
func (s *Server) rawAsked(account, from, to, where string) string {
	k := acctID{account, to}
	s.mu.Lock()
	c := s.ids[k]
	if c == nil || s.closed {
		s.mu.Unlock()
		return rawNotHere
	}
	if w := s.rawWant[k]; w != nil && w.remote && w.peer == from {
		s.mu.Unlock()
		return rawBoth
	}
	m := s.rawFar[k]
	if m == nil {
		m = make(map[string]string)
		s.rawFar[k] = m
	}
	if _, ok := m[from]; !ok && len(m) >= maxRawFar {
		for id := range m { // forget one; asking again renews it
			delete(m, id)
			break
		}
	}
	m[from] = where
	s.mu.Unlock()
	c.enqueue(s.rawNotice(from), noWait, false) // dropped if it is busy, as here
	return rawTold
}

// acceptRaw pairs to, connected here and waiting for from of another push
// server, with the stream that server opened, and writes the verdict on
// st. If to's own ask is still out, it waits (until ctx ends) for its
// reply to be queued. errRawRefused: to does not wait for from.
func (s *Server) acceptRaw(ctx context.Context, account, from, to string, st rawStream) error {
	k := acctID{account, to}
	for {
		s.mu.Lock()
		c, w := s.ids[k], s.rawWant[k]
		if s.closed || c == nil || w == nil || !w.remote || w.peer != from {
			s.mu.Unlock()
			return errRawRefused
		}
		if !w.settled() {
			s.mu.Unlock()
			select {
			case <-w.asked:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		c.unregisterLocked() // it takes no pushes any more
		s.mu.Unlock()
		st.SetWriteDeadline(time.Now().Add(rawDialTimeout))
		if _, err := st.Write([]byte{rawAccepted}); err != nil {
			s.Logf("gateway: raw channel %s/%s ← %s: %v", account, to, from, err)
			st.Reset()
			c.close()
			return nil
		}
		st.SetWriteDeadline(time.Time{})
		// The reply goes after far is set: the device may send raw bytes
		// as soon as it has it, and its reader must not take them for a
		// line.
		c.spliceFar(st, s.rawPairedReply(from, false))
		return nil
	}
}

// spliceFar makes st the other end of c's raw channel: c's reader copies
// the device's bytes to it (rawFar) and pump copies its bytes to the
// device, after reply (if not nil).
func (c *conn) spliceFar(st rawStream, reply []byte) {
	f := &farLink{st: st}
	s := c.s
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		f.end()
		c.close()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	c.far.Store(f)
	if reply != nil { // before pump hands the connection over
		c.enqueue(reply, wait, false)
	}
	go c.pump(f)
}

// pump copies the stream of c's raw channel to the device, once c's
// queued lines are out. The stream's end (the far device ended its side)
// ends the device's stream; the connection closes when both directions
// have ended, or at once on an error, a reset, or after IdleTimeout
// without bytes.
func (c *conn) pump(f *farLink) {
	defer c.s.wg.Done()
	<-c.handOver()
	if c.closing.Load() {
		f.end()
		return
	}
	buf := make([]byte, 32<<10)
	for {
		f.st.SetReadDeadline(time.Now().Add(c.s.IdleTimeout))
		m, err := f.st.Read(buf)
		if m > 0 {
			c.nc.SetWriteDeadline(time.Now().Add(c.s.IdleTimeout))
			if _, err := c.nc.Write(buf[:m]); err != nil {
				c.close()
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if tc, ok := c.nc.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			if f.ends.Add(1) == 2 {
				c.close()
			}
			return
		}
		if err != nil {
			c.close()
			return
		}
	}
}

// rawFar copies the connection's bytes, starting with pending, to the
// stream of its raw channel; the device's end (EOF) ends the stream's
// write side, and the far device reads the end of its stream.
func (c *conn) rawFar(f *farLink, pending []byte) {
	c.forward(f.st, pending, func() { f.st.CloseWrite() }, &f.ends)
}

// raw copies the connection's bytes, starting with pending, to the peer of
// its raw channel on this server, writing to the peer's connection
// directly once the peer's queued lines are out. When the device ends its
// side (EOF) the peer's device sees the end of the stream and the other
// direction goes on; the two connections close when both directions have
// ended, or at once on an error or after IdleTimeout without bytes.
func (c *conn) raw(p *conn, pending []byte) {
	<-p.handOver()
	if p.closing.Load() {
		c.close()
		return
	}
	closeWrite := func() {
		if tc, ok := p.nc.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}
	c.forward(p.nc, pending, closeWrite, c.rawEnds)
}

// forward copies the connection's bytes, starting with pending, to w, each
// write bounded by IdleTimeout, as is each read. At the device's end (EOF)
// it ends w's direction with closeWrite and counts the direction in ends:
// the connection closes when both directions have ended. An error or a
// timeout closes it at once.
func (c *conn) forward(w interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}, pending []byte, closeWrite func(), ends *atomic.Int32) {
	write := func(b []byte) bool {
		w.SetWriteDeadline(time.Now().Add(c.s.IdleTimeout))
		_, err := w.Write(b)
		return err == nil
	}
	if len(pending) > 0 && !write(pending) {
		c.close()
		return
	}
	buf := make([]byte, 32<<10)
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.IdleTimeout))
		m, err := c.nc.Read(buf)
		if m > 0 && !write(buf[:m]) {
			c.close()
			return
		}
		if errors.Is(err, io.EOF) {
			closeWrite()
			if ends.Add(1) == 2 {
				c.close()
			}
			return
		}
		if err != nil {
			c.close()
			return
		}
	}
}
