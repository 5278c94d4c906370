package daemon

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/gateway"
	"github.com/coconet/coconet/ledger"
)

// attachPush starts on n what push needs; the push records live in the
// ledger the node syncs, and the push server waits for `coco push-server`
// (PushServe). On an admin's node it keeps the account keys sealed to the
// current readers: when an admin or a push-server node joins or leaves,
// it seals the keys it can open again (gateway.Reseal), so a newly named
// push server reads them as soon as one admin's node is online.
func (d *Daemon) attachPush(ctx context.Context, n *coconet.Node) error {
	if d.Device {
		return nil // a device's key is no user's
	}
	w := d.writer(n)
	kick := make(chan struct{}, 1)
	kick <- struct{}{}
	n.Ledger().OnChange(func(*ledger.State) {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	done := n.Internal().Context().Done()
	go func() { // ends with the node
		for {
			select {
			case <-done:
				return
			case <-kick:
			}
			if !gateway.NeedsReseal(w.l.State(), w.key) {
				continue
			}
			if _, _, err := gateway.Reseal(w); err != nil {
				d.Logf("push keys of %q: %v", n.Info().Name, err)
			}
		}
	}()
	return nil
}

// writer writes n's ledger with the user's key.
func (d *Daemon) writer(n *coconet.Node) homeWriter {
	return homeWriter{n.Ledger(), d.id.Seed.UserKey()}
}

// pushStatsEvery is how often a running push server reports its counters.
const pushStatsEvery = 2 * time.Second

func (d *Daemon) PushServe(ctx context.Context, network string, req api.PushServeRequest) (<-chan api.PushServerEvent, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	if err := d.namePushServer(n); err != nil {
		return nil, err
	}
	s := &gateway.Server{Listen: req.Listen, MaxLine: req.MaxLine, IdleTimeout: req.IdleTimeout,
		AuthTimeout: req.AuthTimeout, MaxConns: req.MaxConns, MaxConnsPerIP: req.MaxConnsPerIP, Logf: d.Logf}
	b, err := gateway.StartBridge(ctx, n, s)
	if err != nil {
		return nil, err
	}
	event := func() api.PushServerEvent {
		return api.PushServerEvent{Stats: s.Stats(), Peers: len(b.Servers())}
	}
	ch := make(chan api.PushServerEvent, 1)
	first := event()
	first.Addr, first.Network = s.Addr().String(), n.Info().Name
	ch <- first
	go func() {
		defer close(ch)
		defer b.Close()
		t := time.NewTicker(pushStatsEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case ch <- event():
				default: // a slow reader misses counters
				}
			}
		}
	}()
	return ch, nil
}

// namePushServer makes n a push server of its network if it is not one:
// an admin's own node is named by starting a push server on it; any other
// user asks an admin.
func (d *Daemon) namePushServer(n *coconet.Node) error {
	st := n.Ledger().State()
	if gateway.Named(st, n.PeerID()) {
		return nil
	}
	if st.Role(n.User()) < ledger.RoleAdmin {
		return fmt.Errorf("this node is not a push server of %q (only nodes an admin names read the device keys); ask an admin to run `coco push server add %s %s`", n.Info().Name, n.Info().Name, n.PeerID())
	}
	return gateway.AddServer(d.writer(n), n.PeerID())
}

func (d *Daemon) PushKeyCreate(ctx context.Context, network string, req api.PushKeyRequest) (api.PushKey, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.PushKey{}, err
	}
	return gateway.CreateKey(d.writer(n), req.Account, req.Name, req.Key)
}

func (d *Daemon) PushKeyRotate(ctx context.Context, network, ref string) ([]api.PushKey, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	return gateway.RotateKey(d.writer(n), ref)
}

func (d *Daemon) PushServers(ctx context.Context, network string) ([]api.PushServer, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	return gateway.Servers(n.Ledger().State()), nil
}

func (d *Daemon) PushServerAdd(ctx context.Context, network, node string) ([]api.PushServer, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	return pushServerEdit(d.writer(n), node, gateway.AddServer)
}

func (d *Daemon) PushServerRemove(ctx context.Context, network, node string) ([]api.PushServer, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	return pushServerEdit(d.writer(n), node, gateway.RemoveServer)
}

func pushServerEdit(w homeWriter, node string, edit func(gateway.KeyHolder, peer.ID) error) ([]api.PushServer, error) {
	p, err := gateway.ResolveNode(w.l.State(), node)
	if err != nil {
		return nil, err
	}
	if err := edit(w, p); err != nil {
		return nil, err
	}
	return gateway.Servers(w.l.State()), nil
}

