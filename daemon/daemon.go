package daemon

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// SocketPath is where the daemon of home listens.
func SocketPath(home string) string { return filepath.Join(home, "coco.sock") }

// Daemon runs the nodes of one home. Set the fields, then Start.
type Daemon struct {
	Home       string
	ListenHost string
	MDNS       bool
	// Control lists control planes every node uses.
	Control []string
	Logf    func(format string, args ...any)
	// Device runs this home as a device (`coco up --device`): one network at
	// a time, joined by the owner claiming it; DeviceName names it.
	Device     bool
	DeviceName string
	// Sim names a simulated bridge whose resources the device serves
	// ("zigbee": bulbs, a plug, a door lock, a temperature sensor); "" none.
	Sim string
	// DeviceModel is the model a device announces (OTA authorizations name
	// it); "" means "coconet-device", or "coconet-sim-<Sim>" with Sim.
	DeviceModel string
	// OnClaimCode, if set, is called with each claim code a device shows.
	OnClaimCode func(code string)
	// LockWait is how long Start waits for another coco command (an
	// offline one) to release the home's lock; 0 fails at once. OnLockWait,
	// if set, is called when Start begins to wait.
	LockWait   time.Duration
	OnLockWait func()
	// LedgerOnly runs no node and serves no socket: what needs only the
	// home's ledgers (networks, members, removals, joining, grants, zones,
	// scenes, devices, firmware and push records) works on them directly,
	// and the node syncs it when it next runs; what needs a running node
	// fails with ErrNodeNotRunning. The CLI runs it when no daemon does. Start
	// takes the home's lock and Close releases it.
	LedgerOnly bool
	// DriveSyncEvery is how often drives sync (daemon/drive.go).
	DriveSyncEvery time.Duration
	// AuthKey joins the developer network it is for at Start (`coco up
	// --authkey KEY`; a home without an identity gets one).
	AuthKey string

	dev     deviceState      // guarded by mu
	authNet ledger.NetworkID // the network of AuthKey
	closing bool             // Close has begun; guarded by mu

	id   *identity.Identity
	lock *os.File
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup

	mu    sync.Mutex // guards nodes
	nodes map[ledger.NetworkID]*coconet.Node
}

// Start takes the home lock, starts a node per network and serves the API.
func (d *Daemon) Start(ctx context.Context) error {
	if d.Logf == nil {
		d.Logf = func(string, ...any) {}
	}
	if d.AuthKey != "" {
		if err := d.adoptAuthKey(); err != nil {
			return err
		}
	}
	id, err := homedir.LoadIdentity(d.Home)
	if err != nil {
		return err
	}
	d.id = id
	lock, err := d.lockHome(ctx)
	if err != nil && d.LedgerOnly { // run because no daemon answers
		return fmt.Errorf("%w, but its socket does not answer; is it starting up or stuck?", err)
	}
	if err != nil {
		return err
	}
	d.lock = lock
	d.nodes = map[ledger.NetworkID]*coconet.Node{}
	if d.LedgerOnly {
		return nil
	}
	nets, err := homedir.Networks(d.Home)
	if err != nil {
		d.Close()
		return err
	}
	if d.Device {
		if err := d.startDevice(ctx, nets); err != nil {
			d.Close()
			return err
		}
		nets = nil
	}
	for _, n := range nets {
		if n.Role == "removed" {
			d.Logf("not starting %q: you were removed from it", n.Name)
			continue
		}
		if err := d.startNode(ctx, n.ID); err != nil {
			d.Close()
			return fmt.Errorf("start node for %q: %w", n.Name, err)
		}
	}
	sock := SocketPath(d.Home)
	ln, err := listenPrivate(sock) // replaces a crashed daemon's socket: we hold the lock
	if err != nil {
		d.Close()
		return fmt.Errorf("daemon: listen on %s: %w", sock, err)
	}
	d.ln = ln
	srv := &http.Server{Handler: api.Handler(d), ReadHeaderTimeout: 10 * time.Second}
	d.srv = srv
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		srv.Serve(ln) // not d.srv: a Close before this runs sets it to nil
	}()
	return nil
}

func (d *Daemon) startNode(ctx context.Context, id ledger.NetworkID) error {
	n := &coconet.Node{Home: d.Home, Network: id.String(), ListenHost: d.ListenHost, MDNS: d.MDNS, Control: d.Control, Logf: d.Logf, Device: d.Device}
	if d.authNet == id {
		n.AuthKey = d.AuthKey
	}
	if err := n.Start(ctx); err != nil {
		return err
	}
	d.serveBuiltins(n)
	d.mu.Lock()
	d.nodes[id] = n // before attach: what it starts may look the node up
	d.mu.Unlock()
	if err := d.attach(ctx, n); err != nil {
		d.mu.Lock()
		if d.nodes[id] == n {
			delete(d.nodes, id)
		}
		d.mu.Unlock()
		n.Close()
		return err
	}
	return nil
}

