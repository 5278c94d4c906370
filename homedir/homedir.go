package homedir

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// DefaultHome is $COCO_HOME, or ~/.coco.
func DefaultHome() string {
	if h := os.Getenv("COCO_HOME"); h != "" {
		return h
	}
	if d, err := os.UserHomeDir(); err == nil {
		return filepath.Join(d, ".coco")
	}
	return ".coco"
}

// ErrNoIdentity means the home has no identity: run `coco init`.
var ErrNoIdentity = errors.New("no coconet identity here; create one with `coco init --name NAME` (or restore one with `coco key restore`)")

// Init creates a new identity in home. It refuses to replace an existing one.
func Init(home, name string) (*identity.Identity, error) {
	if id, err := identity.Load(home); err == nil {
		return id, fmt.Errorf("%s already holds the identity of %s (%s); use another --home to create a second one", home, id.Name, id.ID().Short())
	}
	seed, err := identity.NewSeed()
	if err != nil {
		return nil, err
	}
	if name == "" {
		name = defaultName()
	}
	id := &identity.Identity{Name: name, Seed: seed}
	if err := identity.Save(home, id); err != nil {
		return nil, err
	}
	return id, nil
}

func defaultName() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	h, _ := os.Hostname()
	return h
}

// LoadIdentity loads the identity stored in home.
func LoadIdentity(home string) (*identity.Identity, error) {
	id, err := identity.Load(home)
	if errors.Is(err, identity.ErrNoIdentity) {
		return nil, ErrNoIdentity
	}
	return id, err
}

func networksDir(home string) string { return filepath.Join(home, "networks") }

// NetworkDir is where one network's ledger and node state live.
func NetworkDir(home string, id ledger.NetworkID) string {
	return filepath.Join(networksDir(home), id.String())
}

// LedgerDir is where one network's ledger lives.
func LedgerDir(home string, id ledger.NetworkID) string {
	return filepath.Join(NetworkDir(home, id), "ledger")
}

// NetworkInfo summarizes a network this identity belongs to.
type NetworkInfo struct {
	ID      ledger.NetworkID `json:"id"`
	Name    string           `json:"name"`
	Kind    string           `json:"kind"`
	Role    string           `json:"role"`
	Members int              `json:"members"`
	Nodes   int              `json:"nodes"`
	Ops     int              `json:"ops"`
}

// Info summarizes a ledger from the point of view of user u.
func Info(l *ledger.Log, u identity.UserID) NetworkInfo {
	st := l.State()
	return NetworkInfo{ID: l.Network(), Name: st.Name, Kind: st.Kind, Role: roleIn(st, u),
		Members: len(st.Members), Nodes: len(st.Nodes), Ops: len(l.IDs())}
}

// CreateNetwork creates a network owned by the home's identity and certifies
// the identity's node for app as its first node.
func CreateNetwork(home, name, kind, app string) (*ledger.Log, error) {
	id, err := LoadIdentity(home)
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, errors.New("a network needs a name: coco net create NAME")
	}
	if kind == "" {
		kind = "user"
	}
	if kind != "user" && kind != "developer" && kind != ledger.NetKindConsortium {
		return nil, fmt.Errorf("network kind %q is not known; use user, developer or consortium", kind)
	}
	if app == "" {
		app = node.DefaultApp
	}
	if nets, _ := Networks(home); nets != nil {
		for _, n := range nets {
			if strings.EqualFold(n.Name, name) && n.Role != "removed" {
				return nil, fmt.Errorf("you already belong to a network named %q (%s); pick another name", n.Name, n.ID.Short())
			}
		}
	}
	tmp, err := os.MkdirTemp(mkdirs(networksDir(home)), ".new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	l, err := ledger.Create(filepath.Join(tmp, "ledger"), id.Seed.UserKey(), id.Name, name, kind)
	if err != nil {
		return nil, err
	}
	nk := id.Seed.NodeKey(l.Network(), app)
	var pub [32]byte
	copy(pub[:], nk.Public().(ed25519.PublicKey))
	// The owner needs no proof of possession; it costs nothing to add.
	if _, err := l.Append(id.Seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: id.ID(), Node: pub, SubjectName: app,
		NodeSig: ledger.SignNodeProof(nk, l.Network(), id.ID())}); err != nil {
		return nil, err
	}
	netID := l.Network()
	if err := os.Rename(tmp, NetworkDir(home, netID)); err != nil {
		return nil, err
	}
	return ledger.Open(LedgerDir(home, netID), nil)
}

