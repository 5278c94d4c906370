package consnode

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/frame"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/stream"
)

// ServiceName is the stream service raft messages travel on.
const ServiceName = "coco.consortium.raft"

// queueLen bounds the messages waiting for one peer; beyond it they are
// dropped (raft retransmits).
const queueLen = 4096

// dialTimeout bounds one attempt to open the stream to a peer.
const dialTimeout = 5 * time.Second

// ErrNotValidating is a stream from a peer that the committed node table
// does not list as a validating node.
var ErrNotValidating = errors.New("consnode: peer is not a validating node")

// Config says which consortium a node runs and where it keeps it.
type Config struct {
	Genesis *consortium.Genesis
	// Dir keeps the WAL, snapshots and state; the daemon passes the
	// network directory's consortium/ subdirectory. Required.
	Dir string
	// ID is the node's raft ID; 0 means RaftID(e.PeerID()).
	ID           uint64
	LedgerSecret *consortium.LedgerSecret
	Join         bool
	// APIAddr, when set, is a TCP address ("127.0.0.1:8443", ":0") where
	// the node serves the consortium's REST API (consortium.APIHandler)
	// over mutually authenticated TLS: the client's certificate is the
	// caller, checked against the constitution; the node presents a
	// certificate for its receipt key from the node table.
	APIAddr string

	TickInterval  time.Duration
	ElectionTicks int
}

// Service is a validating node attached to an engine: the consortium node
// and its transport on the engine's streams.
type Service struct {
	e      *engine.Engine
	cfg    Config
	n      *consortium.Node
	ln     net.Listener
	apiLn  net.Listener
	apiSrv *http.Server
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	refused atomic.Uint64

	mu    sync.Mutex // guards all following fields
	peers map[uint64]chan []byte
	conns map[net.Conn]bool
	// learned maps the raft IDs of peers that streamed to this node while it
	// was joining (not yet in its own table) to those peers: RaftID of the
	// authenticated peer, so that it can answer the leader.
	learned map[uint64]peer.ID
}

// Attach starts a validating node on e with cfg and attaches it; the engine
// closes it. Find it again with engine.Lookup[*consnode.Service](e).
func Attach(e *engine.Engine, cfg Config) (*Service, error) {
	return engine.Attach(e, func(e *engine.Engine) (*Service, error) { return Start(e, cfg) })
}

