package gateway

import (
	"bytes"
	"container/list"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coconet/coconet/internal/srckey"
)

// Defaults of the Server fields left zero.
const (
	DefaultMaxLine     = 4096
	DefaultIdleTimeout = 5 * time.Minute
	DefaultAuthTimeout = 10 * time.Second
	// DefaultMaxConns is the cap of open connections; Start lowers it to
	// a quarter of the process's file descriptor limit, so that a flood of
	// connections leaves the rest of the daemon (its local API, libp2p)
	// descriptors to work with.
	DefaultMaxConns = 20000
	// DefaultMaxConnsPerIP is the cap of open connections from one IP
	// address (an IPv6 /64): room for many devices behind one NAT.
	DefaultMaxConnsPerIP = 256
	// queueLen bounds the lines waiting to be written to one connection.
	queueLen = 64
	// batchQueueLen bounds them while one batch is queued before its
	// kick (with later: a read's replies and pushes, or one bridge
	// request's pushes, up to maxBatch for one device): a burst that
	// arrives in one batch is not dropped for being one batch.
	batchQueueLen = queueLen + maxBatch
	// forwardTimeout bounds one call of Forwarder.Forward.
	forwardTimeout = 10 * time.Second
	// lingerTime and lingerBytes bound the drain of a closing connection.
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 10
	// maxGroup bounds the ids one group push resolves to.
	maxGroup = 10000
)

// Server is a P2Pcluster line-protocol push server for tiny devices.
type Server struct {
	Listen  string    // TCP address, e.g. "127.0.0.1:0"
	Keys    KeyStore  // account keys; required
	Dir     Directory // groups and aliases; nil is an empty directory
	Forward Forwarder // pushes to ids not connected here; nil: they are offline
	Logf    func(format string, args ...any)
	Now     func() time.Time // TIME's clock; nil is time.Now
	// MaxLine is the longest line accepted, terminator excluded; a longer
	// line gets [FAIL:TOOLONG] and the connection closes.
	MaxLine int
	// IdleTimeout is how long a connection may take to complete its next
	// line (and, on a raw channel, to send its next bytes), and to accept
	// a write. A device that only listens sends an empty line to stay.
	IdleTimeout time.Duration
	// AuthTimeout is how long a new connection has to send its first line
	// with a valid key; until then empty lines and refused lines do not
	// keep it open. Zero is DefaultAuthTimeout.
	AuthTimeout time.Duration
	// MaxConns caps the open connections, MaxConnsPerIP those from one IP
	// address (IPv6: one /64). A new connection over MaxConns takes the
	// place of the oldest connection that has not yet sent a valid key
	// (which is closed), so that a flood of idle connections cannot keep
	// devices out; with none such, and over MaxConnsPerIP, it gets
	// [FAIL:TOOMANY] and is closed. Zero is the default (see
	// DefaultMaxConns, DefaultMaxConnsPerIP).
	MaxConns      int
	MaxConnsPerIP int
	// Dialect is the wire protocol; the zero value is DialectCoconet.
	Dialect Dialect
	// ReadPause (P2Pcluster dialect) is how long bytes without a
	// terminator wait for more before they are taken as one command; zero
	// is DefaultReadPause.
	ReadPause time.Duration
	// SyncEvery (P2Pcluster dialect) is how long a device that has sent a
	// valid key may stay silent before it gets [SYNC:…]; it is never
	// dropped for silence. Zero is DefaultSyncEvery.
	SyncEvery time.Duration
	// Mail (P2Pcluster dialect's TCP:EMAIL) sends mail; nil refuses it.
	Mail *Mailer
	// Edit writes a change of the groups and routers made over HTTP on
	// the device port (P2Pcluster dialect), e.g. with Apply to the
	// network's ledger; nil edits a *MemDirectory Dir, else refuses.
	Edit func(Change) error

	pushes    atomic.Int64 // PUSH commands accepted
	delivered atomic.Int64 // pushes handed to a connection of this server
	forwarded atomic.Int64 // pushes delivered by other push servers
	refused   atomic.Int64 // connections refused over a cap
	evicted   atomic.Int64 // connections without a key closed for a new one

	ln           net.Listener
	poller       *poller                         // parked connections; nil: readers never park
	wrapListener func(net.Listener) net.Listener // tests: fail some accepts
	ctx          context.Context
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	once         sync.Once
	err          error

	mu      sync.Mutex // guards all following fields
	closed  bool
	conns   map[*conn]struct{}
	perIP   map[string]int // open connections by source (ipKey)
	unauth  list.List      // of *conn: those without a valid key yet, oldest first
	ids     map[acctID]*conn
	rawWant map[acctID]*rawAsk           // (account, id) → the raw channel it asked for
	rawFar  map[acctID]map[string]string // (account, id) → ids on other push servers that asked for it → where
}

type acctID struct{ account, id string }

