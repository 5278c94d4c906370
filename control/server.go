package control

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/member"
)

// Defaults.
const (
	DefaultRegistrationTTL = 10 * time.Minute
	MaxRegistrationTTL     = time.Hour
	// DefaultJoinData and DefaultJoinDuration bound the join circuits of
	// a peer without a proof: enough for the join protocol (a ledger of a
	// few thousand operations) and a first certificate.
	DefaultJoinData     = 512 << 10
	DefaultJoinDuration = time.Minute
	DefaultJoinsPerIP   = 16
	DefaultJoinsPerDest = 16
	DefaultJoinDestData = 2 << 20
	// RecordMaxAge is how old a peer record (its timestamp sequence number)
	// may be when registered, so an old record cannot be replayed.
	RecordMaxAge = 10 * time.Minute
)

// RelayLimits configure the circuit relay. The zero value gives limits
// suited to real traffic: no per-circuit cap on time or bytes (the plan's
// monthly bytes bound a network's use), 32 KiB buffers.
type RelayLimits struct {
	// Duration and Data cap one relayed connection (0 = no cap). A capped
	// circuit is a "limited" connection in libp2p terms.
	Duration time.Duration
	Data     int64
	// MaxReservations is the number of relay slots (default 10000).
	MaxReservations int
	// MaxCircuits is the number of relayed connections per peer (default 64).
	MaxCircuits int
	// MaxReservationsPerIP (default 1024): many nodes share an address
	// behind a NAT.
	MaxReservationsPerIP int
	// BufferSize is the copy buffer per direction of a circuit (default 32 KiB).
	BufferSize int
	// JoinData and JoinDuration bound the join circuits of a peer without
	// a membership proof (see the relay rules on acl): bytes in both
	// directions (default 512 KiB) and time from the first circuit
	// (default 1 minute).
	JoinData     int64
	JoinDuration time.Duration
	// JoinsPerIP bounds how many new join allowances one IP address gets
	// per JoinDuration (default 16), so throwaway keys cannot drain a
	// network's plan one handshake at a time.
	JoinsPerIP int
	// JoinsPerDest and JoinDestData bound the join allowances one
	// destination node gets per JoinDuration (default 16) and their bytes
	// in all (default 2 MiB): a budget of their own, outside the plan.
	JoinsPerDest int
	JoinDestData int64
}

// Config configures a Server.
type Config struct {
	// Listen are the multiaddrs to listen on; default QUIC and TCP on
	// 0.0.0.0 port 4001.
	Listen []string
	// Dir keeps the identity key ("identity.key") and the usage counters;
	// "" means an ephemeral identity and no persisted counters.
	Dir string
	// Plans are the plans and their assignments; nil means DefaultPlans.
	Plans *Plans
	// Owners, if not nil, are the only owners whose networks this control
	// plane serves (an operator's allow-list, for a public control plane;
	// see LoadOwners). Nil serves every owner, each within its plan.
	Owners []identity.UserID
	// MaxNetworks bounds the networks known at once, all owners (default
	// 100000).
	MaxNetworks int
	Relay       RelayLimits
	// Limits bound what peers without a proof can make the control plane
	// hold (connections, streams, memory).
	Limits Limits
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Tap, if set, sees every chunk of bytes the relay reads from a peer
	// (tests use it to check the relay sees only ciphertext).
	Tap func(from peer.ID, b []byte)
	// Store keeps the state (see Store); nil means NewMemStore(), the
	// state in this process's memory and the usage counters in Dir. The
	// server closes it.
	Store Store
	// Claims remembers the first node of each one-off auth key of a
	// developer network (devnet.go); nil means in the store when it is
	// etcd (so replicas agree: an atomic create), in memory otherwise.
	Claims devnet.Claims
}

