package drivenode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// KeyService is the rpc service a member node asks for a drive's secret.
const KeyService = "coco.drive.key"

// Errors a caller matches with errors.Is.
var (
	// ErrNoDrive: this node does not hold the drive, and no member node it
	// reached does.
	ErrNoDrive = errors.New("drivenode: no such drive")
	// ErrExists: Create of a drive this node already holds.
	ErrExists = errors.New("drivenode: drive already exists")
	// ErrBlind: a content operation on a drive this node replicates
	// without its key.
	ErrBlind = errors.New("drivenode: this node replicates the drive blind, without its key")
	// ErrClosed: the service is closed.
	ErrClosed = errors.New("drivenode: closed")
)

// Roles of a node in a drive.
const (
	RoleMember     = "member"     // holds the secret: reads and writes
	RoleReplicator = "replicator" // stores and serves the logs, reads nothing
)

// Options tune Start.
type Options struct {
	// Every is how often each drive syncs with the member nodes; 0 means
	// 30 seconds. A negative value turns off the loop and the sync on
	// connect: drives sync only when Sync is called (tests of offline
	// edits).
	Every time.Duration
	// PeerTimeout bounds one sync with one peer; 0 means 30 seconds.
	PeerTimeout time.Duration
	// Logf receives diagnostic lines; nil uses the engine's.
	Logf func(format string, args ...any)
}

// Address is the address of the network drive called name.
func Address(network ledger.NetworkID, name string) drive.Address {
	h := sha256.New()
	h.Write([]byte("coconet/v1/drive\x00"))
	h.Write(network[:])
	h.Write([]byte(name))
	return drive.Address(h.Sum(nil))
}

// meta is what this node keeps of a drive beside its store, in
// <dir>/<address>.json (mode 0600: it holds the secret).
type meta struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Secret string `json:"secret,omitempty"` // hex; members only
	// Epochs are the secrets of the later key epochs this member holds.
	Epochs []metaEpoch `json:"epochs,omitempty"`
	Bandwidth
}