func (d *Daemon) PushKeys(ctx context.Context, network string) ([]api.PushKey, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	return nonNil(gateway.Keys(n.Ledger().State())), nil
}

func (d *Daemon) PushKeyRevoke(ctx context.Context, network, key string) (api.PushKey, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.PushKey{}, err
	}
	return gateway.RevokeKey(d.writer(n), key)
}

func (d *Daemon) PushRecords(ctx context.Context, network, account string) (api.PushRecords, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.PushRecords{}, err
	}
	return gateway.ReadRecords(n.Ledger().State(), account), nil
}

func (d *Daemon) PushChange(ctx context.Context, network string, req api.PushChange) (api.PushRecords, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.PushRecords{}, err
	}
	return pushChange(n, req)
}

func pushChange(w gateway.Writer, req api.PushChange) (api.PushRecords, error) {
	if err := gateway.Apply(w, req); err != nil {
		return api.PushRecords{}, err
	}
	if req.Account == "" {
		req.Account = gateway.DefaultAccount
	}
	return gateway.ReadRecords(w.Ledger().State(), req.Account), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Without a daemon the push records are written straight into the home's
// copy of the ledger (the node sends them on when it next runs); a push
// server needs the node.

// homeWriter writes a network's ledger of the home with the user's key.
type homeWriter struct {
	l   *ledger.Log
	key ed25519.PrivateKey
}

func (w homeWriter) Ledger() *ledger.Log                     { return w.l }
func (w homeWriter) Append(op ledger.Op) (*ledger.Op, error) { return w.l.Append(w.key, op) }
func (w homeWriter) UserKey() ed25519.PrivateKey             { return w.key }

func (o *Offline) writer(network string) (homeWriter, error) {
	id, l, err := o.open(network)
	if err != nil {
		return homeWriter{}, err
	}
	return homeWriter{l, id.Seed.UserKey()}, nil
}

func (o *Offline) PushServe(ctx context.Context, network string, req api.PushServeRequest) (<-chan api.PushServerEvent, error) {
	return nil, notRunning("a push server")
}

func (o *Offline) PushKeyCreate(ctx context.Context, network string, req api.PushKeyRequest) (api.PushKey, error) {
	w, err := o.writer(network)
	if err != nil {
		return api.PushKey{}, err
	}
	return gateway.CreateKey(w, req.Account, req.Name, req.Key)
}

func (o *Offline) PushKeys(ctx context.Context, network string) ([]api.PushKey, error) {
	w, err := o.writer(network)
	if err != nil {
		return nil, err
	}
	return nonNil(gateway.Keys(w.l.State())), nil
}

func (o *Offline) PushKeyRevoke(ctx context.Context, network, key string) (api.PushKey, error) {
	w, err := o.writer(network)
	if err != nil {
		return api.PushKey{}, err
	}
	return gateway.RevokeKey(w, key)
}

func (o *Offline) PushKeyRotate(ctx context.Context, network, ref string) ([]api.PushKey, error) {
	w, err := o.writer(network)
	if err != nil {
		return nil, err
	}
	return gateway.RotateKey(w, ref)
}

func (o *Offline) PushServers(ctx context.Context, network string) ([]api.PushServer, error) {
	w, err := o.writer(network)
	if err != nil {
		return nil, err
	}
	return gateway.Servers(w.l.State()), nil
}

func (o *Offline) PushServerAdd(ctx context.Context, network, node string) ([]api.PushServer, error) {
	w, err := o.writer(network)
	if err != nil {
		return nil, err
	}
	return pushServerEdit(w, node, gateway.AddServer)
}

func (o *Offline) PushServerRemove(ctx context.Context, network, node string) ([]api.PushServer, error) {
	w, err := o.writer(network)
	if err != nil {
		return nil, err
	}
	return pushServerEdit(w, node, gateway.RemoveServer)
}

func (o *Offline) PushRecords(ctx context.Context, network, account string) (api.PushRecords, error) {
	w, err := o.writer(network)
	if err != nil {
		return api.PushRecords{}, err
	}
	return gateway.ReadRecords(w.l.State(), account), nil
}

func (o *Offline) PushChange(ctx context.Context, network string, req api.PushChange) (api.PushRecords, error) {
	w, err := o.writer(network)
	if err != nil {
		return api.PushRecords{}, err
	}
	return pushChange(w, req)
}