// Server is a running control plane.
type Server struct {
	cfg   Config
	plans *Plans
	host  host.Host
	cm    *connmgr.BasicConnMgr
	relay *relay.Relay
	meter *meter
	store Store
	// persistent: the store keeps state outside this process, so
	// registrations, revocations and usage claims are written to it.
	persistent bool
	replica    string // this replica's name in the store: its peer ID

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	pending *pendingStreams // control streams of peers without a live proof
	proofs  *proofCache     // proofs verified before
	genesis *member.GenesisCache
	dev     devNets // developer networks' lists and credentials (devnet.go)
	owners  map[identity.UserID]bool
	rsvpTTL time.Duration
	stats   stats // answers by code, for Collector (metrics.go)

	mu        sync.Mutex // guards following fields
	closed    bool
	nets      map[[32]byte]*netState
	ownerNets map[identity.UserID]int // networks in nets, per owner
	holders   map[peer.ID]*holder
	joins     map[peer.ID]*joinGrant             // join allowances of peers without a proof
	joinIPs   map[string][]time.Time             // when each source IP (IPv6 /64) got its recent join allowances
	joinDests map[peer.ID]*joinBudget            // each destination's join allowances in the current window
	rsvps     map[[32]byte]map[peer.ID]time.Time // relay slots per network, until when

	qmu    sync.Mutex // guards following fields (never held while taking mu)
	qmonth string
	claims map[[32]byte]*claim            // this replica's claims on usage, this month
	remote map[[32]byte]map[string]remote // other replicas' usage, this month
	live   map[string]bool                // replicas running
}

// netState is what the control plane knows of one network: its hash, the
// owner's plan key, registrations and revocations.
type netState struct {
	owner identity.UserID
	regs  map[peer.ID]*registration
	revs  []*member.Revocation
}

type registration struct {
	env     []byte // signed peer record
	expires int64  // unix nanoseconds
	cover   Cover  // of the proof it was made with
	seen    int64  // when this replica heard of it last, unix nanoseconds
}

// live reports whether the registration and its proof are valid at now
// (unix nanoseconds).
func (r *registration) live(now int64) bool { return now < r.expires && now < r.cover.Until }

// holder is a connected peer that showed a valid proof: it may reserve a
// relay slot and open circuits to peers of the same network.
type holder struct {
	key   [32]byte
	proof *member.Verified
	until time.Time
}

// New prepares a control plane; Start brings it up.
func New(cfg Config) (*Server, error) {
	if len(cfg.Listen) == 0 {
		cfg.Listen = []string{"/ip4/0.0.0.0/udp/4001/quic-v1", "/ip4/0.0.0.0/tcp/4001"}
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r := &cfg.Relay
	if r.MaxReservations == 0 {
		r.MaxReservations = 10000
	}
	if r.MaxCircuits == 0 {
		r.MaxCircuits = 64
	}
	if r.MaxReservationsPerIP == 0 {
		r.MaxReservationsPerIP = 1024
	}
	if r.BufferSize == 0 {
		r.BufferSize = 32 << 10
	}
	if r.JoinData == 0 {
		r.JoinData = DefaultJoinData
	}
	if r.JoinsPerIP == 0 {
		r.JoinsPerIP = DefaultJoinsPerIP
	}
	if r.JoinDuration == 0 {
		r.JoinDuration = DefaultJoinDuration
	}
	if r.JoinsPerDest == 0 {
		r.JoinsPerDest = DefaultJoinsPerDest
	}
	if r.JoinDestData == 0 {
		r.JoinDestData = DefaultJoinDestData
	}
	cfg.Limits.fill()
	if cfg.MaxNetworks == 0 {
		cfg.MaxNetworks = 100000
	}
	plans := cfg.Plans
	if plans == nil {
		plans = DefaultPlans()
	}
	if err := plans.check(); err != nil {
		return nil, fmt.Errorf("control: plans: %w", err)
	}
	if cfg.Dir != "" {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("control: state dir: %w", err)
		}
	}
	var owners map[identity.UserID]bool
	if cfg.Owners != nil {
		owners = map[identity.UserID]bool{}
		for _, u := range cfg.Owners {
			owners[u] = true
		}
	}
	store := cfg.Store
	if store == nil {
		store = NewMemStore()
	}
	if cfg.Claims == nil {
		if store.Persistent() {
			cfg.Claims = storeClaims{store.KV()} // shared by the replicas of one etcd
		} else {
			cfg.Claims = &devnet.MemClaims{Now: cfg.Now}
		}
	}
	meterDir := cfg.Dir
	if store.Persistent() {
		meterDir = "" // the counters are in the store
	}
	return &Server{
		store:      store,
		persistent: store.Persistent(),
		claims:     map[[32]byte]*claim{},
		remote:     map[[32]byte]map[string]remote{},
		live:       map[string]bool{},
		owners:     owners,
		rsvps:      map[[32]byte]map[peer.ID]time.Time{},
		cfg:        cfg,
		plans:      plans,
		meter:      newMeter(meterDir, cfg.Now()),
		pending:    newPendingStreams(cfg.Limits.PendingRequests, cfg.Limits.PendingBytes),
		proofs:     newProofCache(proofCacheSize),
		genesis:    member.NewGenesisCache(genesisCacheSize),
		nets:       map[[32]byte]*netState{},
		ownerNets:  map[identity.UserID]int{},
		holders:    map[peer.ID]*holder{},
		joins:      map[peer.ID]*joinGrant{},
	}, nil
}