// Start listens on s.Listen and serves until Close. ctx bounds only the
// start.
func (s *Server) Start(ctx context.Context) error {
	if s.Keys == nil {
		return errors.New("gateway: no KeyStore; set Server.Keys")
	}
	if s.Dir == nil {
		s.Dir = &MemDirectory{}
	}
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.MaxLine <= 0 {
		s.MaxLine = DefaultMaxLine
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = DefaultIdleTimeout
	}
	if s.AuthTimeout <= 0 {
		s.AuthTimeout = DefaultAuthTimeout
		if s.Dialect == DialectP2Pcluster {
			s.AuthTimeout = DefaultRegisterTimeout
		}
	}
	if s.ReadPause <= 0 {
		s.ReadPause = DefaultReadPause
	}
	if s.SyncEvery <= 0 {
		s.SyncEvery = DefaultSyncEvery
	}
	if s.MaxConns <= 0 {
		s.MaxConns = DefaultMaxConns
		var rl syscall.Rlimit
		if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur/4 < uint64(s.MaxConns) {
			s.MaxConns = max(int(rl.Cur/4), 16)
		}
	}
	if s.MaxConnsPerIP <= 0 {
		s.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("gateway: listen on %s: %w", s.Listen, err)
	}
	if s.wrapListener != nil {
		ln = s.wrapListener(ln)
	}
	s.ln = ln
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.conns = make(map[*conn]struct{})
	s.perIP = make(map[string]int)
	s.ids = make(map[acctID]*conn)
	s.rawWant = make(map[acctID]*rawAsk)
	s.rawFar = make(map[acctID]map[string]string)
	if s.poller, err = newPoller(); err != nil {
		s.Logf("gateway: idle connections keep their reader: %v", err)
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stats are a server's counters.
type Stats struct {
	Conns     int   `json:"conns"`     // device connections open
	IDs       int   `json:"ids"`       // registered ids
	Pushes    int64 `json:"pushes"`    // PUSH commands accepted
	Delivered int64 `json:"delivered"` // pushes handed to a device here (from here or afar)
	Forwarded int64 `json:"forwarded"` // pushes from here that other push servers delivered
	Refused   int64 `json:"refused"`   // connections refused over a cap
	Evicted   int64 `json:"evicted"`   // connections without a valid key yet, closed to make room
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Conns: len(s.conns), IDs: len(s.ids)}
	s.mu.Unlock()
	st.Pushes, st.Delivered, st.Forwarded = s.pushes.Load(), s.delivered.Load(), s.forwarded.Load()
	st.Refused, st.Evicted = s.refused.Load(), s.evicted.Load()
	return st
}

// Close stops the server, closes every connection and waits for every
// goroutine. It is idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		if s.ln == nil {
			return
		}
		s.cancel()
		s.err = s.ln.Close()
		s.mu.Lock()
		s.closed = true
		conns := make([]*conn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()
		for _, c := range conns {
			c.close()
		}
		if s.poller != nil {
			s.poller.stop()
		}
		s.wg.Wait()
	})
	return s.err
}

// Accept errors (EMFILE: out of file descriptors) make the accept loop
// wait, doubling from minAcceptDelay to maxAcceptDelay as net/http's
// Server does; one line per acceptLogEvery says how many there were.
const (
	minAcceptDelay = 5 * time.Millisecond
	maxAcceptDelay = time.Second
	acceptLogEvery = 10 * time.Second
)

// ipKey is the source a connection counts against in MaxConnsPerIP: its
// IPv4 address, or the /64 of its IPv6 address.
func ipKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	return srckey.IP(ta.IP)
}

// refuse tells a connection over a cap why, without waiting, and closes it.
func (s *Server) refuse(nc net.Conn) {
	// A fresh socket's send buffer takes the line at once; the deadline
	// only bounds the odd case where it does not.
	nc.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	nc.Write(s.replyLine(false, ReasonTooMany))
	nc.Close()
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	var delay time.Duration
	var lastLog time.Time
	var errs int
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			errs++
			if now := time.Now(); now.Sub(lastLog) >= acceptLogEvery {
				s.Logf("gateway: accept: %v (%d accept errors since the last report; waiting up to %v between tries)", err, errs, maxAcceptDelay)
				lastLog, errs = now, 0
			}
			delay = min(max(2*delay, minAcceptDelay), maxAcceptDelay)
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		c, ip := &conn{s: s, nc: nc}, ipKey(nc.RemoteAddr())
		c.room.L = &c.wmu
		if sc, ok := nc.(syscall.Conn); ok {
			c.rc, _ = sc.SyscallConn()
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			return
		}
		var evict *conn
		if len(s.conns) >= s.MaxConns && s.unauth.Len() > 0 && s.perIP[ip] < s.MaxConnsPerIP {
			evict = s.unauth.Remove(s.unauth.Front()).(*conn)
			evict.pending = nil
		}
		if (len(s.conns) >= s.MaxConns && evict == nil) || s.perIP[ip] >= s.MaxConnsPerIP {
			s.mu.Unlock()
			s.refused.Add(1)
			s.refuse(nc)
			continue
		}
		s.perIP[ip]++
		s.conns[c] = struct{}{}
		c.pending = s.unauth.PushBack(c)
		s.wg.Add(1)
		s.mu.Unlock()
		if evict != nil {
			s.evicted.Add(1)
			evict.close()
		}
		go c.readLoop()
	}
}

// Deliver hands data as "PUSH:<data>" to the ids of account connected to
// this server and returns how many took it. Data holding a newline is
// refused (it would forge lines): Deliver returns 0.
func (s *Server) Deliver(account string, ids []string, data []byte) int {
	return s.DeliverPush(Push{Account: account, To: ids, Data: data})
}

