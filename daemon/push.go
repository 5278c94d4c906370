package daemon

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/gateway"
	"github.com/coconet/coconet/ledger"
)

// attachPush starts on n what push needs: nothing until `coco push-server`
// asks (PushServe); the push records live in the ledger the node syncs.
func (d *Daemon) attachPush(ctx context.Context, n *coconet.Node) error { return nil }

// pushStatsEvery is how often a running push server reports its counters.
const pushStatsEvery = 2 * time.Second

func (d *Daemon) PushServe(ctx context.Context, network string, req api.PushServeRequest) (<-chan api.PushServerEvent, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	s := &gateway.Server{Listen: req.Listen, MaxLine: req.MaxLine, IdleTimeout: req.IdleTimeout, Logf: d.Logf}
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

func (d *Daemon) PushKeyCreate(ctx context.Context, network string, req api.PushKeyRequest) (api.PushKey, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.PushKey{}, err
	}
	return gateway.CreateKey(n, req.Account, req.Name, req.Key)
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
	return gateway.RevokeKey(n, key)
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