func (s *Server) identity() (crypto.PrivKey, error) {
	if s.cfg.Dir == "" {
		k, _, err := crypto.GenerateEd25519Key(rand.Reader)
		return k, err
	}
	path := filepath.Join(s.cfg.Dir, "identity.key")
	if b, err := os.ReadFile(path); err == nil {
		if len(b) != ed25519.SeedSize {
			return nil, fmt.Errorf("control: %s is damaged (%d bytes); remove it to make a new identity (nodes must then be given the new address)", path, len(b))
		}
		return crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(b))
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, priv.Seed(), 0o600); err != nil {
		return nil, fmt.Errorf("control: save identity: %w", err)
	}
	return crypto.UnmarshalEd25519PrivateKey(priv)
}

// Start opens the host, the relay and the control protocol.
func (s *Server) Start(ctx context.Context) error {
	key, err := s.identity()
	if err != nil {
		return err
	}
	cm, err := s.cfg.Limits.connManager()
	if err != nil {
		return err
	}
	rm, err := s.cfg.Limits.resourceManager(s.cfg.Relay)
	if err != nil {
		return err
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(s.cfg.Listen...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.DisableRelay(),
		libp2p.ConnectionManager(cm),
		// Explicit limits on what anyone may open before a proof (see
		// Limits); plans bound what members use.
		libp2p.ResourceManager(rm),
		libp2p.UserAgent("coconet-control/0.1"),
		// Nothing reads go-libp2p's Prometheus metrics here; collecting
		// them costs a lock and a few allocations per stream.
		libp2p.DisableMetrics(),
	)
	if err != nil {
		rm.Close()
		return fmt.Errorf("control: start host: %w", err)
	}
	s.host = h
	s.cm = cm
	s.ctx, s.cancel = context.WithCancel(context.Background())
	rl := s.cfg.Relay
	res := relay.DefaultResources()
	res.Limit = nil
	if rl.Duration > 0 || rl.Data > 0 {
		res.Limit = &relay.RelayLimit{Duration: rl.Duration, Data: rl.Data}
		if rl.Duration == 0 {
			res.Limit.Duration = 365 * 24 * time.Hour
		}
		if rl.Data == 0 {
			res.Limit.Data = 1 << 62
		}
	}
	res.MaxReservations = rl.MaxReservations
	res.MaxCircuits = rl.MaxCircuits
	res.MaxReservationsPerIP = rl.MaxReservationsPerIP
	res.MaxReservationsPerASN = rl.MaxReservationsPerIP
	res.BufferSize = rl.BufferSize
	s.rsvpTTL = res.ReservationTTL
	s.relay, err = relay.New(&meteredHost{Host: h, s: s}, relay.WithResources(res), relay.WithACL(acl{s}))
	if err != nil {
		h.Close()
		return fmt.Errorf("control: start relay: %w", err)
	}
	s.replica = h.ID().String()
	if err := s.startStore(ctx); err != nil {
		s.relay.Close()
		h.Close()
		return err
	}
	h.SetStreamHandler(controlproto.Protocol, s.handle)
	s.wg.Add(1)
	go s.background()
	s.cfg.Logf("control plane %s on %v", h.ID(), h.Addrs())
	return nil
}

// Close stops the control plane and saves the counters. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, g := range s.joins {
		g.timer.Stop()
	}
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	var errs []error
	if s.relay != nil {
		errs = append(errs, s.relay.Close())
	}
	if s.host != nil {
		errs = append(errs, s.host.Close())
	}
	s.wg.Wait()
	errs = append(errs, s.meter.save())
	if s.persistent && s.host != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		errs = append(errs, s.saveUsage(ctx))
		cancel()
	}
	errs = append(errs, s.store.Close())
	return errors.Join(errs...)
}

// ID is the control plane's peer ID.
func (s *Server) ID() peer.ID { return s.host.ID() }

// Host is the libp2p host.
func (s *Server) Host() host.Host { return s.host }

// Addrs are the control plane's listen addresses with its /p2p/ ID: what
// nodes are given (`coco up --control ADDR`).
func (s *Server) Addrs() []ma.Multiaddr {
	p2p := ma.StringCast("/p2p/" + s.host.ID().String())
	var out []ma.Multiaddr
	for _, a := range s.host.Addrs() {
		out = append(out, a.Encapsulate(p2p))
	}
	return out
}