// Close stops the API and every node. It is idempotent.
func (d *Daemon) Close() error {
	d.mu.Lock()
	d.closing = true
	d.mu.Unlock()
	if d.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		d.srv.Shutdown(ctx)
		cancel()
		d.srv.Close()
		d.srv = nil
	}
	d.stopDevice()
	d.wg.Wait()
	d.mu.Lock()
	nodes := d.nodes
	d.nodes = map[ledger.NetworkID]*coconet.Node{}
	d.mu.Unlock()
	for _, n := range nodes {
		n.Close()
	}
	if d.lock != nil {
		if !d.LedgerOnly {
			os.Remove(SocketPath(d.Home))
		}
		d.lock.Close()
		d.lock = nil
	}
	return nil
}

// Node returns the running node of a network (by name or ID).
func (d *Daemon) Node(ref string) (*coconet.Node, error) {
	// The running nodes answer first: resolving through the home would open
	// and fold every network's ledger on every request.
	d.mu.Lock()
	var match []*coconet.Node
	for id, n := range d.nodes {
		if strings.EqualFold(n.Ledger().State().Name, ref) || (len(ref) >= 6 && strings.HasPrefix(id.String(), strings.ToLower(ref))) {
			match = append(match, n)
		}
	}
	d.mu.Unlock()
	if len(match) == 1 {
		return match[0], nil
	}
	// None or several: the home's resolver explains.
	id, err := homedir.FindNetwork(d.Home, ref)
	if err != nil {
		return nil, api.NotFound{Err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n, ok := d.nodes[id]
	if !ok {
		return nil, fmt.Errorf("the node for %q is not running (you may have been removed from it)", ref)
	}
	return n, nil
}

var _ api.Service = (*Daemon)(nil)

// running returns the running node of a network; in ledger-only mode,
// what needs it fails with ErrNodeNotRunning.
func (d *Daemon) running(network, what string) (*coconet.Node, error) {
	if d.LedgerOnly {
		return nil, notRunning(what)
	}
	return d.Node(network)
}

// book is a network's ledger as this home writes it, with the user's key:
// the running node's, or in ledger-only mode the home's copy.
type book struct {
	homeWriter
	n *coconet.Node // nil in ledger-only mode
}

// book returns a network's ledger.
func (d *Daemon) book(network string) (book, error) {
	if d.LedgerOnly {
		l, err := homedir.OpenNetwork(d.Home, network)
		if err != nil {
			return book{}, api.NotFound{Err: err}
		}
		return book{homeWriter{l, d.id.Seed.UserKey()}, nil}, nil
	}
	n, err := d.Node(network)
	if err != nil {
		return book{}, err
	}
	return book{d.writer(n), n}, nil
}

func (d *Daemon) Status(ctx context.Context) (api.Status, error) {
	s := api.Status{User: d.id.ID(), Name: d.id.Name}
	if d.LedgerOnly {
		nets, err := homedir.Networks(d.Home)
		err = conflict(err)
		for _, n := range nets {
			s.Networks = append(s.Networks, api.NetworkStatus{NetworkInfo: wireNetwork(n)})
		}
		return s, err
	}
	s.Running, s.PID = true, os.Getpid()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range d.nodes {
		ns := api.NetworkStatus{NetworkInfo: wireNetwork(n.Info()), Node: n.PeerID().String(), Control: wireAll(n.ControlStatus(), wireControl)}
		e := partsOf(n).e
		if e == nil {
			continue // closing
		}
		for _, a := range e.Node().Host().Addrs() {
			ns.Addrs = append(ns.Addrs, a.String())
		}
		ns.Connected = len(e.Node().ConnectedMembers()) // no ping: status must be quick
		s.Networks = append(s.Networks, ns)
	}
	if d.Device {
		s.Device = &api.DeviceStatus{Name: d.deviceName(), Model: d.deviceModel(), ClaimCode: d.dev.code()}
		for _, n := range d.nodes {
			s.Device.Network = n.Info().Name
		}
	}
	return s, nil
}

func (d *Daemon) Networks(ctx context.Context) ([]api.NetworkInfo, error) {
	nets, err := homedir.Networks(d.Home)
	return wireAll(nets, wireNetwork), conflict(err)
}

func (d *Daemon) CreateNetwork(ctx context.Context, req api.CreateNetworkRequest) (api.NetworkInfo, error) {
	l, err := homedir.CreateNetwork(d.Home, req.Name, req.Kind, "")
	if err != nil {
		return api.NetworkInfo{}, conflict(err)
	}
	if !d.LedgerOnly {
		if err := d.startNode(ctx, l.Network()); err != nil {
			return api.NetworkInfo{}, err
		}
	}
	return wireNetwork(homedir.Info(l, d.id.ID())), nil
}

func (d *Daemon) Members(ctx context.Context, network string) ([]api.MemberInfo, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	online := map[string]bool{}
	if e := b.engine(); e != nil {
		for _, p := range e.Node().Host().Network().Peers() {
			online[p.String()] = true
		}
	}
	return MemberInfos(b.l.State(), d.id.ID(), online), nil
}

// MemberInfos lists the members of st for display.
func MemberInfos(st *ledger.State, you identity.UserID, online map[string]bool) []api.MemberInfo {
	var out []api.MemberInfo
	for _, m := range st.SortedMembers() {
		mi := api.MemberInfo{User: m.User, Name: m.Name, Role: m.Role.String(), You: m.User == you}
		if by, ok := st.Members[m.AddedBy]; ok && m.AddedBy != m.User {
			mi.AddedBy = by.Name
		}
		for _, id := range nodeIDs(st, m.User) {
			mi.Nodes = append(mi.Nodes, id)
			if online[id] {
				mi.Online++
			}
		}
		out = append(out, mi)
	}
	return out
}

func (d *Daemon) Invite(ctx context.Context, network string, req api.InviteRequest) (api.InviteResult, error) {
	n, err := d.running(network, "an invite")
	if err != nil {
		return api.InviteResult{}, err
	}
	role, err := ledger.ParseRole(req.Role)
	if err != nil || (role != ledger.RoleAdmin && role != ledger.RoleGuest) {
		return api.InviteResult{}, fmt.Errorf("role %q cannot be invited; use admin or guest", req.Role)
	}
	code, exp, err := n.Invite(coconet.InviteOptions{Role: role, TTL: req.TTL, Uses: req.Uses})
	if err != nil {
		return api.InviteResult{}, err
	}
	uses := req.Uses
	if uses <= 0 {
		uses = 1
	}
	return api.InviteResult{Code: code, Network: n.Info().Name, Role: role.String(), Uses: uses, Expires: exp}, nil
}

func (d *Daemon) Remove(ctx context.Context, network, member string) (api.RemoveResult, error) {
	b, err := d.book(network)
	if err != nil {
		return api.RemoveResult{}, err
	}
	m, err := engine.RemoveMember(b.l, d.id, member)
	if err != nil {
		return api.RemoveResult{}, err
	}
	return api.RemoveResult{User: m.User, Name: m.Name}, nil
}

func (d *Daemon) Join(ctx context.Context, code string) (api.NetworkInfo, error) {
	l, peers, err := homedir.Join(ctx, d.Home, code, homedir.JoinOptions{Logf: d.Logf})
	if err != nil {
		return api.NetworkInfo{}, conflict(err)
	}
	if d.LedgerOnly {
		return wireNetwork(homedir.Info(l, d.id.ID())), nil
	}
	d.mu.Lock()
	old := d.nodes[l.Network()]
	d.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if err := d.startNode(ctx, l.Network()); err != nil {
		return api.NetworkInfo{}, err
	}
	if n, err := d.Node(l.Network().String()); err == nil {
		if e := partsOf(n).e; e != nil {
			e.Node().AddPeerAddrs(peers)
		}
	}
	return wireNetwork(homedir.Info(l, d.id.ID())), nil
}

func (d *Daemon) Send(ctx context.Context, network string, req api.SendRequest) error {
	n, err := d.running(network, "sending")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	return n.Send(ctx, req.To, req.Data)
}

func (d *Daemon) Peers(ctx context.Context, network string) ([]api.PeerInfo, error) {
	n, err := d.running(network, "listing peers")
	if err != nil {
		return nil, err
	}
	return wireAll(n.Peers(ctx), wirePeer), nil
}

func (d *Daemon) Listen(ctx context.Context, network string) (<-chan api.Message, error) {
	n, err := d.running(network, "listening")
	if err != nil {
		return nil, err
	}
	in, cancel := n.Messages()
	out := make(chan api.Message)
	go func() {
		defer close(out)
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-in:
				if !ok {
					return
				}
				select {
				case out <- wireMessage(m):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func nodeIDs(st *ledger.State, u identity.UserID) []string {
	var out []string
	for _, id := range node.NodesOf(st, u) {
		out = append(out, id.String())
	}
	sort.Strings(out)
	return out
}

func (d *Daemon) Usage(ctx context.Context, network string) (api.Usage, error) {
	n, err := d.running(network, "usage")
	if err != nil {
		return api.Usage{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u, err := n.Usage(ctx)
	return wireUsage(u), err
}