func mkdirs(d string) string {
	os.MkdirAll(d, 0o700)
	return d
}

// Networks lists the networks stored in home.
func Networks(home string) ([]NetworkInfo, error) {
	id, err := LoadIdentity(home)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(networksDir(home))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []NetworkInfo
	for _, e := range ents {
		nid, err := ledger.ParseNetworkID(e.Name())
		if err != nil || !e.IsDir() {
			continue
		}
		l, err := ledger.Open(LedgerDir(home, nid), nil)
		if err != nil {
			continue
		}
		out = append(out, Info(l, id.ID()))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// FindNetwork resolves a network by name (case-insensitive) or ID prefix.
func FindNetwork(home, ref string) (ledger.NetworkID, error) {
	nets, err := Networks(home)
	if err != nil {
		return ledger.NetworkID{}, err
	}
	var match []NetworkInfo
	for _, n := range nets {
		if strings.EqualFold(n.Name, ref) || (len(ref) >= 6 && strings.HasPrefix(n.ID.String(), strings.ToLower(ref))) {
			match = append(match, n)
		}
	}
	switch len(match) {
	case 1:
		return match[0].ID, nil
	case 0:
		var names []string
		for _, n := range nets {
			names = append(names, n.Name)
		}
		if len(names) == 0 {
			return ledger.NetworkID{}, fmt.Errorf("no network %q: you are in no network yet; create one with `coco net create NAME` or join with `coco join CODE`", ref)
		}
		return ledger.NetworkID{}, fmt.Errorf("no network %q; yours are: %s", ref, strings.Join(names, ", "))
	default:
		return ledger.NetworkID{}, fmt.Errorf("%q matches %d networks; use the network ID from `coco net list`", ref, len(match))
	}
}

// OpenNetwork opens a network's ledger by name or ID.
func OpenNetwork(home, ref string) (*ledger.Log, error) {
	id, err := FindNetwork(home, ref)
	if err != nil {
		return nil, err
	}
	return ledger.Open(LedgerDir(home, id), nil)
}

// JoinOptions tune Join.
type JoinOptions struct {
	App  string
	Logf func(string, ...any)
}

// Join redeems an invite code into home: on success the network's ledger is
// stored and this identity's node is a member. It returns the member
// addresses learned, for the node to connect to.
func Join(ctx context.Context, home, code string, opts JoinOptions) (*ledger.Log, []peer.AddrInfo, error) {
	id, err := LoadIdentity(home)
	if err != nil {
		return nil, nil, err
	}
	c, err := invite.Decode(code)
	if err != nil {
		return nil, nil, err
	}
	netID := ledger.NetworkID(c.Network)
	// A local copy that still lists us as a member may be stale (a removed
	// member's nodes are cut off before the removal reaches them): the
	// member we reach decides.
	tmp, err := os.MkdirTemp(mkdirs(networksDir(home)), ".join-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	l, peers, err := node.Join(ctx, node.JoinConfig{
		Seed: id.Seed, UserName: id.Name, App: opts.App, Code: c, Dir: tmp, Logf: opts.Logf,
	})
	if err != nil {
		return nil, nil, err
	}
	final := NetworkDir(home, netID)
	os.RemoveAll(final) // a stale copy from before a removal
	if err := os.Rename(tmp, final); err != nil {
		return nil, nil, err
	}
	if err := node.WritePeerBook(final, peers); err != nil {
		return nil, nil, err
	}
	if err := saveControls(final, c.Controls); err != nil {
		return nil, nil, err
	}
	l, err = ledger.Open(LedgerDir(home, netID), nil)
	return l, peers, err
}

// lockHome takes an exclusive lock on home so two daemons never run on it.
func lockHome(home string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(mkdirs(home), "daemon.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, ErrHomeBusy
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d %s\n", os.Getpid(), time.Now().Format(time.RFC3339))
	return f, nil
}

// ErrHomeBusy means another coco daemon runs on this home.
var ErrHomeBusy = errors.New("another coco daemon is already running with this home")

// LockHome takes the home's daemon lock; release it by closing the file.
func LockHome(home string) (*os.File, error) { return lockHome(home) }

// LockHolder describes who holds home's lock, as its holder wrote it ("pid
// 1234 since 2026-12-03T09:40:00Z"), or "" when that is not known.
func LockHolder(home string) string {
	b, err := os.ReadFile(filepath.Join(home, "daemon.lock"))
	if err != nil {
		return ""
	}
	var pid int
	var since string
	if n, _ := fmt.Sscanf(string(b), "%d %s", &pid, &since); n < 1 {
		return ""
	} else if n == 1 {
		return fmt.Sprintf("pid %d", pid)
	}
	return fmt.Sprintf("pid %d since %s", pid, since)
}

// controlsFile remembers, per network, the control planes its invite named,
// so that `coco join CODE` then `coco up` finds the members across NATs
// without being told where the control plane is.
const controlsFile = "controls.json"

func saveControls(dir string, raw [][]byte) error {
	var addrs []string
	for _, b := range raw {
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			addrs = append(addrs, a.String())
		}
	}
	if len(addrs) == 0 {
		return nil
	}
	b, _ := json.MarshalIndent(addrs, "", "  ")
	return atomicfile.Write(filepath.Join(dir, controlsFile), b, 0o600)
}

// SavedControls returns the control planes remembered for a network.
func SavedControls(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, controlsFile))
	if err != nil {
		return nil
	}
	var addrs []string
	json.Unmarshal(b, &addrs)
	return addrs
}