// Registrations is the number of live registrations, all networks.
func (s *Server) Registrations() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ns := range s.nets {
		n += len(ns.regs)
	}
	return n
}

// background saves the counters and expires registrations, proofs and
// revocations.
func (s *Server) background() {
	defer s.wg.Done()
	every := 10 * time.Second
	if s.persistent {
		every = usageSaveEvery
	}
	save := time.NewTicker(every)
	defer save.Stop()
	gc := time.NewTicker(5 * time.Second)
	defer gc.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-save.C:
			if err := s.meter.save(); err != nil {
				s.cfg.Logf("save usage: %v", err)
			}
			if s.persistent {
				ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
				if err := s.saveUsage(ctx); err != nil {
					s.cfg.Logf("save usage: %v", err)
				}
				cancel()
			}
		case <-gc.C:
			s.gc()
		}
	}
}

func (s *Server) gc() {
	now := s.cfg.Now()
	var cut []peer.ID
	s.mu.Lock()
	s.gcJoinsLocked(time.Now())
	for p, h := range s.holders {
		if !now.Before(h.until) {
			delete(s.holders, p)
			s.unprotect(p)
			cut = append(cut, p)
		}
	}
	held := map[[32]byte]bool{}
	for _, h := range s.holders {
		held[h.key] = true
	}
	type gone struct {
		key [32]byte
		rv  *member.Revocation
	}
	var ended []gone
	nowNs := now.UnixNano()
	for key, ns := range s.nets {
		for p, r := range ns.regs {
			if !r.live(nowNs) {
				delete(ns.regs, p)
			}
		}
		live := ns.revs[:0]
		for _, v := range ns.revs {
			if now.Before(time.Unix(v.Until, 0)) {
				live = append(live, v)
			} else {
				ended = append(ended, gone{key, v})
			}
		}
		clear(ns.revs[len(live):])
		ns.revs = live
		// A network stays known while a node of it holds a proof here
		// (and maybe a relay slot), so its plan still counts.
		if len(ns.regs) == 0 && len(ns.revs) == 0 && !held[key] {
			delete(s.nets, key)
			delete(s.rsvps, key)
			if s.ownerNets[ns.owner]--; s.ownerNets[ns.owner] <= 0 {
				delete(s.ownerNets, ns.owner)
			}
		}
	}
	s.mu.Unlock()
	if s.persistent {
		for _, g := range ended {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			if err := s.store.DeleteRevocation(ctx, g.key, g.rv); err != nil {
				s.cfg.Logf("forget revocation: %v", err)
			}
			cancel()
		}
	}
	// A peer whose proof expired loses its relay slot and circuits; if it
	// still holds a valid certificate it registers again.
	for _, p := range cut {
		s.cfg.Logf("proof of %s expired; closing its connections", p.ShortString())
		s.host.Network().ClosePeer(p)
	}
}

func (s *Server) handle(st network.Stream) {
	defer st.Close()
	// The request carries the proof: until it is read and checked the
	// stream is a stranger's, and gets a short time.
	st.SetDeadline(time.Now().Add(s.cfg.Limits.RequestTimeout))
	var src io.Reader = st
	var ps *pendingStream
	if _, ok := s.holderOf(st.Conn().RemotePeer()); !ok {
		// A stream of a peer without a live proof holds one of a bounded
		// number of places (and bytes); a new one pushes out the oldest,
		// so strangers holding streams open cannot keep a newcomer out.
		ps = s.pending.add(st)
		defer ps.done()
		src = ps
	}
	// A small buffer: a stranger holding many streams open holds it in each.
	b, err := controlproto.ReadFrame(bufio.NewReaderSize(src, 64), controlproto.MaxRequest)
	if err != nil {
		s.stats.answered("unreadable")
		st.Reset()
		return
	}
	if ps != nil {
		ps.done()
	}
	st.SetDeadline(time.Now().Add(10 * time.Second))
	resp := s.serve(st.Conn(), b)
	s.stats.answered(resp.Code)
	resp.V = controlproto.WireVersion
	resp.Observed = observedAddr(st.Conn()).String()
	out, _ := json.Marshal(resp)
	if resp.key != nil && s.known(*resp.key) {
		// Counted (claimed in the store) before the answer goes out: a
		// replica killed after answering has counted what it answered.
		if err := s.count(*resp.key, Counts{Control: int64(len(b) + len(out)), Messages: 1}); err != nil {
			s.cfg.Logf("count usage: %v", err)
			st.Reset()
			return
		}
	}
	controlproto.WriteMsg(st, json.RawMessage(out))
}

