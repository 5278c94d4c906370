package daemon

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// restCaller calls a consortium's REST API over real mutual TLS with a
// certificate, pinning the node's key.
type restCaller struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newRESTCaller(t *testing.T, addr string, m *consortium.Member, nodeKey ed25519.PublicKey) *restCaller {
	tr := &http.Transport{TLSClientConfig: consortium.ClientTLS(m, nodeKey)}
	t.Cleanup(tr.CloseIdleConnections)
	return &restCaller{t, "https://" + addr, &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (r *restCaller) do(method, path string, body []byte) (int, string) {
	r.t.Helper()
	req, _ := http.NewRequest(method, r.base+path, bytes.NewReader(body))
	resp, err := r.hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsortiumRESTServedByDaemon: alice starts her validating node with
// `--api`; the daemon serves the consortium's REST API over mutual TLS. Her
// member certificate (derived from her seed) writes, reads and submits a
// signed proposal; a participant of the genesis writes an application table
// but is refused governance (members only) and a governance table; a
// stranger's certificate is refused everything; a client that pins another
// node key refuses the node. After a restart the daemon serves it again on
// the saved address.
func TestConsortiumRESTServedByDaemon(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(home, "alice"); err != nil {
		t.Fatal(err)
	}
	start := func() (*Daemon, *api.Client) {
		d := &Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf}
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		c, err := api.Dial(SocketPath(home))
		if err != nil {
			t.Fatal(err)
		}
		return d, c
	}
	d, c := start()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ni, err := c.CreateNetwork(ctx, api.CreateNetworkRequest{Name: "bank", Kind: "consortium"})
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.ConsortiumIdentity(ctx, "bank")
	if err != nil {
		t.Fatal(err)
	}
	newMember := func(name string) *consortium.Member {
		seed, _ := identity.NewSeed()
		m, err := consnode.Member(&identity.Identity{Seed: seed, Name: name}, ledger.NetworkID{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	carol, mallory := newMember("carol"), newMember("mallory")
	n := id.Node
	g := consortium.Genesis{Name: "bank", Members: [][]byte{id.Cert}, Participants: [][]byte{carol.Cert}, Envs: []string{consortium.EnvSoftware},
		Nodes: []consortium.NodeInfo{{ID: n.ID, PubKey: n.PubKey, CodeHash: n.CodeHash, Env: n.Env, Addr: n.Addr}},
		Code:  [][]byte{n.CodeHash}, Nonce: make([]byte, 16)}
	rand.Read(g.Nonce)
	gj, _ := json.Marshal(g)
	st, err := c.ConsortiumStart(ctx, "bank", api.ConsortiumStartRequest{Genesis: gj, API: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if st.API == "" {
		t.Fatal("status names no API address")
	}
	aliceID, err := homedir.LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	alice, err := consnode.Member(aliceID, ni.ID)
	if err != nil {
		t.Fatal(err)
	}
	if alice.ID() != id.Member {
		t.Fatalf("alice's member key gives %s, the daemon says %s", alice.ID(), id.Member)
	}
	nodeKey := ed25519.PublicKey(n.PubKey)

	a := newRESTCaller(t, st.API, alice, nodeKey)
	if code, body := a.do("PUT", "/app/kv/accounts/acct-1", []byte("100")); code != 200 {
		t.Fatalf("alice PUT = %d %s", code, body)
	}
	if code, body := a.do("GET", "/app/kv/accounts/acct-1", nil); code != 200 || body != "100" {
		t.Fatalf("alice GET = %d %q", code, body)
	}
	var cid [32]byte
	hex.Decode(cid[:], []byte(st.ID))
	sr, err := alice.Propose(cid, consortium.Action{Kind: consortium.ActAllowEnv, Env: "sgx"})
	if err != nil {
		t.Fatal(err)
	}
	srj, _ := json.Marshal(sr)
	if code, body := a.do("POST", "/gov/requests", srj); code != 200 {
		t.Fatalf("alice's proposal = %d %s", code, body)
	}

	p := newRESTCaller(t, st.API, carol, nodeKey)
	if code, body := p.do("PUT", "/app/kv/accounts/acct-2", []byte("5")); code != 200 {
		t.Fatalf("participant PUT = %d %s", code, body)
	}
	if code, body := p.do("GET", "/app/kv/accounts/acct-1", nil); code != 200 || body != "100" {
		t.Fatalf("participant GET = %d %q", code, body)
	}
	if code, body := p.do("POST", "/gov/requests", srj); code != http.StatusForbidden {
		t.Fatalf("participant's governance request = %d %s, want 403", code, body)
	}
	if code, body := p.do("PUT", "/app/kv/"+consortium.TableMembers+"/x", []byte("y")); code != http.StatusForbidden {
		t.Fatalf("participant's write of the member table = %d %s, want 403", code, body)
	}

	s := newRESTCaller(t, st.API, mallory, nodeKey)
	for _, r := range []struct{ method, path string }{{"PUT", "/app/kv/accounts/acct-1"}, {"GET", "/app/kv/accounts/acct-1"}, {"POST", "/gov/requests"}} {
		if code, body := s.do(r.method, r.path, []byte("0")); code != http.StatusForbidden {
			t.Fatalf("stranger %s %s = %d %s, want 403", r.method, r.path, code, body)
		}
	}
	otherKey, _, _ := ed25519.GenerateKey(rand.Reader)
	if code, body := newRESTCaller(t, st.API, alice, otherKey).do("GET", "/app/kv/accounts/acct-1", nil); code != 0 {
		t.Fatalf("a client pinning another node key got %d %s", code, body)
	}
	if v, err := c.ConsortiumGet(ctx, "bank", "accounts", "acct-1"); err != nil || string(v.Value) != "100" {
		t.Fatalf("after the stranger: acct-1 = %+v, %v", v, err)
	}
	c.Close()
	d.Close()

	d, c = start()
	defer d.Close()
	defer c.Close()
	st, err = c.ConsortiumStatus(ctx, "bank")
	if err != nil || st.API == "" {
		t.Fatalf("status after restart = %+v, %v; want the API served again", st, err)
	}
	if code, body := newRESTCaller(t, st.API, alice, nodeKey).do("GET", "/app/kv/accounts/acct-2", nil); code != 200 || body != "5" {
		t.Fatalf("after restart alice GET = %d %q", code, body)
	}
}