// Bandwidth is a drive's bandwidth on this node: Limit bounds the bytes
// per second of all its sessions ("2MB/s"; "" none); outside Schedule
// ("mon-fri 19:00-07:00" in TZ, "" the machine's zone; "" always) only
// logs move, not content.
type Bandwidth struct {
	Limit    string `json:"limit,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	TZ       string `json:"tz,omitempty"`
}

// parse reads b.
func (b Bandwidth) parse() (*drive.Limiter, *drive.Schedule, error) {
	var lim *drive.Limiter
	var sch *drive.Schedule
	if b.Limit != "" {
		r, err := drive.ParseRate(b.Limit)
		if err != nil {
			return nil, nil, err
		}
		lim = drive.NewLimiter(r)
	}
	if b.TZ != "" && b.Schedule == "" {
		return nil, nil, fmt.Errorf("drivenode: a time zone without a schedule")
	}
	if b.Schedule != "" {
		var loc *time.Location
		if b.TZ != "" {
			var err error
			if loc, err = time.LoadLocation(b.TZ); err != nil {
				return nil, nil, fmt.Errorf("drivenode: time zone %q: %w", b.TZ, err)
			}
		}
		var err error
		if sch, err = drive.ParseSchedule(b.Schedule, loc); err != nil {
			return nil, nil, err
		}
	}
	return lim, sch, nil
}

// Info describes a drive this node holds.
type Info struct {
	Name    string
	Address drive.Address
	Role    string
}

// Drive is one drive this node holds.
type Drive struct {
	Info
	Store   *drive.Store
	Drive   *drive.Drive // nil on a blind replicator
	Replica *drive.Replica
	meta    meta              // guarded by Service.mu after open
	refused map[[32]byte]bool // epoch secrets found wrong; guarded by Service.mu
	service string
	ln      interface{ Close() error }
}

// Service holds the drives of one engine's network. Its methods are safe
// for concurrent use.
type Service struct {
	e    *engine.Engine
	dir  string
	opts Options

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{}
	notif  *network.NotifyBundle

	mu     sync.Mutex // guards drives and closed
	drives map[drive.Address]*Drive
	closed bool
}

// Start opens the drives kept in dir (created if missing), serves them and
// the key service on e, and starts the sync loop. Attach it with
// engine.Attach(e, func(e) { return drivenode.Start(e, dir, opts) }).
func Start(e *engine.Engine, dir string, opts Options) (*Service, error) {
	if opts.PeerTimeout <= 0 {
		opts.PeerTimeout = 30 * time.Second
	}
	if opts.Every == 0 {
		opts.Every = 30 * time.Second
	}
	if opts.Logf == nil {
		opts.Logf = e.Logf
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("drivenode: %w", err)
	}
	ctx, cancel := context.WithCancel(e.Context())
	s := &Service{e: e, dir: dir, opts: opts, ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1),
		drives: make(map[drive.Address]*Drive)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("drivenode: %w", err)
	}
	for _, ent := range ents {
		name, ok := strings.CutSuffix(ent.Name(), ".json")
		if !ok {
			continue
		}
		addr, err := drive.ParseAddress(name)
		if err != nil {
			continue
		}
		var m meta
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		var d *Drive
		if err == nil {
			d, err = s.open(addr, m)
		}
		if err == nil && d.Drive != nil {
			if err := s.certify(addr); err != nil {
				opts.Logf("drive %s: %v", m.Name, err)
			}
		}
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("drivenode: open drive %s: %w", name, err)
		}
	}
	e.Handle(KeyService, s.handleKey, node.Access{What: "drive keys"})
	if opts.Every > 0 {
		s.notif = &network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
			if _, ok := e.Node().SenderOf(c.RemotePeer()); ok {
				s.Kick()
			}
		}}
		e.Node().Host().Network().Notify(s.notif)
		s.wg.Add(1)
		go s.loop()
	}
	return s, nil
}

// Close stops the loop and the listeners and closes every store.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	if s.notif != nil {
		s.e.Node().Host().Network().StopNotify(s.notif)
	}
	s.e.Handle(KeyService, nil)
	s.mu.Lock()
	ds := s.drives
	s.mu.Unlock()
	for _, d := range ds {
		d.ln.Close()
	}
	s.wg.Wait()
	var errs []error
	for _, d := range ds {
		errs = append(errs, d.Store.Close())
	}
	return errors.Join(errs...)
}

// SetBandwidth sets and keeps the bandwidth of the drive called name on
// this node.
func (s *Service) SetBandwidth(ctx context.Context, name string, b Bandwidth) (Bandwidth, error) {
	d, err := s.Open(ctx, name)
	if err != nil {
		return Bandwidth{}, err
	}
	lim, sch, err := b.parse()
	if err != nil {
		return Bandwidth{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := d.meta
	m.Bandwidth = b
	if err := s.save(d.Address, m); err != nil {
		return Bandwidth{}, err
	}
	d.meta = m
	d.Replica.SetBandwidth(lim, sch)
	return b, nil
}

// GetBandwidth is the bandwidth of the drive called name on this node.
func (s *Service) GetBandwidth(ctx context.Context, name string) (Bandwidth, error) {
	d, err := s.Open(ctx, name)
	if err != nil {
		return Bandwidth{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return d.meta.Bandwidth, nil
}

// Kick asks the loop to sync every drive now (without waiting).
func (s *Service) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *Service) loop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
		for _, d := range s.List() {
			if _, err := s.sync(s.ctx, d.Name, true); err != nil && s.ctx.Err() == nil {
				s.opts.Logf("drive %s: %v", d.Name, err)
			}
		}
	}
}

// List returns the drives this node holds, by name.
func (s *Service) List() []Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Info
	for _, d := range s.drives {
		out = append(out, d.Info)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// open opens a drive's store (and drive, for a member) and serves it.
func (s *Service) open(addr drive.Address, m meta) (*Drive, error) {
	st, err := s.openStore(addr)
	if err != nil {
		return nil, err
	}
	d := &Drive{Info: Info{Name: m.Name, Address: addr, Role: m.Role}, Store: st, service: "coco.drive/" + addr.String(), refused: make(map[[32]byte]bool)}
	if m.Role == RoleMember {
		ks, err := m.keyring()
		if err == nil {
			d.Drive, err = drive.Open(st, ks[0].Secret, s.e.Identity().Seed.DriveWriterKey(addr), drive.Options{Logf: s.opts.Logf})
		}
		for _, k := range ks[1:] {
			if err == nil {
				err = d.Drive.AddEpoch(k.Epoch, k.Secret)
			}
		}
		if err != nil {
			st.Close()
			return nil, err
		}
	}
	lim, sch, err := m.Bandwidth.parse()
	if err != nil {
		st.Close()
		return nil, err
	}
	d.Replica = drive.NewReplica(st, drive.ReplicaOptions{AllowPeer: s.allowPeer, Logf: s.opts.Logf, Limit: lim, Schedule: sch})
	d.meta = m
	ln, err := s.e.Listen(d.service, node.Access{What: "drive " + m.Name})
	if err != nil {
		st.Close()
		return nil, err
	}
	d.ln = ln
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		st.Close()
		return nil, ErrClosed
	}
	s.drives[addr] = d
	s.wg.Add(1) // under mu: Close waits only once it has set closed
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			sc := c.(*stream.Conn)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				if err := d.Replica.Serve(s.ctx, drive.PeerID(sc.Sender().Node.String()), sc); err != nil && s.ctx.Err() == nil {
					s.opts.Logf("drive %s: %v", d.Name, err)
				}
			}()
		}
	}()
	return d, nil
}

// openStore opens the store of drive addr, its writers checked against
// this node's ledger (writerAllowed).
func (s *Service) openStore(addr drive.Address) (*drive.Store, error) {
	return drive.OpenStore(filepath.Join(s.dir, addr.String()), addr, drive.StoreOptions{Logf: s.opts.Logf,
		AllowWriter: func(w drive.WriterID) bool { return writerAllowed(s.e.Ledger().State(), addr, w) }})
}

// allowPeer admits a node its ledger lists, now, as a node of the owner or
// an admin (the drive's members): never a guest, a device or a removed node.
func (s *Service) allowPeer(p drive.PeerID) bool {
	id, err := peer.Decode(string(p))
	if err != nil {
		return false
	}
	from, ok := s.e.Node().SenderOf(id)
	return ok && node.Access{}.Admits(s.e.User(), from)
}

// save writes a drive's record.
func (s *Service) save(addr drive.Address, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(s.dir, addr.String()+".json"), b, 0o600); err != nil {
		return fmt.Errorf("drivenode: %w", err)
	}
	return nil
}

// Create creates the network drive called name, this user its creator:
// its secret is this user's seed's, so a restore of the paper key finds it
// again.
func (s *Service) Create(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	addr := Address(s.e.NetworkID(), name)
	if d := s.get(addr); d != nil {
		return d.Info, fmt.Errorf("%w: %q", ErrExists, name)
	}
	if err := s.certify(addr); err != nil {
		return Info{}, err
	}
	secret := s.e.Identity().Seed.DriveSecret(addr)
	i, err := s.add(addr, meta{Name: name, Role: RoleMember, Secret: hex.EncodeToString(secret[:])})
	if err != nil {
		return i, err
	}
	// The first entry, so that a member handed the secret can check it.
	return i, s.get(addr).Drive.Mark()
}

func (s *Service) add(addr drive.Address, m meta) (Info, error) {
	if err := s.save(addr, m); err != nil {
		return Info{}, err
	}
	d, err := s.open(addr, m)
	if err != nil {
		return Info{}, err
	}
	s.Kick()
	return d.Info, nil
}

func checkName(name string) error {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("drivenode: bad drive name %q: use 1 to 200 bytes without a slash", name)
	}
	return nil
}

func (s *Service) get(addr drive.Address) *Drive {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drives[addr]
}

// Replicate holds the drive called name blind: its logs and chunks, not
// its key.
func (s *Service) Replicate(name string) (Info, error) {
	if err := checkName(name); err != nil {
		return Info{}, err
	}
	addr := Address(s.e.NetworkID(), name)
	if d := s.get(addr); d != nil {
		return d.Info, nil
	}
	return s.add(addr, meta{Name: name, Role: RoleReplicator})
}

// Open returns the drive called name. A member node that does not hold it
// yet asks the member nodes it reaches for its secret, and holds it from
// then on.
func (s *Service) Open(ctx context.Context, name string) (*Drive, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	addr := Address(s.e.NetworkID(), name)
	if d := s.get(addr); d != nil {
		return d, nil
	}
	if err := s.certify(addr); err != nil {
		return nil, err
	}
	ks, err := s.fetchKey(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrNoDrive, name, err)
	}
	m := meta{Name: name, Role: RoleMember, Secret: hex.EncodeToString(ks[0].Secret[:])}
	for _, k := range ks[1:] {
		m.Epochs = append(m.Epochs, metaEpoch{k.Epoch, hex.EncodeToString(k.Secret[:])})
	}
	if _, err := s.add(addr, m); err != nil {
		return nil, err
	}
	return s.get(addr), nil
}

// Member returns the drive called name with its key (ErrBlind on a
// replicator).
func (s *Service) Member(ctx context.Context, name string) (*Drive, error) {
	d, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	if d.Drive == nil {
		return nil, fmt.Errorf("%w: %q", ErrBlind, name)
	}
	return d, nil
}

// fetchKey asks member nodes, connected ones first, for addr's secrets,
// and checks them: a node's answer is taken only once the logs synced
// from it and the other nodes open with it (drive.CheckSecret). A node
// that hands out a wrong secret is passed over, and said so. The nodes
// asked give the key only to a user whose writer cert their ledger holds:
// a node that has just put it asks again while it travels.
func (s *Service) fetchKey(ctx context.Context, addr drive.Address) ([]epochSecret, error) {
	var errs []error
	deadline := time.Now().Add(keyWait)
	for {
		errs = errs[:0]
		for _, p := range s.peers() {
			ks, err := s.fetchKeyFrom(ctx, addr, p)
			if err == nil {
				return ks, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", p.ShortString(), err))
			if ctx.Err() != nil {
				return nil, errors.Join(errs...)
			}
		}
		if len(errs) == 0 {
			return nil, errors.New("no member node to ask")
		}
		if !slices.ContainsFunc(errs, func(err error) bool { return strings.Contains(err.Error(), errNoCert) }) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, errors.Join(errs...)
		case <-time.After(keyRetry):
		}
	}
	return nil, errors.Join(errs...)
}

// keyWait and keyRetry: how long, and how often, a node whose cert is not
// yet in the answering node's ledger asks again (the ledger op travels
// within a round trip; a loaded machine may take longer).
const (
	keyWait  = 15 * time.Second
	keyRetry = 200 * time.Millisecond
)

// errNoCert is what a node answers a member whose cert its ledger lacks.
const errNoCert = "no writer cert of yours in this node's ledger yet"

func (s *Service) fetchKeyFrom(ctx context.Context, addr drive.Address, p peer.ID) ([]epochSecret, error) {
	wait := s.opts.PeerTimeout
	if !s.e.Connected(p) {
		wait = min(wait, dialTimeout)
	}
	cctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b, err := s.e.RPC().Request(cctx, p, KeyService, addr[:])
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("it has no key for it")
	}
	ks, err := decodeKeyring(b)
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 || ks[0].Epoch != 0 {
		return nil, fmt.Errorf("%w: no secret of epoch 0", errKeyring)
	}
	// Sync the logs (into the store this node will keep) to check the
	// secrets against.
	st, err := s.openStore(addr)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	r := drive.NewReplica(st, drive.ReplicaOptions{AllowPeer: s.allowPeer, Logf: s.opts.Logf})
	for _, q := range append([]peer.ID{p}, s.peers()...) {
		if q != p && !s.e.Connected(q) {
			continue
		}
		if _, err := r.Sync(cctx, dialer{s.e, "coco.drive/" + addr.String()}, drive.PeerID(q.String())); err != nil && q == p {
			return nil, err
		}
	}
	lst := s.e.Ledger().State()
	from, _ := s.e.Node().SenderOf(p)
	giver := writersOf(lst, addr, from.User)
	allow := func(w drive.WriterID) bool { return writerAllowed(lst, addr, w) }
	for _, k := range ks {
		err := drive.CheckSecret(st, k.Epoch, k.Secret, giver, allow)
		switch {
		case errors.Is(err, drive.ErrUnverified):
			s.opts.Logf("drive %s: the secret of epoch %d from %s is not verified yet: no entry of that epoch held", addr, k.Epoch, p.ShortString())
		case err != nil:
			s.opts.Logf("drive %s: %s handed out a wrong secret: %v", addr, p.ShortString(), err)
			return nil, err
		}
	}
	return ks, nil
}

// handleKey answers a member node's request for a drive's secrets. The
// engine admitted the caller (owner and admins, by this node's ledger);
// allowPeer checks again so the rule is the drive's own, and the caller's
// user must have put its writer cert: whoever ever got the key has a cert,
// so a removal of any of them is seen, and the key rotated (rotate).
func (s *Service) handleKey(_ context.Context, req *rpc.Request) ([]byte, error) {
	if !s.allowPeer(drive.PeerID(req.From.Node.String())) {
		return nil, errors.New("drive keys are for members (owner and admins)")
	}
	if len(req.Payload) != 32 {
		return nil, errors.New("bad drive address")
	}
	addr := drive.Address(req.Payload)
	d := s.get(addr)
	if d == nil || d.Drive == nil {
		return nil, nil
	}
	st := s.e.Ledger().State()
	if !slices.ContainsFunc(certs(st, addr), func(c drive.WriterCert) bool { return identity.UserID(c.User) == req.From.User }) {
		return nil, errors.New(errNoCert)
	}
	s.mu.Lock()
	ks, err := d.meta.keyring()
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return encodeKeyring(ks), nil
}

// peers lists the other member nodes allowed to sync drives, connected
// ones first.
func (s *Service) peers() []peer.ID {
	st := s.e.Ledger().State()
	var on, off []peer.ID
	for k := range st.Nodes {
		id, err := node.PeerIDOf(k)
		if err != nil || id == s.e.PeerID() || !s.allowPeer(drive.PeerID(id.String())) {
			continue
		}
		if s.e.Connected(id) {
			on = append(on, id)
		} else {
			off = append(off, id)
		}
	}
	slices.Sort(on)
	slices.Sort(off)
	return append(on, off...)
}

// dialer opens the drive's stream to a member node.
type dialer struct {
	e       *engine.Engine
	service string
}

func (d dialer) Open(ctx context.Context, p drive.PeerID) (io.ReadWriteCloser, error) {
	id, err := peer.Decode(string(p))
	if err != nil {
		return nil, err
	}
	if !d.e.Connected(id) {
		// An offline node should not hold a sync up for the whole session's time.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, dialTimeout)
		defer cancel()
	}
	return d.e.Streams().Dial(ctx, id, d.service)
}

// dialTimeout bounds reaching a member node not connected yet.
const dialTimeout = 10 * time.Second

// PeerSync is the result of one sync with one peer.
type PeerSync struct {
	Peer  peer.ID
	Stats drive.SyncStats
	Err   error
}

// Sync syncs the drive called name with every member node it reaches, in
// parallel, each within Options.PeerTimeout. It fails only when no peer
// answered and there was one to ask.
func (s *Service) Sync(ctx context.Context, name string) ([]PeerSync, error) {
	return s.sync(ctx, name, false)
}

// sync syncs with the member nodes, or only the connected ones (the loop:
// an offline node is not dialled every round).
func (s *Service) sync(ctx context.Context, name string, connected bool) ([]PeerSync, error) {
	d, err := s.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	ps := s.peers()
	if connected {
		ps = slices.DeleteFunc(ps, func(p peer.ID) bool { return !s.e.Connected(p) })
	}
	out := make([]PeerSync, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, s.opts.PeerTimeout)
			defer cancel()
			st, err := d.Replica.Sync(cctx, dialer{s.e, d.service}, drive.PeerID(p.String()))
			out[i] = PeerSync{Peer: p, Stats: st, Err: err}
		}()
	}
	wg.Wait()
	if d.Drive != nil {
		d.Drive.Refresh()
		s.epochs(d)
	}
	var errs []error
	for _, r := range out {
		if r.Err == nil {
			return out, nil
		}
		errs = append(errs, r.Err)
	}
	return out, errors.Join(errs...)
}

// Fetch makes the content of path local, asking member nodes for the
// chunks the store lacks.
func (s *Service) Fetch(ctx context.Context, d *Drive, path string) error {
	missing, err := d.Drive.Missing(path)
	if err != nil || len(missing) == 0 {
		return err
	}
	var errs []error
	for _, p := range s.peers() {
		cctx, cancel := context.WithTimeout(ctx, s.opts.PeerTimeout)
		_, err := d.Replica.FetchChunks(cctx, dialer{s.e, d.service}, drive.PeerID(p.String()), missing)
		cancel()
		if err != nil {
			errs = append(errs, err)
		}
		if missing, err = d.Drive.Missing(path); err != nil || len(missing) == 0 {
			return err
		}
	}
	return fmt.Errorf("drivenode: %d chunks of %s held by no member node reached: %w", len(missing), path, errors.Join(errs...))
}