// served is a response with the network it is charged to.
type served struct {
	controlproto.Response
	key *[32]byte
}

func fail(code string, err error) *served {
	return &served{Response: controlproto.Response{Code: code, Error: err.Error()}}
}

func (s *Server) serve(c network.Conn, b []byte) *served {
	req, err := controlproto.ParseRequest(b)
	if err != nil {
		return fail(controlproto.CodeBadRequest, err)
	}
	now := s.cfg.Now()
	// A proof seen verified before (a node's renewals and lookups) is
	// not checked again while valid; see proofCache.
	pkey := proofCacheKey(req.Proof)
	v := s.proofs.get(pkey, now)
	dev := isDevProof(req.Proof) // a developer network's credential (devnet.go); never cached
	var proof *member.Proof
	if v == nil && !dev {
		if proof, err = member.UnmarshalProof(req.Proof); err != nil {
			return fail(controlproto.CodeUnauthorized, fmt.Errorf("no valid membership proof: %v", err))
		}
	}
	// The key whose possession the request proves: the record's signer for
	// a registration (so one connection may register for several nodes, as
	// a gateway does), the connection's peer otherwise.
	signer := c.RemotePeer()
	var rec *peer.PeerRecord
	if req.Op == controlproto.OpRegister {
		if len(req.Record) > MaxRecord {
			// Every replica keeps every registration: each is bounded.
			return fail(controlproto.CodeBadRequest, fmt.Errorf("peer record of %d bytes; at most %d", len(req.Record), MaxRecord))
		}
		env, r, err := record.ConsumeEnvelope(req.Record, peer.PeerRecordEnvelopeDomain)
		if err != nil {
			return fail(controlproto.CodeBadRequest, fmt.Errorf("peer record: %v", err))
		}
		rec = r.(*peer.PeerRecord)
		if id, err := peer.IDFromPublicKey(env.PublicKey); err != nil || id != rec.PeerID {
			return fail(controlproto.CodeBadRequest, errors.New("peer record is not signed by its peer"))
		}
		if age := now.Sub(time.Unix(0, int64(rec.Seq))); age > RecordMaxAge || age < -RecordMaxAge {
			return fail(controlproto.CodeBadRequest, fmt.Errorf("peer record is %v old; records must be fresh (check the clock)", age.Round(time.Second)))
		}
		signer = rec.PeerID
	}
	nodeKey, err := keyOf(signer)
	if err != nil {
		return fail(controlproto.CodeUnauthorized, err)
	}
	if dev {
		if v, err = s.verifyDev(req.Proof, nodeKey, req.Op, now); err != nil {
			return fail(controlproto.CodeUnauthorized, fmt.Errorf("membership proof refused: %v", err))
		}
	} else if v == nil || v.Cert.Node != nodeKey {
		if proof == nil {
			if proof, err = member.UnmarshalProof(req.Proof); err != nil {
				return fail(controlproto.CodeUnauthorized, fmt.Errorf("no valid membership proof: %v", err))
			}
		}
		if v, err = proof.VerifyWith(nodeKey, now, s.genesis); err != nil {
			return fail(controlproto.CodeUnauthorized, fmt.Errorf("membership proof refused: %v", err))
		}
		s.proofs.add(pkey, v, now)
	}
	if s.owners != nil && !s.owners[v.Owner] {
		return fail(controlproto.CodeUnauthorized, fmt.Errorf("%w: this control plane serves only the networks of the owners its operator listed, and the owner of this network (%s) is not one of them; ask the operator to add it, or use another control plane", ErrNotServed, v.Owner))
	}
	// A revoked proof is refused for every operation, revocations
	// included.
	s.mu.Lock()
	ns := s.nets[v.Key]
	if ns != nil && ns.revokedLocked(v) {
		s.mu.Unlock()
		return fail(controlproto.CodeUnauthorized, fmt.Errorf("%w: this node's certificate was revoked by an owner or admin of the network", member.ErrRevoked))
	}
	s.mu.Unlock()
	if req.Op == controlproto.OpRevoke {
		return s.revoke(req, v, now)
	}
	if req.Op == controlproto.OpNetList {
		return s.netList(req, v)
	}
	s.mu.Lock()
	out, put := s.serveLocked(c, req, v, signer, now)
	s.mu.Unlock()
	if put != nil && s.persistent {
		// Answered once durable: another replica (or this one after a
		// restart) then knows the registration too. Writes of many
		// nodes share one transaction.
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		err := s.store.PutRegistration(ctx, put)
		cancel()
		if err != nil {
			s.cfg.Logf("store registration of %s: %v", signer.ShortString(), err)
			s.mu.Lock()
			if ns := s.nets[v.Key]; ns != nil {
				if r := ns.regs[signer]; r != nil && r.expires == put.Expires {
					delete(ns.regs, signer)
				}
			}
			s.mu.Unlock()
			return fail(CodeUnavailable, fmt.Errorf("the control plane cannot store registrations now (%v); try another control plane or again later", err))
		}
	}
	return out
}

