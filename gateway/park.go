package gateway

import (
	"sync"
	"sync/atomic"
	"time"
)

// Parking idle connections. A registered device that sends nothing for
// parkAfter costs no goroutine and no read buffer: its reader returns its
// buffer to a pool, leaves the socket and its read deadline to the server's
// poller (epoll and a heap of deadlines, one goroutine per server), and
// ends. The
// device's next bytes, its hang-up or the deadline (SYNC, IdleTimeout)
// start a reader again, which carries on from the state kept in conn.rd
// as if it had waited in Read all along. A connection with traffic keeps
// its reader. Where the poller is not available (not Linux), readers
// never park.

// parkAfter is how long an idle reader waits in Read before it parks.
const parkAfter = 10 * time.Millisecond

// readBufLen is the size of a fresh read buffer; a longer line grows it.
const readBufLen = 256

var readBufs = sync.Pool{New: func() any { return new([readBufLen]byte) }}

func getReadBuf() []byte { return readBufs.Get().(*[readBufLen]byte)[:] }

func putReadBuf(b []byte) {
	if cap(b) == readBufLen {
		readBufs.Put((*[readBufLen]byte)(b[:readBufLen]))
	}
}

// States of parking.state.
const (
	pkRunning = iota // a reader runs (or the connection is closed)
	pkParking        // the reader is parking
	pkParked         // no reader: the poller or the timer starts one
	pkWoke           // woken while parking: the reader goes on
)

// parking is a connection's part in parking.
type parking struct {
	state atomic.Int32
	tok   uint64 // poller.mu: the poller's name for the connection
	when  int64  // poller.mu: when the poller wakes it (Unix ns), if hidx >= 0
	hidx  int32  // poller.mu: its index in the poller's deadlines, -1 if not there
	added bool   // reader: the socket is in the poller's set
	never bool   // reader: parking failed; do not try again
}

// parkable reports whether the reader may park before its next read.
func (c *conn) parkable() bool {
	r := &c.rd
	return c.s.poller != nil && c.rc != nil && !c.pk.never && c.authed &&
		r.n == 0 && !r.paused && !r.first && !c.rawHold && c.http == nil &&
		c.peer.Load() == nil && c.far.Load() == nil &&
		r.dl-time.Now().UnixNano() > int64(2*parkAfter)
}

// park hands the connection to the poller and its timer; false: it could
// not (or bytes came meanwhile), and the reader goes on. After true the
// reader returns at once: another may run already.
func (c *conn) park() bool {
	putReadBuf(c.rd.buf)
	c.rd.buf = nil
	c.pk.state.Store(pkParking)
	if !c.s.poller.watch(c, time.Unix(0, c.rd.dl)) {
		c.pk.state.Store(pkRunning)
		c.pk.never = true
		return false
	}
	if c.pk.state.CompareAndSwap(pkParking, pkParked) {
		return true
	}
	c.pk.state.Store(pkRunning) // woken while parking
	return false
}

// wake starts a reader for a parked connection.
func (c *conn) wake() {
	for {
		switch c.pk.state.Load() {
		case pkParking:
			if c.pk.state.CompareAndSwap(pkParking, pkWoke) {
				return
			}
		case pkParked:
			if c.pk.state.CompareAndSwap(pkParked, pkRunning) {
				c.resume()
				return
			}
		default:
			return
		}
	}
}

func (c *conn) resume() {
	s := c.s
	s.mu.Lock()
	if s.closed || c.closing.Load() {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.readLoop()
}

// unpark forgets a closing connection's parking.
func (c *conn) unpark() {
	if p := c.s.poller; p != nil {
		p.forget(c)
	}
}