// DeliverPush delivers a push another push server forwarded (see
// Forwarder) to the ids of p.To connected here and, if p.Loose, to the
// connected ids outside the tree; it returns how many took it. Data
// holding a newline is refused: DeliverPush returns 0.
func (s *Server) DeliverPush(p Push) int {
	var k kicks
	n := s.deliverPush(&k, p)
	k.kick()
	return n
}

// deliverPush is DeliverPush leaving the kicks to k.
func (s *Server) deliverPush(k *kicks, p Push) int {
	if bytes.IndexByte(p.Data, '\n') >= 0 {
		return 0
	}
	to := p.To
	if p.Loose {
		skip := map[string]bool{p.From: true}
		for _, id := range to {
			skip[id] = true
		}
		to = append(slices.Clone(to), s.looseIDs(p.Account, skip)...)
	}
	n, _, _ := s.deliverLocal(k, p.Account, to, s.pushLine(p.Data))
	return n
}

// looseIDs lists the ids of account connected here that are outside the
// tree (no parent, no children), except those in skip.
func (s *Server) looseIDs(account string, skip map[string]bool) []string {
	s.mu.Lock()
	var local []string
	for k := range s.ids {
		if k.account == account && !skip[k.id] {
			local = append(local, k.id)
		}
	}
	s.mu.Unlock()
	slices.Sort(local)
	var out []string
	for _, id := range local {
		if _, inTree := s.Dir.Parent(account, id); !inTree && len(s.Dir.Children(account, id)) == 0 {
			out = append(out, id)
		}
	}
	return out
}

func pushLine(data []byte) []byte {
	line := make([]byte, 0, len("PUSH:")+len(data)+1)
	line = append(line, "PUSH:"...)
	line = append(line, data...)
	return append(line, '\n')
}

// deliverLocal queues line on the connections of ids without blocking. It
// returns how many took it, the ids not connected here, and how many were
// connected but too busy.
// With later, the connections that got it are added to later instead of
// being kicked: the caller kicks them (later.kick) once it has queued all
// it had.
func (s *Server) deliverLocal(later *kicks, account string, ids []string, line []byte) (n int, remote []string, busy int) {
	var one [1]*conn
	conns := one[:0]
	s.mu.Lock()
	for _, id := range ids {
		conns = append(conns, s.ids[acctID{account, id}])
	}
	s.mu.Unlock()
	for i, c := range conns {
		if c == nil {
			remote = append(remote, ids[i])
			continue
		}
		switch c.enqueue(line, noWait, later != nil) {
		case queued:
			if later != nil {
				later.add(c)
			}
			n++
			s.delivered.Add(1)
		case full:
			busy++
			s.Logf("gateway: %s/%s: queue full, push dropped", account, ids[i])
		case gone:
			remote = append(remote, ids[i])
		}
	}
	return n, remote, busy
}

// conn is one device connection. Its read goroutine parses lines and owns
// key and sess. What it writes waits in a queue; a writer goroutine runs
// only while the queue holds something, and a reader only while the device
// sends (see park.go), so an idle device costs neither a goroutine nor a
// buffer.
type conn struct {
	s       *Server
	nc      net.Conn
	rc      syscall.RawConn // nc's, for writes that must not wait; nil if it has none
	closing atomic.Bool
	peer    atomic.Pointer[conn]    // the other end of a raw channel on this server
	rawEnds *atomic.Int32           // raw: directions that ended cleanly (set before peer)
	far     atomic.Pointer[farLink] // the stream of a raw channel to another push server

	authed     bool          // read goroutine: a line with a valid key came
	rawHold    bool          // read goroutine (P2Pcluster): asked first for a raw channel; bytes wait for it
	ended      bool          // read goroutine: finish was called; read no more
	keyFails   int32         // read goroutine: lines with a wrong key before one with a valid key
	sent       [][]byte      // read goroutine (P2Pcluster): the last pushes sent, for RETDATA
	http       *httpReq      // read goroutine (P2Pcluster): an HTTP request whose headers are coming
	key        string        // read goroutine: the account key the id was registered with
	sess       *session      // read goroutine: the active session, if any
	dirty      kicks         // read goroutine: connections it queued on and has yet to kick
	rd         readState     // read goroutine
	pk         parking       // see park.go
	slotTokens chan struct{} // read goroutine makes it: one token per reply in slots

	rmu     sync.Mutex   // guards slots and capture; taken before wmu
	slots   []*replySlot // replies in order, the first waiting for other push servers
	capture *[]byte      // replies go here instead (GET /TCP:<command>)

	wmu       sync.Mutex // guards the following fields
	room      sync.Cond  // on wmu: the queue shrank, or the connection closed or was handed over
	queue     [][]byte   // lines (or raw bytes) to write
	writing   bool       // a writer goroutine runs (or finish lingers)
	shut      bool       // closed: nothing is queued any more
	finishing bool       // write what is queued, then close
	handed    bool       // handoff is closed: the raw peer writes to nc from now on
	handoff   chan struct{}

	// s.mu guards:
	account, id string
	pending     *list.Element // in s.unauth until a line with a valid key
}

