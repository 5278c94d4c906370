package control

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

func startLimited(t *testing.T, l Limits) *Server {
	t.Helper()
	s, err := New(Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Limits: l, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// plainHost is a TCP libp2p host with a key of its own.
func plainHost(t *testing.T) (host.Host, ed25519.PrivateKey) {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
	h, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.DisableRelay(), libp2p.ResourceManager(&network.NullResourceManager{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, priv
}

func dialServer(ctx context.Context, h host.Host, s *Server) error {
	return h.Connect(ctx, peer.AddrInfo{ID: s.ID(), Addrs: s.Host().Addrs()})
}

// declare opens a control stream and sends the start of a request that
// declares 192 KiB; it returns the stream, open, or the error opening it.
func declare(ctx context.Context, h host.Host, s *Server) (network.Stream, error) {
	st, err := h.NewStream(ctx, s.ID(), controlproto.Protocol)
	if err != nil {
		return nil, err
	}
	b := binary.AppendUvarint(nil, controlproto.MaxRequest)
	if _, err := st.Write(append(b, make([]byte, 64)...)); err != nil {
		st.Reset()
		return nil, err
	}
	return st, nil
}

// memberRegister registers a fresh node of a fresh network (a member with
// a valid proof), over its own connection.
func memberRegister(ctx context.Context, t *testing.T, s *Server) error {
	t.Helper()
	h, proof := mintedNode(t)
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: h.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/9")}}), h.Peerstore().PrivKey(h.ID()))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := env.Marshal()
	if err := dialServer(ctx, h, s); err != nil {
		return err
	}
	_, err = controlproto.Register(ctx, h, s.ID(), proof, eb, time.Minute)
	return err
}

// mintedNode is a host with a valid proof for a network it just made.
func mintedNode(t *testing.T) (host.Host, []byte) {
	t.Helper()
	h, priv := plainHost(t)
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	g := &ledger.Op{V: ledger.Version, Time: time.Now().UnixMilli(), Kind: ledger.KindGenesis, SubjectName: "o", Name: "n", NetKind: "user", Nonce: make([]byte, ledger.NonceSize)}
	rand.Read(g.Nonce)
	g.Sign(owner)
	var node [32]byte
	copy(node[:], priv.Public().(ed25519.PublicKey))
	c := member.IssueCert(owner, ledger.NetworkID(g.ID()), node, identity.UserIDOf(owner.Public().(ed25519.PublicKey)), ledger.RoleOwner, time.Now(), time.Hour)
	return h, (&member.Proof{Genesis: g, Cert: c}).Marshal()
}

// TestNoCountersForUnknownNetworks: lookups and usage queries for networks
// minted by strangers and never registered create no usage counters (which
// are kept, and saved, per network).
func TestNoCountersForUnknownNetworks(t *testing.T) {
	s := startLimited(t, Limits{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 5; i++ {
		h, proof := mintedNode(t)
		if err := dialServer(ctx, h, s); err != nil {
			t.Fatal(err)
		}
		if _, err := controlproto.Lookup(ctx, h, s.ID(), proof); err != nil {
			t.Fatalf("Lookup = %v", err)
		}
		if _, err := controlproto.GetUsage(ctx, h, s.ID(), proof); err != nil {
			t.Fatalf("GetUsage = %v", err)
		}
	}
	s.meter.mu.Lock()
	n := len(s.meter.nets)
	s.meter.mu.Unlock()
	if n != 0 {
		t.Fatalf("usage counters for %d networks after lookups of unregistered networks, want none", n)
	}
	if err := memberRegister(ctx, t, s); err != nil {
		t.Fatal(err)
	}
	s.meter.mu.Lock()
	n = len(s.meter.nets)
	s.meter.mu.Unlock()
	if n != 1 {
		t.Fatalf("usage counters for %d networks after one registered, want 1", n)
	}
}

// TestStrangerStreamsBounded: a stranger opens 100 control streams on one
// connection (past the peer's memory limit, about StreamsPerPeer streams,
// yamux ends the whole connection), each declaring a 192 KiB request and sending 64 bytes
// of it. The resource manager lets only ControlStreamsPerPeer reach the
// handler, which allocates only what arrived and drops them at the request
// deadline; a member still registers meanwhile.
func TestStrangerStreamsBounded(t *testing.T) {
	l := Limits{RequestTimeout: 3 * time.Second}
	s := startLimited(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, _ := plainHost(t)
	if err := dialServer(ctx, h, s); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var open []network.Stream
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if st, err := declare(ctx, h, s); err == nil {
				mu.Lock()
				open = append(open, st)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, st := range open {
			st.Reset()
		}
	}()
	max := s.cfg.Limits.ControlStreamsPerPeer
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := s.pending.len(); n > 0 || time.Now().After(deadline) {
			break
		}
	}
	time.Sleep(300 * time.Millisecond) // more would show up by now
	n, bytes := s.pending.len()
	t.Logf("%d streams opened by the stranger, %d being read", len(open), n)
	if n == 0 {
		t.Fatal("none of the stranger's streams reached the handler; the test shows nothing")
	}
	if n > max {
		t.Errorf("%d of the stranger's streams are being read, want at most %d (ControlStreamsPerPeer)", n, max)
	}
	if bytes > int64(n)*(64+binary.MaxVarintLen64) {
		t.Errorf("pending requests hold %d bytes for %d streams that sent 64 bytes each", bytes, n)
	}
	if err := memberRegister(ctx, t, s); err != nil {
		t.Fatalf("a member's Register during the attack = %v, want ok", err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := s.pending.len(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stranger's streams still pending long after the %v request deadline", l.RequestTimeout)
		}
	}
}

// TestPendingPushesOutOldest: strangers holding open more streams than
// PendingRequests (from many connections) do not keep a member out: the
// oldest is pushed out.
func TestPendingPushesOutOldest(t *testing.T) {
	s := startLimited(t, Limits{PendingRequests: 8, RequestTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var held []network.Stream
	for i := 0; i < 12; i++ {
		h, _ := plainHost(t)
		if err := dialServer(ctx, h, s); err != nil {
			t.Fatal(err)
		}
		st, err := declare(ctx, h, s)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, st)
	}
	waitPending(t, s, 8)
	if err := memberRegister(ctx, t, s); err != nil {
		t.Fatalf("a member's Register with every pending place held = %v, want ok", err)
	}
	// The first stranger's stream was pushed out.
	held[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := held[0].Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("oldest stranger stream: Read = %v, want reset", err)
	}
}

func waitPending(t *testing.T, s *Server, want int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if n, _ := s.pending.len(); n == want {
			return
		}
		if time.Now().After(deadline) {
			n, _ := s.pending.len()
			t.Fatalf("pending streams = %d, want %d", n, want)
		}
	}
}

// TestConnsPerIP: connections from one address beyond ConnsPerIP are
// refused (loopback included here; it is exempt by default).
func TestConnsPerIP(t *testing.T) {
	s := startLimited(t, Limits{ConnsPerIP: 4, LimitLoopback: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ok := 0
	for i := 0; i < 8; i++ {
		h, _ := plainHost(t)
		if err := dialServer(ctx, h, s); err == nil {
			// The dialer's handshake may finish before the listener
			// refuses; a stream shows whether the connection stands.
			if st, err := h.NewStream(ctx, s.ID(), controlproto.Protocol); err == nil {
				st.Reset()
				ok++
			}
		}
	}
	if ok > 4 {
		t.Fatalf("%d connections from one address stood, want at most ConnsPerIP = 4", ok)
	}
	if ok == 0 {
		t.Fatal("no connection stood, want 4")
	}
}

// TestReadFrameAllocatesAsBytesArrive: a frame that declares 192 KiB and
// sends 10 bytes costs about 10 bytes, not 192 KiB.
func TestReadFrameAllocatesAsBytesArrive(t *testing.T) {
	msg := append(binary.AppendUvarint(nil, controlproto.MaxRequest), make([]byte, 10)...)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 100; i++ {
		if _, err := controlproto.ReadFrame(bufio.NewReaderSize(bytes.NewReader(msg), 64), controlproto.MaxRequest); err == nil {
			t.Fatal("readFrame(short frame) = nil error")
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 8<<10 {
		t.Fatalf("readFrame of a frame declaring %d bytes and sending 10 allocated %d bytes, want it to allocate as bytes arrive", controlproto.MaxRequest, per)
	}
}

// TestPendingBytesPushOutLarge: past PendingBytes, the request that
// crossed it goes when it is large, not an older small one.
func TestPendingBytesPushOutLarge(t *testing.T) {
	s := startLimited(t, Limits{PendingBytes: 32 << 10, RequestTimeout: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(send int) network.Stream {
		h, _ := plainHost(t)
		if err := dialServer(ctx, h, s); err != nil {
			t.Fatal(err)
		}
		st, err := h.NewStream(ctx, s.ID(), controlproto.Protocol)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(append(binary.AppendUvarint(nil, controlproto.MaxRequest), make([]byte, send)...)); err != nil {
			t.Fatal(err)
		}
		return st
	}
	small := open(1 << 10)
	waitPending(t, s, 1)
	large := open(48 << 10)
	large.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := large.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("large stranger request past the byte bound: Read = %v, want reset", err)
	}
	if n, _ := s.pending.len(); n != 1 {
		t.Fatalf("pending = %d after the large request went, want the small one left", n)
	}
	small.Reset()
}
