package daemon

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/gateway"
	"github.com/coconet/coconet/ledger"
)

// attachPush starts on n what push needs; the push records live in the
// ledger the node syncs, and the push server waits for `coco push-server`
// (PushServe). On an admin's node it keeps the account keys sealed to the
// current readers: when an admin or a push-server node joins or leaves,
// it seals the keys it can open again (gateway.Reseal), so a newly named
// push server reads them as soon as one admin's node is online.
func (d *Daemon) attachPush(ctx context.Context, p *parts) error {
	n := p.e
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
	done := n.Context().Done()
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
				d.Logf("push keys of %q: %v", n.Ledger().State().Name, err)
			}
		}
	}()
	return nil
}

// writer writes n's ledger with the user's key.
func (d *Daemon) writer(n interface{ Ledger() *ledger.Log }) homeWriter {
	return homeWriter{n.Ledger(), d.id.Seed.UserKey()}
}

// pushStatsEvery is how often a running push server reports its counters.
const pushStatsEvery = 2 * time.Second

func (d *Daemon) PushServe(ctx context.Context, network string, req api.PushServeRequest) (<-chan api.PushServerEvent, error) {
	n, err := d.runningEngine(network, "a push server")
	if err != nil {
		return nil, err
	}
	if err := d.namePushServer(n); err != nil {
		return nil, err
	}
	dialect := gateway.DialectP2Pcluster
	if req.Dialect != "" {
		if dialect, err = gateway.ParseDialect(req.Dialect); err != nil {
			return nil, err
		}
	}
	s := &gateway.Server{Listen: req.Listen, MaxLine: req.MaxLine, IdleTimeout: req.IdleTimeout,
		AuthTimeout: req.AuthTimeout, MaxConns: req.MaxConns, MaxConnsPerIP: req.MaxConnsPerIP, Logf: d.Logf,
		Dialect: dialect, ReadPause: req.ReadPause}
	// Groups and routers edited over HTTP on the device port land in
	// the ledger as with `coco push group|router` (an admin's node).
	s.Edit = func(c gateway.Change) error { return gateway.Apply(d.writer(n), c) }
	if req.SMTP != "" {
		s.Mail = &gateway.Mailer{Addr: req.SMTP, User: req.SMTPUser, Password: req.SMTPPassword, From: req.SMTPFrom}
	}
	b, err := gateway.StartBridge(ctx, n, s)
	if err != nil {
		return nil, err
	}
	event := func() api.PushServerEvent {
		return api.PushServerEvent{Stats: wirePushStats(s.Stats()), Peers: len(b.Servers())}
	}
	ch := make(chan api.PushServerEvent, 1)
	first := event()
	first.Addr, first.Network = s.Addr().String(), n.Ledger().State().Name
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
func (d *Daemon) namePushServer(n *engine.Engine) error {
	st := n.Ledger().State()
	if gateway.Named(st, n.PeerID()) {
		return nil
	}
	if st.Role(n.User()) < ledger.RoleAdmin {
		return fmt.Errorf("this node is not a push server of %q (only nodes an admin names read the device keys); ask an admin to run `coco push server add %s %s`", st.Name, st.Name, n.PeerID())
	}
	return gateway.AddServer(d.writer(n), n.PeerID())
}

// The push records live in the network's ledger: in ledger-only mode they
// are written into the home's copy, and the node sends them on when it
// next runs.

func (d *Daemon) PushKeyCreate(ctx context.Context, network string, req api.PushKeyRequest) (api.PushKey, error) {
	b, err := d.book(network)
	if err != nil {
		return api.PushKey{}, err
	}
	k, err := gateway.CreateKey(b.homeWriter, req.Account, req.Name, req.Key)
	return wirePushKey(k), err
}

func (d *Daemon) PushKeyRotate(ctx context.Context, network, ref string) ([]api.PushKey, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	ks, err := gateway.RotateKey(b.homeWriter, ref)
	return wireAll(ks, wirePushKey), err
}

func (d *Daemon) PushServers(ctx context.Context, network string) ([]api.PushServer, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	return wireAll(gateway.Servers(b.l.State()), wirePushServer), nil
}

func (d *Daemon) PushServerAdd(ctx context.Context, network, node string) ([]api.PushServer, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	return pushServerEdit(b.homeWriter, node, gateway.AddServer)
}

func (d *Daemon) PushServerRemove(ctx context.Context, network, node string) ([]api.PushServer, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	return pushServerEdit(b.homeWriter, node, gateway.RemoveServer)
}

func pushServerEdit(w homeWriter, node string, edit func(gateway.KeyHolder, peer.ID) error) ([]api.PushServer, error) {
	p, err := gateway.ResolveNode(w.l.State(), node)
	if err != nil {
		return nil, err
	}
	if err := edit(w, p); err != nil {
		return nil, err
	}
	return wireAll(gateway.Servers(w.l.State()), wirePushServer), nil
}

func (d *Daemon) PushKeys(ctx context.Context, network string) ([]api.PushKey, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	return nonNil(wireAll(gateway.Keys(b.l.State()), wirePushKey)), nil
}

func (d *Daemon) PushKeyRevoke(ctx context.Context, network, key string) (api.PushKey, error) {
	b, err := d.book(network)
	if err != nil {
		return api.PushKey{}, err
	}
	k, err := gateway.RevokeKey(b.homeWriter, key)
	return wirePushKey(k), err
}

func (d *Daemon) PushRecords(ctx context.Context, network, account string) (api.PushRecords, error) {
	b, err := d.book(network)
	if err != nil {
		return api.PushRecords{}, err
	}
	return wirePushRecords(gateway.ReadRecords(b.l.State(), account)), nil
}

func (d *Daemon) PushChange(ctx context.Context, network string, req api.PushChange) (api.PushRecords, error) {
	b, err := d.book(network)
	if err != nil {
		return api.PushRecords{}, err
	}
	return pushChange(b.homeWriter, req)
}

func pushChange(w gateway.Writer, req api.PushChange) (api.PushRecords, error) {
	if err := gateway.Apply(w, gatewayChange(req)); err != nil {
		return api.PushRecords{}, err
	}
	if req.Account == "" {
		req.Account = gateway.DefaultAccount
	}
	return wirePushRecords(gateway.ReadRecords(w.Ledger().State(), req.Account)), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// homeWriter writes a network's ledger of the home with the user's key.
type homeWriter struct {
	l   *ledger.Log
	key ed25519.PrivateKey
}

func (w homeWriter) Ledger() *ledger.Log                     { return w.l }
func (w homeWriter) Append(op ledger.Op) (*ledger.Op, error) { return w.l.Append(w.key, op) }
func (w homeWriter) UserKey() ed25519.PrivateKey             { return w.key }
