package consortium

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Receiver is the inbound side of a transport: Node.Receive.
type Receiver func(from uint64, msg []byte) error

// MemNetwork connects nodes in one process; tests cut and heal its links.
type MemNetwork struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards all following fields
	recv    map[uint64]Receiver
	queues  map[uint64]chan memMsg
	group   map[uint64]int // partition group per node; absent = 0
	down    map[uint64]bool
	refused map[uint64]int // messages a receiver refused, by receiver
}

type memMsg struct {
	from uint64
	data []byte
}

// NewMemNetwork returns an empty in-memory network.
func NewMemNetwork() *MemNetwork {
	ctx, cancel := context.WithCancel(context.Background())
	return &MemNetwork{ctx: ctx, cancel: cancel, recv: map[uint64]Receiver{}, queues: map[uint64]chan memMsg{},
		group: map[uint64]int{}, down: map[uint64]bool{}, refused: map[uint64]int{}}
}

// Transport is the sending side for node from.
func (m *MemNetwork) Transport(from uint64) Transport { return memTransport{m, from} }

type memTransport struct {
	m    *MemNetwork
	from uint64
}

func (t memTransport) Send(to uint64, msg []byte) { t.m.send(t.from, to, msg) }

// Attach routes messages for id to r (a node's Receive); it replaces an
// earlier receiver of id, as a restarted node does.
func (m *MemNetwork) Attach(id uint64, r Receiver) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recv[id] = r
	m.down[id] = false
	if _, ok := m.queues[id]; ok {
		return
	}
	q := make(chan memMsg, 4096)
	m.queues[id] = q
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			select {
			case <-m.ctx.Done():
				return
			case mm := <-q:
				m.mu.Lock()
				r, down := m.recv[id], m.down[id]
				m.mu.Unlock()
				if r == nil || down {
					continue
				}
				if err := r(mm.from, mm.data); err != nil {
					m.mu.Lock()
					m.refused[id]++
					m.mu.Unlock()
				}
			}
		}
	}()
}

// Down stops delivery to and from id (a crashed node) until Attach.
func (m *MemNetwork) Down(id uint64) {
	m.mu.Lock()
	m.down[id] = true
	m.mu.Unlock()
}

// Partition splits the network: messages flow only between nodes of one
// group; nodes in no group form one more group together.
func (m *MemNetwork) Partition(groups ...[]uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.group = map[uint64]int{}
	for i, g := range groups {
		for _, id := range g {
			m.group[id] = i + 1
		}
	}
}

// Heal undoes Partition.
func (m *MemNetwork) Heal() { m.Partition() }

// Refused counts the messages id's receiver refused.
func (m *MemNetwork) Refused(id uint64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.refused[id]
}

func (m *MemNetwork) send(from, to uint64, data []byte) {
	m.mu.Lock()
	q, ok := m.queues[to]
	blocked := m.group[from] != m.group[to] || m.down[from] || m.down[to]
	m.mu.Unlock()
	if !ok || blocked {
		return
	}
	select {
	case q <- memMsg{from, data}:
	default: // full: raft retransmits
	}
}

// Close stops delivery.
func (m *MemNetwork) Close() {
	m.cancel()
	m.wg.Wait()
}

// TCPTransport carries raft messages over plain TCP, one connection per
// direction and peer. It is for tests and benchmarks on loopback: the peer's
// ID is what it claims in its first 8 bytes. In coconet the transport is the
// node's encrypted, authenticated stream, whose peer ID is known.
type TCPTransport struct {
	id     uint64
	ln     net.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex // guards all following fields
	recv  Receiver
	addrs map[uint64]string
	peers map[uint64]chan []byte
	conns map[net.Conn]bool
}

// MaxFrame bounds one message on a TCPTransport (snapshots included).
const MaxFrame = 256 << 20

// ListenTCP listens on addr ("127.0.0.1:0") for node id.
func ListenTCP(id uint64, addr string) (*TCPTransport, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("consortium: listen %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t := &TCPTransport{id: id, ln: ln, ctx: ctx, cancel: cancel, addrs: map[uint64]string{}, peers: map[uint64]chan []byte{}, conns: map[net.Conn]bool{}}
	t.wg.Add(1)
	go t.accept()
	return t, nil
}

// Addr is the listening address.
func (t *TCPTransport) Addr() string { return t.ln.Addr().String() }

// SetPeer sets where node id listens.
func (t *TCPTransport) SetPeer(id uint64, addr string) {
	t.mu.Lock()
	t.addrs[id] = addr
	t.mu.Unlock()
}

// Handle sets the inbound handler (the node's Receive).
func (t *TCPTransport) Handle(r Receiver) {
	t.mu.Lock()
	t.recv = r
	t.mu.Unlock()
}

func (t *TCPTransport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		t.mu.Lock()
		if t.ctx.Err() != nil {
			t.mu.Unlock()
			c.Close()
			return
		}
		t.conns[c] = true
		t.mu.Unlock()
		t.wg.Add(1)
		go t.serve(c)
	}
}

func (t *TCPTransport) serve(c net.Conn) {
	defer t.wg.Done()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 1<<16)
	var hello [8]byte
	if _, err := io.ReadFull(r, hello[:]); err != nil {
		return
	}
	from := binary.BigEndian.Uint64(hello[:])
	for {
		msg, err := readFrame(r)
		if err != nil {
			return
		}
		t.mu.Lock()
		recv := t.recv
		t.mu.Unlock()
		if recv != nil {
			recv(from, msg)
		}
	}
}

// readFrame reads one length-prefixed frame (4-byte big-endian length).
func readFrame(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > MaxFrame {
		return nil, fmt.Errorf("%w: frame of %d bytes", ErrBadRequest, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// Send queues msg for node to; it drops it when the queue is full or the
// peer is unreachable (raft retransmits).
func (t *TCPTransport) Send(to uint64, msg []byte) {
	t.mu.Lock()
	q, ok := t.peers[to]
	if !ok && t.ctx.Err() == nil {
		q = make(chan []byte, 4096)
		t.peers[to] = q
		t.wg.Add(1)
		go t.writer(to, q)
	}
	t.mu.Unlock()
	if q == nil {
		return
	}
	select {
	case q <- msg:
	default:
	}
}

func (t *TCPTransport) writer(to uint64, q chan []byte) {
	defer t.wg.Done()
	var c net.Conn
	var w *bufio.Writer
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		var msg []byte
		select {
		case <-t.ctx.Done():
			return
		case msg = <-q:
		}
		if c == nil {
			t.mu.Lock()
			addr := t.addrs[to]
			t.mu.Unlock()
			d := net.Dialer{Timeout: time.Second}
			conn, err := d.DialContext(t.ctx, "tcp", addr)
			if err != nil {
				continue
			}
			c, w = conn, bufio.NewWriterSize(conn, 1<<16)
			var hello [8]byte
			binary.BigEndian.PutUint64(hello[:], t.id)
			w.Write(hello[:])
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(msg)))
		w.Write(hdr[:])
		w.Write(msg)
		if len(q) == 0 {
			if err := w.Flush(); err != nil {
				c.Close()
				c = nil
			}
		}
	}
}

// Close stops the transport's goroutines and connections.
func (t *TCPTransport) Close() error {
	t.cancel()
	err := t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
