package devapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
	"go.uber.org/goleak"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreAnyFunction("github.com/quic-go/quic-go.(*Transport).listen"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*Swarm).dialWorkerLoop"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/basic.(*BasicHost).background"),
		goleak.IgnoreAnyFunction("net.(*netFD).Read"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
	)
}

// devNet is a network made by its owner: the owner's seed, ledger and the
// genesis's encoding.
type devNet struct {
	seed    identity.Seed
	log     *ledger.Log
	genesis []byte
}

func (d *devNet) id() ledger.NetworkID         { return d.log.Network() }
func (d *devNet) ownerKey() ed25519.PrivateKey { return d.seed.UserKey() }

func newDevNet(t testing.TB, kind string) *devNet {
	t.Helper()
	s, err := identity.NewSeed()
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Create(filepath.Join(t.TempDir(), "ledger"), s.UserKey(), "dev", "app", kind)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := l.Get(ledger.ID(l.Network()))
	return &devNet{seed: s, log: l, genesis: g.Marshal()}
}

// useKV makes startEnv keep the API's records in the control plane's KV
// (as with etcd) instead of a file.
var useKV bool

// env is a control plane on loopback with the API in front of it.
type env struct {
	offers *atomic.Int32 // lists the API handed the control plane
	svc    ed25519.PrivateKey
	srv    *control.Server
	api    *devapi.Server
	url    string
	store  devapi.Store
}

func startEnv(t testing.TB, cfg devapi.Config) *env {
	t.Helper()
	srv, err := control.New(control.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Logf: func(f string, a ...any) { t.Logf("control: "+f, a...) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if cfg.Store == nil && useKV {
		cfg.Store = devapi.KVStore(srv.KV(), cfg.Now)
	} else if cfg.Store == nil {
		cfg.Store, _ = devapi.OpenFileStore(filepath.Join(t.TempDir(), "apikeys.json"), cfg.Now)
	}
	cb := &countingBackend{Server: srv}
	cfg.Backend = cb
	if cfg.ServiceKey == nil {
		_, cfg.ServiceKey, _ = ed25519.GenerateKey(rand.Reader)
	}
	for _, a := range srv.Addrs() {
		cfg.ControlAddrs = append(cfg.ControlAddrs, a.String())
	}
	cfg.Logf = func(f string, a ...any) { t.Logf(f, a...) }
	api, err := devapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := api.Listen("127.0.0.1:0", nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close(); http.DefaultClient.CloseIdleConnections() })
	return &env{offers: &cb.offers, svc: cfg.ServiceKey, srv: srv, api: api, url: "http://" + api.Addr().String(), store: cfg.Store}
}

// countingBackend is the control plane, counting the lists the API
// signs and hands it.
type countingBackend struct {
	*control.Server
	offers atomic.Int32
}

func (b *countingBackend) OfferNetList(g *ledger.Op, rev *devnet.Revocations, pol *devnet.Policy) error {
	b.offers.Add(1)
	return b.Server.OfferNetList(g, rev, pol)
}

// grantKey makes an API key for d with scopes, signs its grant with the
// owner's key and hands it to the API, as `coco net apikey create` does.
func (e *env) grantKey(t testing.TB, d *devNet, scopes string) *devapi.Key {
	t.Helper()
	k, g := newGrant(t, d, d.ownerKey(), scopes)
	c := &devapi.Client{URL: e.url}
	if _, err := c.CreateAPIKey(context.Background(), d.id(), d.genesis, g); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return k
}

func newGrant(t testing.TB, d *devNet, signer ed25519.PrivateKey, scopes string) (*devapi.Key, *devapi.Grant) {
	t.Helper()
	sc, err := devapi.ParseScopes(scopes)
	if err != nil {
		t.Fatal(err)
	}
	k, err := devapi.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k, devapi.NewGrant(signer, d.id(), k, sc, time.Now(), time.Hour)
}

// do sends a raw request and returns the status and the decoded body.
func (e *env) do(t *testing.T, method, path, key string, body []byte) (int, map[string]any, http.Header) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.url+path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: answer %q: %v", method, path, b, err)
		}
	}
	if resp.StatusCode >= 400 && (out["error"] == nil || out["code"] == nil) {
		t.Errorf("%s %s: status %d without a JSON error: %q", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode, out, resp.Header
}

func nodesPath(d *devNet) string { return "/v1/networks/" + d.id().String() + "/nodes" }
func usagePath(d *devNet) string { return "/v1/networks/" + d.id().String() + "/usage" }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// rawNode is a bare libp2p host that registers with the control plane
// with a certificate its network's owner signed.
type rawNode struct {
	h   host.Host
	key [32]byte
}

func newRawNode(t *testing.T, srv *control.Server) *rawNode {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
	h, err := libp2p.New(libp2p.Identity(k), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: srv.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	n := &rawNode{h: h}
	copy(n.key[:], priv.Public().(ed25519.PublicKey))
	return n
}

func (n *rawNode) register(t *testing.T, srv *control.Server, d *devNet) {
	t.Helper()
	g, _ := d.log.Get(ledger.ID(d.id()))
	c := member.IssueCert(d.ownerKey(), d.id(), n.key, identity.UserID(n.key), ledger.RoleGuest, time.Now(), time.Hour)
	proof := (&member.Proof{Genesis: g, Cert: c}).Marshal()
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: n.h.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/9")}})
	env, err := record.Seal(rec, n.h.Peerstore().PrivKey(n.h.ID()))
	if err != nil {
		t.Fatal(err)
	}
	eb, _ := env.Marshal()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := controlproto.Register(ctx, n.h, srv.ID(), proof, eb, time.Minute); err != nil {
		t.Fatalf("register: %v", err)
	}
}

func hasCode(out map[string]any, code string) bool {
	c, _ := out["code"].(string)
	return c == code
}

var _ = strings.Contains

// delegate appends the owner's delegate_service op naming the control
// plane's service key with scopes to d's ledger and hands it to the API,
// as `coco net apikey create --delegate` does.
func (e *env) delegate(t *testing.T, d *devNet, scopes uint32) *ledger.Op {
	t.Helper()
	op, err := d.log.Append(d.ownerKey(), ledger.Op{Kind: ledger.KindDelegateService,
		Subject: identity.UserIDOf(e.svc.Public().(ed25519.PublicKey)), SubjectName: "control", Scopes: scopes,
		Expires: time.Now().Add(24 * time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := e.do(t, "PUT", "/v1/networks/"+d.id().String()+"/delegation", "",
		mustJSON(devapi.Delegate{Genesis: d.genesis, Delegation: op.Marshal()}))
	if code != 200 {
		t.Fatalf("PUT delegation: %d %v", code, out)
	}
	return op
}

func identityOf(k ed25519.PrivateKey) identity.UserID {
	return identity.UserIDOf(k.Public().(ed25519.PublicKey))
}
