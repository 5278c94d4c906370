package control_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/ctlsim"
)

// etcdKeys counts the keys a control plane's store holds (its liveness
// key included).
func etcdKeys(t *testing.T, st *control.EtcdStore) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := st.Client().Get(ctx, st.Prefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return r.Count
}

// TestEtcdStrangerWritesNothing: a stranger with throwaway keys — no
// proof, a proof of another node, a forged proof — makes the control
// plane write nothing to etcd; with its own self-made network it writes
// only registrations its plan bounds (5 nodes on tier1), and with an
// operator's owner allow-list not even those.
func TestEtcdStrangerWritesNothing(t *testing.T) {
	dir := t.TempDir()
	st := openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "a")})
	srv := startServer(t, control.Config{Dir: filepath.Join(dir, "a"), Store: st})
	before := etcdKeys(t, st)
	h := simClient(t, srv)
	net := ctlsim.NewNetwork()
	victim := net.Node(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	other := net.Node(time.Hour)
	forged := *other
	forged.Proof = append([]byte(nil), other.Proof...)
	forged.Proof[len(forged.Proof)-1] ^= 1
	for name, req := range map[string]struct{ proof, rec []byte }{
		"no proof":                  {nil, victim.Record},
		"another node's proof":      {other.Proof, victim.Record},
		"a forged proof":            {forged.Proof, other.Record},
		"garbage":                   {[]byte("x"), []byte("y")},
		"a record signed by no one": {victim.Proof, []byte{1, 2, 3}},
	} {
		if _, err := controlproto.Register(ctx, h, srv.ID(), req.proof, req.rec, time.Hour); err == nil {
			t.Errorf("registration with %s accepted", name)
		}
	}
	if n := etcdKeys(t, st); n != before {
		t.Fatalf("a stranger's refused registrations left %d keys in etcd, had %d", n, before)
	}
	// A self-made network: bounded by the default plan.
	mine := ctlsim.NewNetwork()
	var refused error
	for range 8 {
		if err := ctlsim.Register(ctx, h, srv.ID(), mine.Node(time.Hour), time.Hour); err != nil {
			refused = err
		}
	}
	var le *controlproto.LimitError
	if !errors.As(refused, &le) {
		t.Fatalf("8 nodes of a self-made tier1 network: last refusal %v, want a plan limit", refused)
	}
	if n := etcdKeys(t, st) - before; n > int64(control.DefaultPlans().Plans["tier1"].Nodes)+1 {
		t.Fatalf("a self-made network wrote %d keys to etcd; its plan allows 5 nodes", n)
	}

	// With an allow-list, nothing at all.
	st2 := openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "b")})
	srv2 := startServer(t, control.Config{Dir: filepath.Join(dir, "b"), Store: st2, Owners: []identity.UserID{net.OwnerID()}})
	before2 := etcdKeys(t, st2)
	connectTo(t, h, srv2)
	if err := ctlsim.Register(ctx, h, srv2.ID(), ctlsim.NewNetwork().Node(time.Hour), time.Hour); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Fatalf("registration of an owner not allowed: %v, want refused", err)
	}
	if n := etcdKeys(t, st2); n != before2 {
		t.Fatalf("an owner not allowed wrote %d keys", n-before2)
	}
}

// TestEtcdRecordBounded: a registration's record is bounded (every
// replica keeps every registration); a huge one is refused and not stored.
func TestEtcdRecordBounded(t *testing.T) {
	dir := t.TempDir()
	st := openEtcd(t, control.EtcdConfig{Dir: dir})
	srv := startServer(t, control.Config{Dir: dir, Store: st, Plans: bigPlans()})
	h := simClient(t, srv)
	nd := ctlsim.NewNetwork().Node(time.Hour)
	var addrs []ma.Multiaddr
	for i := range 600 {
		addrs = append(addrs, ma.StringCast("/ip4/198.51.100.1/tcp/"+itoa(1000+i)))
	}
	env, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: nd.ID, Addrs: addrs}), nd.Key)
	if err != nil {
		t.Fatal(err)
	}
	nd.Record, _ = env.Marshal()
	if len(nd.Record) <= control.MaxRecord {
		t.Fatalf("test record of %d bytes is not huge", len(nd.Record))
	}
	before := etcdKeys(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := ctlsim.Register(ctx, h, srv.ID(), nd, time.Hour); !errors.Is(err, controlproto.ErrBadRequest) || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("registration with a %d-byte record: %v, want a bad request", len(nd.Record), err)
	}
	if n := etcdKeys(t, st); n != before || srv.Registrations() != 0 {
		t.Fatalf("a huge record was kept: %d keys (had %d), %d registrations", n, before, srv.Registrations())
	}
}

// TestEtcdLeasesBounded: registrations with every lifetime from 1 s to an
// hour share a bounded number of etcd leases (one per minute of expiry),
// not one each.
func TestEtcdLeasesBounded(t *testing.T) {
	dir := t.TempDir()
	st := openEtcd(t, control.EtcdConfig{Dir: dir})
	srv := startServer(t, control.Config{Dir: dir, Store: st, Plans: bigPlans()})
	h := simClient(t, srv)
	net := ctlsim.NewNetwork()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const n = 300
	for i := range n {
		ttl := time.Duration(1+i*12) * time.Second // 1 s … 1 h
		if err := ctlsim.Register(ctx, h, srv.ID(), net.Node(2*time.Hour), ttl); err != nil {
			t.Fatal(err)
		}
	}
	r, err := st.Client().Leases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One per minute of expiry over an hour, and the liveness lease.
	if max := int(control.MaxRegistrationTTL/time.Minute) + 3; len(r.Leases) > max {
		t.Fatalf("%d registrations hold %d etcd leases, want at most %d", n, len(r.Leases), max)
	}
	t.Logf("%d registrations, %d leases", n, len(r.Leases))
}

func itoa(i int) string {
	b := []byte{}
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