// CodeUnavailable is the response code of a control plane that cannot
// reach its store; a client sees it as a plain error and tries again (or
// another replica).
const CodeUnavailable = "unavailable"

// serveLocked serves a register, lookup or usage request of a verified
// proof; for a registration it also returns what to write to the store.
func (s *Server) serveLocked(c network.Conn, req *controlproto.Request, v *member.Verified, signer peer.ID, now time.Time) (*served, *Registration) {
	ns := s.nets[v.Key]
	out := &served{key: &v.Key}
	var put *Registration
	use := s.usageLocked(v.Key, v.Owner, now)
	if req.Op == controlproto.OpUsage {
		out.Usage = &use
		return out, nil
	}
	if use.Bytes >= use.LimitBytes {
		return s.limited(out, controlproto.LimitBytes, use.Bytes, use.LimitBytes, use.Exceeded), nil
	}
	if req.Op == controlproto.OpRegister {
		if ns == nil || ns.regs[signer] == nil {
			if ns != nil && use.Nodes >= use.LimitNodes {
				return s.limited(out, controlproto.LimitNodes, int64(use.Nodes), int64(use.LimitNodes), fmt.Sprintf(
					"the network already has %d nodes registered on this control plane and its plan %q allows %d; remove unused nodes from the network, or ask the control plane's operator for a larger plan",
					use.Nodes, use.Plan, use.LimitNodes)), nil
			}
		}
		if ns == nil {
			var err *served
			if ns, err = s.newNetLocked(out, v, use); err != nil {
				return err, nil
			}
		}
		ttl := time.Duration(req.TTL) * time.Second
		if ttl <= 0 {
			ttl = DefaultRegistrationTTL
		}
		ttl = min(ttl, MaxRegistrationTTL, v.Until.Sub(now))
		r := &registration{env: req.Record, expires: now.Add(ttl).UnixNano(), cover: coverOf(v), seen: now.UnixNano()}
		ns.regs[signer] = r
		out.TTL = int64(ttl / time.Second)
		if s.persistent {
			put = &Registration{Net: v.Key, Owner: v.Owner, Peer: signer, Record: r.env, Expires: r.expires, Cover: r.cover}
		}
	}
	// Only a registered node holds a relay slot and opens circuits: a
	// lookup or a usage query alone makes nobody a holder.
	if signer == c.RemotePeer() && ns != nil && ns.regs[signer] != nil {
		s.holders[signer] = &holder{key: v.Key, proof: v, until: v.Until}
		if s.cm != nil {
			s.cm.Protect(signer, "member")
		}
	}
	if req.Op == controlproto.OpLookup {
		if ns != nil {
			nowNs := now.UnixNano()
			for p, r := range ns.regs {
				if p != signer && r.live(nowNs) {
					out.Records = append(out.Records, r.env)
				}
			}
		}
	}
	return out, put
}

// newNetLocked admits a network not known here yet, within its owner's
// plan (networks per owner) and the control plane's MaxNetworks.
func (s *Server) newNetLocked(out *served, v *member.Verified, use controlproto.Usage) (*netState, *served) {
	if use.Networks >= use.LimitNetworks {
		return nil, s.limited(out, controlproto.LimitNetworks, int64(use.Networks), int64(use.LimitNetworks), fmt.Sprintf(
			"the network's owner already has %d networks on this control plane and the plan %q allows %d; ask the control plane's operator for a larger plan",
			use.Networks, use.Plan, use.LimitNetworks))
	}
	if len(s.nets) >= s.cfg.MaxNetworks {
		return nil, s.limited(out, controlproto.LimitNetworks, int64(len(s.nets)), int64(s.cfg.MaxNetworks),
			"this control plane serves as many networks as it can; try again later or use another control plane")
	}
	ns := &netState{owner: v.Owner, regs: map[peer.ID]*registration{}}
	s.nets[v.Key] = ns
	s.ownerNets[v.Owner]++
	return ns, nil
}