type session struct {
	mode      Mode
	perPacket bool
	p2p       bool // the P2Pcluster forms: upper-case MD5 hex, the original's DSTCP data
	key, rnd  string
	skey      string // SessionKey(mode, key, rnd)
}

// close closes the connection now, and its raw peer or stream. (Not a
// sync.Once: the two ends of a raw channel close each other.)
func (c *conn) close() {
	if c.closing.Swap(true) {
		return
	}
	c.wmu.Lock()
	c.shut = true
	c.queue = nil
	c.handOverLocked()
	c.room.Broadcast()
	c.wmu.Unlock()
	c.nc.Close()
	c.unpark()
	s := c.s
	s.mu.Lock()
	delete(s.conns, c)
	if c.pending != nil {
		s.unauth.Remove(c.pending)
		c.pending = nil
	}
	ip := ipKey(c.nc.RemoteAddr()) // as at accept: not kept, to save memory
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
	c.unregisterLocked()
	s.mu.Unlock()
	if p := c.peer.Load(); p != nil {
		p.close()
	}
	if f := c.far.Load(); f != nil {
		f.end()
	}
}

func (c *conn) unregisterLocked() {
	if c.id == "" {
		return
	}
	k := acctID{c.account, c.id}
	if c.s.ids[k] == c {
		delete(c.s.ids, k)
	}
	delete(c.s.rawWant, k)
	delete(c.s.rawFar, k)
	c.account, c.id = "", ""
}

// Results of enqueue.
const (
	queued = iota
	full   // the queue holds queueLen items
	gone   // the connection is closed, closing, or handed to a raw channel
)

// How enqueue treats a full queue.
const (
	noWait = iota // report full (pushes: BUSY)
	wait          // wait for room (replies: a device that reads them too slowly makes its own commands wait)
	force         // queue anyway (replies from slots, bounded by maxSlots)
)

// enqueue queues b. With later, the caller's reader kicks the connection
// when it has handled all the lines it read (see kickLater), so that the
// replies and pushes of one read go out together; otherwise enqueue kicks
// it now. how says what to do when the queue is full.
func (c *conn) enqueue(b []byte, how int, later bool) int {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	limit := queueLen
	if later {
		limit = batchQueueLen
	}
	for len(c.queue) >= limit && !c.shut && c.handoff == nil && how != force {
		if !c.writing {
			c.kickLocked() // make room now
			continue
		}
		if how == noWait {
			return full
		}
		c.room.Wait()
	}
	if c.shut || c.finishing || c.handoff != nil {
		return gone
	}
	c.queue = append(c.queue, b)
	if !later {
		c.kickLocked()
	}
	return queued
}

// kickLocked starts writing the queue unless a write runs. A single item
// is written at once if the socket has room (what a push waiting for
// nothing else costs: one write, no goroutine); more, or what did not fit,
// go to a writer goroutine, which writes them with one writev each round.
func (c *conn) kickLocked() {
	if c.writing || c.shut || (len(c.queue) == 0 && !c.finishing) {
		return
	}
	c.writing = true // from here on nobody else writes
	if len(c.queue) == 1 && c.rc != nil {
		b := c.queue[0]
		c.queue = c.queue[:0]
		c.wmu.Unlock()
		n := c.tryWrite(b)
		c.wmu.Lock()
		if c.shut {
			return
		}
		if n < len(b) {
			c.queue = slices.Insert(c.queue, 0, b[n:])
		}
		if len(c.queue) == 0 && !c.finishing {
			c.idleLocked()
			return
		}
	}
	c.s.wg.Add(1) // not closed: Server.Close has not begun to wait
	go c.writeLoop()
}

// kickWriterLocked starts the writer goroutine unless a write runs.
func (c *conn) kickWriterLocked() {
	if c.writing || c.shut || (len(c.queue) == 0 && !c.finishing) {
		return
	}
	c.writing = true
	c.s.wg.Add(1)
	go c.writeLoop()
}

// idleLocked ends a write with nothing left to write.
func (c *conn) idleLocked() {
	c.writing = false
	c.queue = nil
	c.room.Broadcast()
	c.handOverLocked()
}

// tryWrite writes what of b fits in the socket now and returns how much
// that was.
func (c *conn) tryWrite(b []byte) int {
	var n int
	err := c.rc.Write(func(fd uintptr) bool {
		m, err := syscall.Write(int(fd), b)
		if err == nil && m > 0 {
			n = m
		}
		return true // never wait: the writer goroutine does
	})
	if err != nil {
		return 0
	}
	return n
}

// kickLater remembers to kick t when the reader has handled what it read.
func (c *conn) kickLater(t *conn) { c.dirty.add(t) }

// kicks are connections with lines queued, to kick once a batch is queued.
type kicks []*conn

func (k *kicks) add(t *conn) {
	if !slices.Contains(*k, t) {
		*k = append(*k, t)
	}
}

// kick kicks the connections and empties k.
func (k *kicks) kick() {
	for i, t := range *k {
		t.wmu.Lock()
		t.kickLocked()
		t.wmu.Unlock()
		(*k)[i] = nil
	}
	*k = (*k)[:0]
}

// kickDirty kicks the connections the reader queued on.
func (c *conn) kickDirty() { c.dirty.kick() }