// MergeControls adds the saved control planes to the configured ones.
func MergeControls(configured, saved []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range append(append([]string(nil), configured...), saved...) {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

// AdoptNetwork stores into home a network whose whole ledger another member
// hands over (a device being claimed). recv gives the ledger's operations
// to add, genesis first, in chunks as they arrive; add verifies and stores
// each chunk, and fails on any operation that does not verify. Then check
// runs on the resulting state, and only then is the network kept, with
// peers in its peer book. On any error nothing is kept.
func AdoptNetwork(home string, recv func(add func([]*ledger.Op) error) error, peers []peer.AddrInfo, check func(*ledger.State) error) (*ledger.Log, error) {
	tmp, err := os.MkdirTemp(mkdirs(networksDir(home)), ".adopt-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var l *ledger.Log
	add := func(ops []*ledger.Op) error {
		if l == nil {
			if len(ops) == 0 || ops[0].Kind != ledger.KindGenesis {
				return errors.New("the ledger handed over does not begin with its genesis")
			}
			var err error
			if l, err = ledger.Init(filepath.Join(tmp, "ledger"), ops[0], nil); err != nil {
				return err
			}
			ops = ops[1:]
		}
		if _, errs := l.AddAll(ops); errors.Join(errs...) != nil {
			return fmt.Errorf("the ledger handed over does not verify: %w", errors.Join(errs...))
		}
		return nil
	}
	if err := recv(add); err != nil {
		return nil, err
	}
	if l == nil {
		return nil, errors.New("the ledger handed over has no genesis")
	}
	if err := check(l.State()); err != nil {
		return nil, err
	}
	netID := l.Network()
	if err := node.WritePeerBook(tmp, peers); err != nil {
		return nil, err
	}
	final := NetworkDir(home, netID)
	os.RemoveAll(final)
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	return ledger.Open(LedgerDir(home, netID), nil)
}

// ForgetNetwork deletes a network from home (a device removed from it).
func ForgetNetwork(home string, id ledger.NetworkID) error {
	return os.RemoveAll(NetworkDir(home, id))
}