func (s *Server) limited(out *served, limit string, used, max int64, msg string) *served {
	out.Code, out.Limit, out.Used, out.Max, out.Error = controlproto.CodeLimit, limit, used, max, msg
	return out
}

// usageLocked reports a network's usage against its owner's plan.
func (s *Server) usageLocked(key [32]byte, owner identity.UserID, now time.Time) controlproto.Usage {
	name, plan := s.plans.For(owner)
	c := s.usageOf(key, now)
	u := controlproto.Usage{
		Month: monthOf(now), Plan: name,
		RelayBytes: c.Relay, ControlBytes: c.Control, ControlMessages: c.Messages,
		LimitBytes: plan.Bytes, LimitNodes: plan.Nodes, LimitNetworks: plan.Networks,
	}
	u.Bytes = u.RelayBytes + u.ControlBytes
	if ns := s.nets[key]; ns != nil {
		u.Nodes = len(ns.regs)
	}
	// Counted as networks come and go: a walk over every network would
	// cost each request time in proportion to all the control plane serves.
	u.Networks = s.ownerNets[owner]
	switch {
	case u.Bytes >= u.LimitBytes:
		next := time.Date(now.UTC().Year(), now.UTC().Month()+1, 1, 0, 0, 0, 0, time.UTC)
		u.Exceeded = fmt.Sprintf("the network used %s of control-plane traffic this month, its plan %q allows %s: the relay and rendezvous are refused until %s; direct and LAN connections are unaffected; ask the control plane's operator for a larger plan",
			humanBytes(u.Bytes), u.Plan, humanBytes(u.LimitBytes), next.Format("2006-01-02"))
	case u.Nodes > u.LimitNodes:
		u.Exceeded = fmt.Sprintf("the network has %d nodes registered, its plan %q allows %d; remove unused nodes or ask the operator for a larger plan", u.Nodes, u.Plan, u.LimitNodes)
	}
	return u
}

// maxRevocations bounds the revocations a control plane keeps per
// network.
const maxRevocations = 4096

func (s *Server) revoke(req *controlproto.Request, v *member.Verified, now time.Time) *served {
	rv, err := member.UnmarshalRevocation(req.Revocation)
	if err != nil {
		return fail(controlproto.CodeBadRequest, err)
	}
	if err := rv.Verify(v.Net, v.Owner, now); err != nil {
		return fail(controlproto.CodeUnauthorized, fmt.Errorf("revocation refused: %v", err))
	}
	if max := rv.MaxUntil(v.Owner); time.Unix(rv.Until, 0).After(max) {
		rv.Until = max.Unix()
	}
	if !now.Before(time.Unix(rv.Until, 0)) {
		return &served{key: &v.Key} // covers nothing any more
	}
	s.mu.Lock()
	ns := s.nets[v.Key]
	if ns == nil {
		// A network within its owner's plan may be told of a revocation
		// before any of its nodes registers.
		var refused *served
		if ns, refused = s.newNetLocked(&served{}, v, s.usageLocked(v.Key, v.Owner, now)); refused != nil {
			s.mu.Unlock()
			return refused
		}
	}
	for _, w := range ns.revs {
		if w.RevokesIssuer(rv) {
			s.mu.Unlock()
			return fail(controlproto.CodeUnauthorized, fmt.Errorf("revocation refused: %w: its issuer %s was revoked", member.ErrRevoked, rv.Issuer.Short()))
		}
	}
	if err := ns.addRevocationLocked(rv, v.Owner); err != nil {
		s.mu.Unlock()
		return fail(controlproto.CodeLimit, err)
	}
	dropped, cut := s.applyRevocationLocked(v.Key, ns, rv)
	s.mu.Unlock()
	s.closePeers(cut)
	if s.persistent {
		// The other replicas learn of it from the store; a replica that
		// missed it (a watch cut off and reloaded) also finds the
		// covered registrations gone.
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.store.PutRevocation(ctx, v.Key, v.Owner, rv); err != nil {
			return fail(CodeUnavailable, fmt.Errorf("the control plane cannot store the revocation now (%v); try again", err))
		}
		if err := s.store.DeleteRegistrations(ctx, v.Key, dropped); err != nil {
			return fail(CodeUnavailable, fmt.Errorf("the control plane cannot store the revocation now (%v); try again", err))
		}
	}
	return &served{key: &v.Key}
}