// reply queues the reply to a command of the connection's own reader.
func (c *conn) reply(ok bool, msg string) { c.replyLine(c.s.replyLine(ok, msg)) }

func (c *conn) replyLine(line []byte) {
	c.rmu.Lock()
	if c.capture != nil && len(c.slots) == 0 {
		*c.capture = append(*c.capture, line...)
		c.rmu.Unlock()
		return
	}
	c.rmu.Unlock()
	if c.slotTokens != nil {
		c.rmu.Lock()
		waiting := len(c.slots) > 0
		c.rmu.Unlock()
		if waiting { // behind a reply that waits for other push servers
			sl := c.reserveSlot()
			c.complete(sl, line)
			return
		}
	}
	if c.enqueue(line, wait, true) == queued {
		c.kickLater(c)
	}
}

func replyLine(ok bool, msg string) []byte {
	tag := "[OK:"
	if !ok {
		tag = "[FAIL:"
	}
	return []byte(tag + msg + "]\n")
}

// writeLoop writes the queue until it is empty, then ends (closing the
// connection if finish asked for it).
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	var spare [][]byte
	for {
		c.wmu.Lock()
		batch := c.queue
		if len(batch) == 0 {
			fin := c.finishing && !c.shut
			if !fin {
				c.idleLocked()
			}
			c.wmu.Unlock()
			if fin {
				c.linger()
				c.close()
			}
			return
		}
		c.queue = spare
		c.room.Broadcast()
		c.wmu.Unlock()
		c.nc.SetWriteDeadline(time.Now().Add(c.s.IdleTimeout))
		bufs := net.Buffers(batch)
		if _, err := bufs.WriteTo(c.nc); err != nil {
			c.close()
			return
		}
		clear(batch)
		spare = batch[:0]
	}
}

// handOverLocked closes a requested handoff once nothing is queued or
// being written.
func (c *conn) handOverLocked() {
	if c.handoff != nil && !c.handed && ((!c.writing && len(c.queue) == 0) || c.shut) {
		c.handed = true
		close(c.handoff)
	}
}

// handOver stops queueing on c and returns a channel closed once what is
// queued is written (or c closed): from then on the raw peer alone writes
// to c.nc.
func (c *conn) handOver() <-chan struct{} {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.handoff == nil {
		c.handoff = make(chan struct{})
		c.room.Broadcast()
		c.kickLocked()
		c.handOverLocked()
	}
	return c.handoff
}

// linger half-closes the connection and drains what the client still sends
// for a moment, so that closing with unread bytes does not reset the
// connection before the client has read its last reply.
func (c *conn) linger() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c.nc, lingerBytes)
}

// finish writes what is queued (once the replies waiting for other push
// servers are in) and closes the connection. Only the reader calls it.
// The id goes at once: a closing connection takes no pushes and pairs
// with nobody.
func (c *conn) finish() {
	c.ended = true
	c.s.mu.Lock()
	c.unregisterLocked()
	c.s.mu.Unlock()
	c.kickDirty()
	c.waitSlots()
	c.wmu.Lock()
	if c.shut || c.finishing || c.handoff != nil {
		c.wmu.Unlock()
		return
	}
	c.finishing = true
	if c.writing || len(c.queue) > 0 {
		c.kickLocked() // the writer closes when done
		c.wmu.Unlock()
		return
	}
	c.writing = true // nobody writes any more
	c.wmu.Unlock()
	c.linger()
	c.close()
}

// readState is the reader's state, kept in the conn so that a parked
// reader (see park.go) resumes where it stopped.
type readState struct {
	buf       []byte // nil while parked
	n         int    // bytes of buf holding the incomplete line
	base      int64  // the read deadline while no partial command waits (Unix ns)
	dl        int64  // the read deadline set on nc (Unix ns)
	holdSince int64  // P2Pcluster: when the raw hold began (Unix ns; 0: not yet)
	started   bool   // the reader has run
	paused    bool   // P2Pcluster: the deadline is the read pause of buf[:n]
	first     bool   // P2Pcluster: the first read is checked for a TLS ClientHello
	lingering bool   // this read's deadline is parkAfter, not dl
}

// setReadDeadline sets and remembers the read deadline.
func (c *conn) setReadDeadline(t time.Time) {
	c.rd.dl = t.UnixNano()
	c.nc.SetReadDeadline(t)
}