// Start starts a validating node on e; prefer Attach.
func Start(e *engine.Engine, cfg Config) (*Service, error) {
	if cfg.Dir == "" || cfg.Genesis == nil {
		return nil, fmt.Errorf("consnode: config needs a directory and a genesis: %w", consortium.ErrBadRequest)
	}
	if cfg.ID == 0 {
		cfg.ID = RaftID(e.PeerID())
	}
	// Every member user may open the stream; the node table decides.
	ln, err := e.Listen(ServiceName, node.Access{Roles: []ledger.Role{ledger.RoleGuest}, What: "consortium raft"})
	if err != nil {
		return nil, fmt.Errorf("consnode: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(e.Context())
	s := &Service{e: e, cfg: cfg, ln: ln, ctx: ctx, cancel: cancel, peers: map[uint64]chan []byte{}, conns: map[net.Conn]bool{},
		learned: map[uint64]peer.ID{}}
	n, err := consortium.Start(consortium.Config{
		ID: cfg.ID, Dir: cfg.Dir, Genesis: cfg.Genesis, Key: NodeKey(e.Identity(), e.PeerID()), Transport: s,
		LedgerSecret: cfg.LedgerSecret, Join: cfg.Join, TickInterval: cfg.TickInterval, ElectionTicks: cfg.ElectionTicks,
		Logf: e.Logf,
	})
	if err != nil {
		cancel()
		ln.Close()
		return nil, err
	}
	s.n = n
	if cfg.APIAddr != "" {
		if err := s.serveAPI(cfg.APIAddr); err != nil {
			cancel()
			ln.Close()
			n.Close()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// serveAPI serves the consortium's REST API over mutual TLS on addr.
func (s *Service) serveAPI(addr string) error {
	tc, err := s.n.ServerTLS()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("consnode: API listen on %s: %w", addr, err)
	}
	s.apiLn = ln
	s.apiSrv = &http.Server{Handler: consortium.APIHandler(s.n), TLSConfig: tc, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: log.New(io.Discard, "", 0)} // a stranger's refused handshake is no news
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.apiSrv.Serve(tls.NewListener(ln, tc))
	}()
	return nil
}

// APIAddr is the address the REST API listens on ("" when not served).
func (s *Service) APIAddr() string {
	if s.apiLn == nil {
		return ""
	}
	return s.apiLn.Addr().String()
}

// Node is the consortium node: transact, govern, read.
func (s *Service) Node() *consortium.Node { return s.n }

// Refused counts inbound streams refused because their peer is not in the
// node table, and messages the node refused.
func (s *Service) Refused() uint64 { return s.refused.Load() }

// Close stops the transport and the node; the node's state stays on disk.
func (s *Service) Close() error {
	s.cancel()
	s.ln.Close()
	if s.apiSrv != nil {
		s.apiSrv.Close()
	}
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return s.n.Close()
}

// RaftID is the raft ID of the node with peer ID p: the first 8 bytes of
// SHA-256 of its bytes (never 0).
func RaftID(p peer.ID) uint64 {
	h := sha256.Sum256([]byte("coconet/consortium/raft-id\x00" + string(p)))
	if id := binary.BigEndian.Uint64(h[:8]); id != 0 {
		return id
	}
	return 1
}

// NodeKey is the key with which node p of id signs receipts, derived from
// the seed: the paper key restores it.
func NodeKey(id *identity.Identity, p peer.ID) ed25519.PrivateKey {
	return id.Seed.GroupKey("coco.consortium/node/" + p.String())
}

// memberKey is the user's governance key in network nw.
func memberKey(id *identity.Identity, nw ledger.NetworkID) ed25519.PrivateKey {
	return id.Seed.GroupKey("coco.consortium/member/" + nw.String())
}

// Member is the user's consortium identity in network nw: an Ed25519 key
// derived from the seed and a self-signed X.509 certificate made from it
// deterministically (fixed serial and validity), so the same seed always
// gives the same certificate and member ID.
func Member(id *identity.Identity, nw ledger.NetworkID) (*consortium.Member, error) {
	key := memberKey(id, nw)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: id.Name, SerialNumber: id.ID().String(), OrganizationalUnit: []string{nw.String()}},
		NotBefore:    time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(nil, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("consnode: member certificate: %w", err)
	}
	return &consortium.Member{Cert: der, Key: key}, nil
}

var (
	codeOnce sync.Once
	codeHash []byte
	codeErr  error
)

// CodeHash is the SHA-256 of the running binary, as a node reports it.
func CodeHash() ([]byte, error) {
	codeOnce.Do(func() {
		p, err := os.Executable()
		if err != nil {
			codeErr = fmt.Errorf("consnode: find own binary: %w", err)
			return
		}
		f, err := os.Open(p)
		if err != nil {
			codeErr = fmt.Errorf("consnode: open own binary: %w", err)
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			codeErr = fmt.Errorf("consnode: hash own binary: %w", err)
			return
		}
		codeHash = h.Sum(nil)
	})
	return codeHash, codeErr
}

// Info is the node-table entry of e's node: raft ID from its peer ID, the
// peer ID as its address, its receipt key, the binary's hash, and the
// honest environment (no enclave).
func Info(e *engine.Engine) (consortium.NodeInfo, error) {
	h, err := CodeHash()
	if err != nil {
		return consortium.NodeInfo{}, err
	}
	return consortium.NodeInfo{
		ID: RaftID(e.PeerID()), PubKey: NodeKey(e.Identity(), e.PeerID()).Public().(ed25519.PublicKey),
		CodeHash: h, Env: consortium.EnvSoftware, Addr: e.PeerID().String(),
	}, nil
}

// peerOf is the peer the committed node table names for raft ID id.
func (s *Service) peerOf(id uint64) (peer.ID, bool) {
	for _, ni := range s.n.Nodes() {
		if ni.ID == id {
			p, err := peer.Decode(ni.Addr)
			return p, err == nil
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.learned[id]
	return p, ok
}

// joining reports whether the node joins and is not yet in its own table.
func (s *Service) joining() bool {
	if !s.cfg.Join {
		return false
	}
	for _, ni := range s.n.Nodes() {
		if ni.ID == s.cfg.ID {
			return false
		}
	}
	return true
}

// idOf is the raft ID the committed node table gives peer p (0 = none).
func (s *Service) idOf(p peer.ID) uint64 {
	ps := p.String()
	for _, ni := range s.n.Nodes() {
		if ni.Addr == ps {
			return ni.ID
		}
	}
	return 0
}

// Send queues a raft message for node to (consortium.Transport); it drops
// it when the queue is full or the service is closing.
func (s *Service) Send(to uint64, msg []byte) {
	s.mu.Lock()
	q, ok := s.peers[to]
	if !ok {
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			return
		}
		q = make(chan []byte, queueLen)
		s.peers[to] = q
		s.wg.Add(1)
		go s.writer(to, q)
	}
	s.mu.Unlock()
	select {
	case q <- msg:
	default:
	}
}

// writer keeps one stream to node to and writes its queue as frames. The
// peer is looked up in the node table at each (re)connection.
func (s *Service) writer(to uint64, q chan []byte) {
	defer s.wg.Done()
	var c *stream.Conn
	var w *bufio.Writer
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		var msg []byte
		select {
		case <-s.ctx.Done():
			return
		case msg = <-q:
		}
		if c == nil {
			p, ok := s.peerOf(to)
			if !ok {
				continue // not (yet) in the table: drop
			}
			ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
			conn, err := s.e.Streams().Dial(ctx, p, ServiceName)
			cancel()
			if err != nil {
				continue // raft retransmits; the next message dials again
			}
			c, w = conn, bufio.NewWriterSize(conn, 64<<10)
		}
		err := frame.Write(w, msg)
		if err == nil && len(q) == 0 {
			err = w.Flush()
		}
		if err != nil {
			c.Close()
			c = nil
		}
	}
}

func (s *Service) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

// serve reads raft messages from one inbound stream. The sender is the raft
// ID the committed node table gives the stream's authenticated peer, looked
// up again for every message, so a node removed from the table is cut off
// at the next one; what the message claims is checked against it by
// consortium.Node.Receive.
func (s *Service) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	sc, ok := c.(*stream.Conn)
	if !ok {
		return
	}
	p := sc.Sender().Node
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		from := s.idOf(p)
		if from == 0 && s.joining() {
			// The leader that adds a joining node may be newer than the
			// joining node's table: while joining, a peer is the raft ID
			// derived from its authenticated peer ID (consortium.Node
			// takes messages from unlisted nodes only then).
			from = RaftID(p)
			s.mu.Lock()
			s.learned[from] = p
			s.mu.Unlock()
		}
		if from == 0 {
			s.refused.Add(1)
			s.e.Logf("consortium: refused raft stream from %s: %v", p.ShortString(), ErrNotValidating)
			return
		}
		msg, err := frame.Read(r, consortium.MaxFrame)
		if err != nil {
			return
		}
		if err := s.n.Receive(from, msg); err != nil && !errors.Is(err, consortium.ErrClosed) {
			s.refused.Add(1)
			s.e.Logf("consortium: raft message from %s refused: %v", p.ShortString(), err)
		}
	}
}

// Dir is the consortium directory under a network directory.
func Dir(networkDir string) string { return filepath.Join(networkDir, "consortium") }