// applyRevocationLocked drops the registrations and holders of network
// key that rv covers; it returns the peers it dropped and those whose
// connections to cut.
func (s *Server) applyRevocationLocked(key [32]byte, ns *netState, rv *member.Revocation) (dropped, cut []peer.ID) {
	for p, r := range ns.regs {
		if nk, err := keyOf(p); err == nil && rv.Covers(r.cover.verified(ns.owner, nk)) {
			delete(ns.regs, p)
			dropped = append(dropped, p)
		}
	}
	for p, h := range s.holders {
		if h.key == key && rv.Covers(h.proof) {
			delete(s.holders, p)
			s.unprotect(p)
			cut = append(cut, p)
		}
	}
	return dropped, cut
}

func (s *Server) closePeers(cut []peer.ID) {
	for _, p := range cut {
		s.cfg.Logf("revoked %s; closing its connections", p.ShortString())
		s.host.Network().ClosePeer(p)
	}
}

// revokedLocked reports whether a revocation the network holds covers v.
func (ns *netState) revokedLocked(v *member.Verified) bool {
	for _, rv := range ns.revs {
		if rv.Covers(v) {
			return true
		}
	}
	return false
}

// addRevocationLocked keeps rv: it replaces an older one of the same
// issuer, kind and subject; an owner's revocation of a user also drops the
// revocations that user signed as an admin (the owner's word supersedes
// theirs).
func (ns *netState) addRevocationLocked(rv *member.Revocation, owner identity.UserID) error {
	keep := ns.revs[:0]
	for _, w := range ns.revs {
		same := w.Issuer == rv.Issuer && w.Kind == rv.Kind && w.Subject == rv.Subject && w.Issued <= rv.Issued
		if same || (rv.ByOwner(owner) && rv.RevokesIssuer(w)) {
			continue
		}
		keep = append(keep, w)
	}
	ns.revs = keep
	if len(ns.revs) >= maxRevocations {
		return fmt.Errorf("the network already has %d revocations in force on this control plane; try again when some expire", len(ns.revs))
	}
	ns.revs = append(ns.revs, rv)
	return nil
}

// holderOf returns the network of a peer with a live proof, and whether
// that network is within its byte limit.
func (s *Server) holderOf(p peer.ID) (key [32]byte, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holders[p]
	if h == nil || !s.cfg.Now().Before(h.until) {
		return key, false
	}
	return h.key, true
}

func (s *Server) overLimit(key [32]byte) bool {
	s.mu.Lock()
	ns := s.nets[key]
	s.mu.Unlock()
	if ns == nil {
		return false
	}
	_, plan := s.plans.For(ns.owner)
	u := s.usageOf(key, s.cfg.Now())
	return u.Relay+u.Control >= plan.Bytes
}

// known reports whether a network is known here (has registrations or
// revocations); only those get usage counters.
func (s *Server) known(key [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nets[key] != nil
}

// reserve admits a relay slot for holder p of network key: at most the
// plan's nodes per network hold one at a time.
func (s *Server) reserve(p peer.ID, key [32]byte) bool {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.nets[key]
	if ns == nil {
		return false
	}
	slots := s.rsvps[key]
	if slots == nil {
		slots = map[peer.ID]time.Time{}
		s.rsvps[key] = slots
	}
	for q, until := range slots {
		h := s.holders[q]
		if !now.Before(until) || h == nil || h.key != key || (s.host != nil && s.host.Network().Connectedness(q) != network.Connected) {
			delete(slots, q)
		}
	}
	if _, ok := slots[p]; !ok {
		if _, plan := s.plans.For(ns.owner); len(slots) >= plan.Nodes {
			s.cfg.Logf("relay slot for %s refused: its network holds %d, its plan allows %d", p.ShortString(), len(slots), plan.Nodes)
			return false
		}
	}
	slots[p] = now.Add(s.rsvpTTL)
	return true
}

// unprotect lets the connection manager trim a peer that lost its proof.
func (s *Server) unprotect(p peer.ID) {
	if s.cm != nil {
		s.cm.Unprotect(p, "member")
	}
}

func keyOf(p peer.ID) ([32]byte, error) {
	var k [32]byte
	pub, err := p.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return k, unauthorized("peer %s has no Ed25519 key", p.ShortString())
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != 32 {
		return k, unauthorized("peer %s: bad key", p.ShortString())
	}
	copy(k[:], raw)
	return k, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