// readLoop reads and handles the device's lines. It runs as one goroutine
// at a time: it returns when the connection ends, goes raw, or is parked
// (idle, registered: see park.go), and a parked connection's next bytes or
// deadline start it again.
func (c *conn) readLoop() {
	defer c.s.wg.Done()
	s := c.s
	p2p := s.Dialect == DialectP2Pcluster
	r := &c.rd
	if !r.started {
		r.started = true
		authBy := time.Now().Add(min(s.AuthTimeout, s.IdleTimeout))
		if p2p {
			authBy = time.Now().Add(s.AuthTimeout)
		}
		r.base = authBy.UnixNano()
		r.first = p2p
		c.setReadDeadline(authBy)
	} else {
		c.nc.SetReadDeadline(time.Unix(0, r.dl)) // parkAfter's deadline has passed
	}
	for {
		if r.buf == nil {
			r.buf = getReadBuf()
		}
		if r.n == len(r.buf) && c.rawHold && len(r.buf) > s.MaxLine {
			// Full while waiting for the raw channel: read no more (the
			// device waits on TCP) and look again in a moment.
			if c.closing.Load() || (r.holdSince != 0 && time.Now().UnixNano()-r.holdSince > int64(s.IdleTimeout)) {
				c.finish()
				return
			}
			time.Sleep(s.ReadPause)
			if c.goRaw(r.buf[:r.n]) {
				return
			}
			continue
		}
		if r.n == len(r.buf) {
			if len(r.buf) > s.MaxLine {
				c.reply(false, ReasonTooLong)
				c.finish()
				return
			}
			r.buf = append(r.buf, make([]byte, min(len(r.buf), s.MaxLine+1-len(r.buf)))...)
		}
		parkable := c.parkable()
		if parkable {
			// Idle: wait parkAfter here, then park.
			r.lingering = true
			c.nc.SetReadDeadline(time.Now().Add(parkAfter))
		}
		m, err := c.nc.Read(r.buf[r.n:])
		if r.lingering {
			r.lingering = false
			var ne net.Error
			if m == 0 && errors.As(err, &ne) && ne.Timeout() && time.Now().UnixNano() < r.dl {
				if c.park() {
					return
				}
				c.nc.SetReadDeadline(time.Unix(0, r.dl))
				continue
			}
			c.nc.SetReadDeadline(time.Unix(0, r.dl))
		}
		if r.first && m > 0 {
			r.first = false
			if isTLSRecord(r.buf[:m]) {
				c.replyLine([]byte(p2pSSL))
				c.finish()
				return
			}
		}
		r.n += m
		if c.goRaw(r.buf[:r.n]) {
			return
		}
		start, lines := 0, false
		for !c.rawHold {
			i := bytes.IndexByte(r.buf[start:r.n], '\n')
			if i < 0 {
				break
			}
			c.handle(r.buf[start : start+i])
			if c.ended {
				return
			}
			start += i + 1
			lines = true
			if c.peer.Load() != nil || c.far.Load() != nil {
				c.kickDirty()
				c.goRaw(r.buf[start:r.n])
				return
			}
		}
		c.kickDirty()
		r.n = copy(r.buf, r.buf[start:r.n])
		if c.rawHold {
			// P2Pcluster: a device that asked first for a raw channel got
			// [OK:LINK_SYNC] at once and may send raw bytes: they wait
			// here until the other side asks back (then goRaw sends them
			// on), at most IdleTimeout.
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				c.finish()
				return
			}
			if r.holdSince == 0 {
				r.holdSince = time.Now().UnixNano()
			} else if time.Now().UnixNano()-r.holdSince > int64(s.IdleTimeout) {
				c.finish()
				return
			}
			c.setReadDeadline(time.Now().Add(s.ReadPause))
			continue
		}
		if r.n > s.MaxLine {
			c.reply(false, ReasonTooLong)
			c.finish()
			return
		}
		if !p2p {
			if err != nil {
				c.finish()
				return
			}
			if lines && c.authed { // until then, authBy stands
				c.setReadDeadline(time.Now().Add(s.IdleTimeout))
			}
			continue
		}
		// The P2Pcluster dialect: a command may come without a
		// terminator; what waits in buf is taken as one once no byte came
		// for ReadPause. A device that sent a valid key is never dropped
		// for silence: it gets [SYNC:…] every SyncEvery.
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		if err != nil && !timeout {
			c.finish()
			return
		}
		if timeout && r.n > 0 && (r.paused || time.Now().UnixNano() >= r.base) {
			c.handle(r.buf[:r.n])
			if c.ended {
				return
			}
			r.n, lines = 0, true
			c.kickDirty()
			if c.goRaw(nil) {
				return
			}
		} else if timeout {
			if !c.authed {
				c.finish()
				return
			}
			c.enqueue(syncLine(s.Now()), noWait, false)
		}
		if c.authed && (m > 0 || lines || timeout) {
			r.base = time.Now().Add(s.SyncEvery).UnixNano()
		}
		r.paused = r.n > 0
		if r.paused {
			dl := time.Now().Add(s.ReadPause)
			if base := time.Unix(0, r.base); base.Before(dl) {
				dl = base
			}
			c.setReadDeadline(dl)
		} else {
			c.setReadDeadline(time.Unix(0, r.base))
		}
	}
}

// isTLSRecord reports whether b starts like a TLS record (a ClientHello),
// as the original's PACKET_isSSL checks.
func isTLSRecord(b []byte) bool {
	return len(b) >= 3 && b[0] >= 20 && b[0] <= 23 && b[1] == 3 && b[2] <= 4
}

func (c *conn) handle(line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if c.http != nil {
		c.httpHeader(line)
		return
	}
	if len(line) == 0 {
		return // keepalive
	}
	if c.s.Dialect == DialectP2Pcluster {
		if bytes.HasPrefix(line, []byte("GET ")) {
			c.httpStart(line)
			return
		}
		c.handleP2P(line)
		return
	}
	cmd, err := ParseLine(line)
	if err != nil {
		var pe *ParseError
		errors.As(err, &pe)
		c.reply(false, pe.Reason)
		return
	}
	if cmd.Proto != ProtoTCP {
		c.handleSession(cmd)
		return
	}
	account, key, ok := c.auth(cmd)
	if !ok {
		c.reply(false, ReasonKey)
		return
	}
	c.markAuthed()
	switch cmd.Verb {
	case VerbID:
		c.register(account, key, cmd.ID)
		c.reply(true, cmd.ID)
	case VerbGID, VerbREMID:
		s := c.s
		s.mu.Lock()
		id := c.id
		if c.account != account {
			id = ""
		}
		if id != "" && cmd.Verb == VerbREMID {
			c.unregisterLocked()
		}
		s.mu.Unlock()
		if id == "" {
			c.reply(false, ReasonNoID)
			return
		}
		c.reply(true, id)
	case VerbTIME:
		now := c.s.Now()
		t := now.In(time.FixedZone(formatOffset(cmd.Offset), cmd.Offset*60))
		local := now.Unix() + int64(cmd.Offset)*60
		c.reply(true, t.Format("2006-01-02 15:04:05")+":"+strconv.FormatInt(local, 10))
	case VerbPUSH:
		c.push(account, cmd)
	case VerbRAW:
		c.pair(account, cmd.ID)
	}
}

// markAuthed notes that the connection sent a valid key: it no longer
// counts as a stranger's.
func (c *conn) markAuthed() {
	if c.authed {
		return
	}
	c.authed = true
	c.s.mu.Lock()
	if c.pending != nil {
		c.s.unauth.Remove(c.pending)
		c.pending = nil
	}
	c.s.mu.Unlock()
}

// auth checks the key of a TCP line: the account key, or during a session
// the session key (STCP) or the line's packet key (DSTCP).
func (c *conn) auth(cmd Command) (account, key string, ok bool) {
	if ss := c.sess; ss != nil {
		want := ss.skey
		if ss.perPacket {
			want = PacketKey(ss.mode, ss.key, ss.rnd, cmd.Signed)
		}
		if !keyEqual(cmd.Key, want) {
			return "", "", false
		}
		account, ok = c.s.Keys.Lookup(ss.key) // revoked keys end sessions too
		return account, ss.key, ok
	}
	account, ok = c.s.Keys.Lookup(cmd.Key)
	return account, cmd.Key, ok
}

// register makes c the connection of (account, id); the newest connection
// of an id wins, so a rebooted device replaces its stale connection.
func (c *conn) register(account, key, id string) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	c.unregisterLocked()
	k := acctID{account, id}
	if old := s.ids[k]; old != nil {
		old.unregisterLocked()
	}
	s.ids[k] = c
	c.account, c.id = account, id
	c.key = key
}

func (c *conn) myID(account string) string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.account != account {
		return ""
	}
	return c.id
}

func (c *conn) push(account string, cmd Command) {
	s := c.s
	me := c.myID(account)
	p2p := s.Dialect == DialectP2Pcluster
	alias := func(name string) string {
		name = s.canonID(account, name)
		if id, ok := s.Dir.Alias(account, name); ok {
			return s.canonID(account, id)
		}
		return name
	}
	var to []string
	loose := false
	switch cmd.Group {
	case GroupRID:
		to = []string{alias(cmd.Target)}
	case GroupRouter:
		ids, ok := s.Dir.Router(account, s.canonRouter(account, cmd.Target))
		if p2p {
			// As the original: only an id attached to the router may
			// push to it, and the push goes to the others.
			ok = ok && me != "" && slices.ContainsFunc(ids, func(id string) bool { return alias(id) == me })
		}
		if !ok {
			c.reply(false, ReasonNoRouter)
			return
		}
		for _, id := range ids {
			if id = alias(id); !p2p || id != me {
				to = append(to, id)
			}
		}
	default:
		if me == "" {
			c.reply(false, ReasonNoID)
			return
		}
		var ok bool
		if to, loose, ok = c.group(account, me, cmd.Group); !ok {
			c.reply(false, ReasonNoParent)
			return
		}
	}
	s.pushes.Add(1)
	if p2p {
		c.remember(cmd.Data)
	}
	total := len(to)
	group := cmd.Group
	n, remote, busy := s.deliverLocal(&c.dirty, account, to, s.pushLine(cmd.Data))
	if (len(remote) > 0 || loose) && s.Forward != nil {
		c.kickDirty() // what is here goes out before the round trip
		p := Push{Account: account, From: me, To: remote, Data: bytes.Clone(cmd.Data), Loose: loose}
		logErr := func(err error) {
			if err != nil && !errors.Is(err, ErrOffline) {
				s.Logf("gateway: forward push from %s/%s: %v", account, me, err)
			}
		}
		if af, ok := s.Forward.(AsyncForwarder); ok {
			// The reply waits for the far servers; the device's next
			// lines do not, and replies keep their order.
			slot := c.reserveSlot()
			af.ForwardAsync(p, func(fn int, err error) {
				logErr(err)
				s.forwarded.Add(int64(fn))
				c.complete(slot, s.pushReplyFor(group, n+fn, max(total, n+fn), busy))
			})
			return
		}
		ctx, cancel := context.WithTimeout(s.ctx, forwardTimeout)
		fn, err := s.Forward.Forward(ctx, p)
		cancel()
		logErr(err)
		n += fn
		s.forwarded.Add(int64(fn))
	}
	c.replyLine(s.pushReplyFor(group, n, max(total, n), busy))
}

// remember keeps data among the connection's last pushes (RETDATA).
func (c *conn) remember(data []byte) {
	if len(c.sent) == retdataLen {
		copy(c.sent, c.sent[1:])
		c.sent = c.sent[:retdataLen-1]
	}
	c.sent = append(c.sent, bytes.Clone(data))
}

// pushReply is the reply to a push that n ids took (busy were too busy).
func pushReply(group string, n, busy int) []byte {
	switch {
	case group != GroupRID || n > 0:
		return replyLine(true, strconv.Itoa(n))
	case busy > 0:
		return replyLine(false, ReasonBusy)
	}
	return replyLine(false, ReasonOffline)
}

// A reply slot holds a place in the order of a connection's replies: the
// reply to a push that waits for other push servers, or a later reply
// waiting behind one.
type replySlot struct {
	line []byte
	done bool
}

// maxSlots bounds the replies of one connection waiting in slots; its
// reader waits when they are all taken.
const maxSlots = 64

// reserveSlot takes the next place in the order of replies for a reply
// that complete fills in later. Only the reader calls it.
func (c *conn) reserveSlot() *replySlot {
	if c.slotTokens == nil {
		c.slotTokens = make(chan struct{}, maxSlots)
	}
	c.slotTokens <- struct{}{}
	sl := &replySlot{}
	c.rmu.Lock()
	c.slots = append(c.slots, sl)
	c.rmu.Unlock()
	return sl
}

// complete fills in a slot and queues the replies that are now in order.
func (c *conn) complete(sl *replySlot, line []byte) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	sl.line, sl.done = line, true
	i := 0
	for ; i < len(c.slots) && c.slots[i].done; i++ {
		if c.capture != nil {
			*c.capture = append(*c.capture, c.slots[i].line...)
		} else {
			c.enqueue(c.slots[i].line, force, true)
		}
		c.slots[i] = nil
		<-c.slotTokens
	}
	if i > 0 && c.capture == nil {
		// The writer goroutine writes these and the replies that
		// complete while it runs (the other pushes of a request to another
		// push server) with one writev.
		c.wmu.Lock()
		c.kickWriterLocked()
		c.wmu.Unlock()
	}
	c.slots = c.slots[i:]
	if len(c.slots) == 0 {
		c.slots = nil
	}
}

// waitSlots waits until every reply in slots is queued. Only the reader
// calls it.
func (c *conn) waitSlots() {
	if c.slotTokens == nil {
		return
	}
	for range maxSlots {
		c.slotTokens <- struct{}{}
	}
	for range maxSlots {
		<-c.slotTokens
	}
}

// group resolves a tree group of me; ok is false for PARENT of a root.
// loose is set when the group also holds the ids outside the tree (FRIENDS
// of a root or of an id outside the tree): those connected here are in ids,
// those connected to other push servers are theirs to add.
func (c *conn) group(account, me, group string) (ids []string, loose, ok bool) {
	d := c.s.Dir
	switch group {
	case GroupParent:
		p, ok := d.Parent(account, me)
		if !ok {
			return nil, false, false
		}
		return []string{p}, false, true
	case GroupChilds:
		return d.Children(account, me), false, true
	case GroupAllChilds:
		seen := map[string]bool{me: true}
		queue := []string{me}
		for len(queue) > 0 && len(ids) < maxGroup {
			for _, ch := range d.Children(account, queue[0]) {
				if !seen[ch] {
					seen[ch] = true
					ids = append(ids, ch)
					queue = append(queue, ch)
				}
			}
			queue = queue[1:]
		}
		return ids, false, true
	}
	// FRIENDS: the other children of my parent; for a root (or an id
	// outside the tree), the other roots and every connected id of the
	// account outside the tree.
	if p, ok := d.Parent(account, me); ok {
		for _, id := range d.Children(account, p) {
			if id != me {
				ids = append(ids, id)
			}
		}
		return ids, false, true
	}
	seen := map[string]bool{me: true}
	for _, id := range d.Roots(account) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return append(ids, c.s.looseIDs(account, seen)...), true, true
}

func (c *conn) handleSession(cmd Command) {
	s := c.s
	s.mu.Lock()
	registered := c.id != "" && c.id == cmd.ID
	s.mu.Unlock()
	if !registered {
		c.reply(false, ReasonNoID)
		return
	}
	if cmd.Verb == VerbDEACTIVATE {
		if c.sess == nil {
			c.reply(false, ReasonSession)
			return
		}
		c.sess = nil
		c.reply(true, cmd.ID)
		return
	}
	var r [16]byte
	rand.Read(r[:])
	mode, perPacket := modeOf(cmd.Proto)
	ss := &session{mode: mode, perPacket: perPacket, key: c.key, rnd: hex.EncodeToString(r[:])}
	ss.skey = SessionKey(mode, ss.key, ss.rnd)
	c.sess = ss
	if cmd.ClientRnd == "" {
		c.reply(true, ss.rnd)
		return
	}
	c.reply(true, ss.rnd+":"+Proof(mode, ss.key, cmd.ClientRnd, ss.rnd))
}
