package devapi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/ledger"
)

// TestDeveloperStory is the developer's script over real sockets: the
// owner makes a developer network and an API key (its grant signed with
// the owner's key, handed to the control plane's REST API); nodes
// register with the control plane; the developer's service lists them and
// reads the usage through REST with the key.
func TestDeveloperStory(t *testing.T) {
	e := startEnv(t, devapi.Config{})
	d := newDevNet(t, ledger.NetKindDeveloper)
	key := e.grantKey(t, d, "nodes:write,usage:read")

	var nodes []*rawNode
	for range 3 {
		n := newRawNode(t, e.srv)
		n.register(t, e.srv, d)
		nodes = append(nodes, n)
	}
	c := &devapi.Client{URL: e.url, Key: key.String()}
	ctx := context.Background()
	list, err := c.Nodes(ctx, d.id())
	if err != nil {
		t.Fatalf("Nodes: %v", err)
	}
	if len(list) != 3 {
		t.Fatalf("Nodes = %d nodes, want 3: %+v", len(list), list)
	}
	for _, n := range nodes {
		i := slices.IndexFunc(list, func(x devapi.Node) bool { return x.ID == n.h.ID().String() })
		if i < 0 {
			t.Fatalf("node %s not listed", n.h.ID())
		}
		x := list[i]
		if !x.Online || x.LastSeen.IsZero() || len(x.Addrs) != 1 || x.Addrs[0] != "/ip4/127.0.0.1/tcp/9" {
			t.Errorf("node listed as %+v", x)
		}
	}
	u, err := c.Usage(ctx, d.id())
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.Nodes != 3 || u.LimitNodes == 0 || u.Plan == "" || u.ControlMessages == 0 {
		t.Errorf("Usage = %+v, want 3 nodes of a plan, with control messages counted", u)
	}
	// The same grant handed again is the same key; the owner lists keys
	// with a key that may.
	keys := e.grantKey(t, d, "apikeys:read")
	code, _, _ := e.do(t, "GET", "/v1/networks/"+d.id().String()+"/apikeys", keys.String(), nil)
	if code != 200 {
		t.Errorf("list API keys: %d", code)
	}
}

// TestAuthAttacks: every way to call a route without the right key is
// refused with its status and a JSON error: no key, a malformed one, an
// unknown ID, the right ID with a wrong secret, another network's key, a
// key without the route's scope.
func TestAuthAttacks(t *testing.T) {
	e := startEnv(t, devapi.Config{AddrRate: devapi.Rate{PerSecond: 1000, Burst: 1000}})
	a := newDevNet(t, ledger.NetKindDeveloper)
	b := newDevNet(t, ledger.NetKindDeveloper)
	ka := e.grantKey(t, a, "nodes:read")
	kb := e.grantKey(t, b, "nodes:read,usage:read")
	usageOnly := e.grantKey(t, a, "usage:read")
	wrongSecret, _ := devapi.NewKey()
	forged := strings.Replace(wrongSecret.String(), wrongSecret.ID.String(), ka.ID.String(), 1)
	unknown, _ := devapi.NewKey()

	for _, tc := range []struct {
		name, path, key string
		want            int
		code            string
	}{
		{"no key", nodesPath(a), "", 401, "unauthorized"},
		{"malformed key", nodesPath(a), "hunter2", 401, "unauthorized"},
		{"unknown key", nodesPath(a), unknown.String(), 401, "unauthorized"},
		{"wrong secret", nodesPath(a), forged, 401, "unauthorized"},
		{"key of another network", nodesPath(a), kb.String(), 403, "forbidden"},
		{"key of another network on usage", usagePath(a), kb.String(), 403, "forbidden"},
		{"key without the scope", nodesPath(a), usageOnly.String(), 403, "forbidden"},
		{"the right key", nodesPath(a), ka.String(), 200, ""},
		{"unknown network", "/v1/networks/nope/nodes", ka.String(), 400, "bad_request"},
		{"unknown route", "/v1/networks/" + a.id().String() + "/secrets", ka.String(), 404, "not_found"},
	} {
		code, out, _ := e.do(t, "GET", tc.path, tc.key, nil)
		if code != tc.want || (tc.code != "" && !hasCode(out, tc.code)) {
			t.Errorf("%s: %d %v, want %d %s", tc.name, code, out, tc.want, tc.code)
		}
	}
}

// TestControlPlaneCannotInventKeys: whoever writes the store — the
// control plane's operator, another replica over a shared etcd — cannot
// make a key: a grant signed by any key but the owner's, or one moved
// under another network's genesis, authenticates nothing; a grant signed
// by someone else is refused when handed over too.
func TestControlPlaneCannotInventKeys(t *testing.T) {
	e := startEnv(t, devapi.Config{AddrRate: devapi.Rate{PerSecond: 1000, Burst: 1000}})
	d := newDevNet(t, ledger.NetKindDeveloper)
	e.grantKey(t, d, "usage:read") // the network is known

	_, operator, _ := ed25519.GenerateKey(rand.Reader)
	k, g := newGrant(t, d, operator, "nodes:write,usage:read")
	if err := e.store.PutGrant(context.Background(), d.id(), k.ID, g.Marshal()); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := e.do(t, "GET", nodesPath(d), k.String(), nil); code != 401 {
		t.Errorf("a grant the operator wrote into the store: %d %v, want 401", code, out)
	}
	// Handed over the API, the same grant is refused as not the owner's.
	k2, g2 := newGrant(t, d, operator, "nodes:read")
	code, out, _ := e.do(t, "POST", "/v1/networks/"+d.id().String()+"/apikeys", "", mustJSON(devapi.CreateAPIKey{Grant: g2.Marshal()}))
	if code != 403 {
		t.Errorf("a grant signed by another key: %d %v, want 403", code, out)
	}
	if code, _, _ := e.do(t, "GET", nodesPath(d), k2.String(), nil); code != 401 {
		t.Errorf("its key: %d, want 401", code)
	}
	// The operator's own network, whose genesis it puts where d's was:
	// d's ID no longer hashes to it.
	mine := newDevNet(t, ledger.NetKindDeveloper)
	mk, mg := newGrant(t, mine, mine.ownerKey(), "nodes:read")
	mg.Net = d.id()
	mg.Sign(mine.ownerKey())
	e.store.PutGenesis(context.Background(), d.id(), mine.genesis)
	e.store.PutGrant(context.Background(), d.id(), mk.ID, mg.Marshal())
	if code, out, _ := e.do(t, "GET", nodesPath(d), mk.String(), nil); code != 401 {
		t.Errorf("a grant under a swapped genesis: %d %v, want 401", code, out)
	}
}

// TestRevokedKeyReplayed: the owner revokes a key; the key is refused,
// and handing its grant over again does not bring it back. A revocation
// signed by someone else is refused.
func TestRevokedKeyReplayed(t *testing.T) {
	e := startEnv(t, devapi.Config{})
	d := newDevNet(t, ledger.NetKindDeveloper)
	k, g := newGrant(t, d, d.ownerKey(), "nodes:read")
	c := &devapi.Client{URL: e.url}
	ctx := context.Background()
	if _, err := c.CreateAPIKey(ctx, d.id(), d.genesis, g); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := e.do(t, "GET", nodesPath(d), k.String(), nil); code != 200 {
		t.Fatalf("before revocation: %d", code)
	}
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	err := c.RevokeAPIKey(ctx, d.id(), devapi.RevokeKey(other, d.id(), k.ID, time.Now()))
	if ae, ok := err.(*devapi.APIError); !ok || ae.Status != 403 {
		t.Errorf("a revocation not signed by the owner: %v, want 403", err)
	}
	if code, _, _ := e.do(t, "GET", nodesPath(d), k.String(), nil); code != 200 {
		t.Fatalf("after a refused revocation: %d, want 200", code)
	}
	if err := c.RevokeAPIKey(ctx, d.id(), devapi.RevokeKey(d.ownerKey(), d.id(), k.ID, time.Now())); err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	if code, out, _ := e.do(t, "GET", nodesPath(d), k.String(), nil); code != 401 {
		t.Errorf("revoked key: %d %v, want 401", code, out)
	}
	_, err = c.CreateAPIKey(ctx, d.id(), d.genesis, g)
	if ae, ok := err.(*devapi.APIError); !ok || ae.Status != 409 {
		t.Errorf("the revoked key's grant handed again: %v, want 409", err)
	}
	if code, out, _ := e.do(t, "GET", nodesPath(d), k.String(), nil); code != 401 {
		t.Errorf("revoked key after its grant was replayed: %d %v, want 401", code, out)
	}
}

// TestOversizedBody: a body over the limit is refused with 413 before it
// is decoded, on the signed route and on a keyed one.
func TestOversizedBody(t *testing.T) {
	e := startEnv(t, devapi.Config{MaxBody: 4 << 10})
	d := newDevNet(t, ledger.NetKindDeveloper)
	k := e.grantKey(t, d, "nodes:read")
	big := bytes.Repeat([]byte("a"), 1<<20)
	body := append(append([]byte(`{"grant":"`), big...), `"}`...)
	if code, out, _ := e.do(t, "POST", "/v1/networks/"+d.id().String()+"/apikeys", "", body); code != 413 {
		t.Errorf("1 MiB grant: %d %v, want 413", code, out)
	}
	if code, out, _ := e.do(t, "GET", nodesPath(d), k.String(), big); code != 413 {
		t.Errorf("1 MiB body on a keyed route: %d %v, want 413", code, out)
	}
}

// TestFlood: one key's requests past its burst get 429 with Retry-After
// while another key is served; a stranger guessing keys from one address
// is slowed the same way, and cannot drain a real key's bucket.
func TestFlood(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	e := startEnv(t, devapi.Config{Now: clock,
		KeyRate:  devapi.Rate{PerSecond: 1, Burst: 5},
		AddrRate: devapi.Rate{PerSecond: 1, Burst: 5}})
	d := newDevNet(t, ledger.NetKindDeveloper)
	k1 := e.grantKey(t, d, "nodes:read")
	k2 := e.grantKey(t, d, "nodes:read")
	var codes []int
	for range 8 {
		code, _, h := e.do(t, "GET", nodesPath(d), k1.String(), nil)
		codes = append(codes, code)
		if code == 429 && h.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	if !slices.Equal(codes, []int{200, 200, 200, 200, 200, 429, 429, 429}) {
		t.Errorf("one key's flood: %v, want 5 served then 429", codes)
	}
	if code, _, _ := e.do(t, "GET", nodesPath(d), k2.String(), nil); code != 200 {
		t.Errorf("another key during the flood: %d, want 200", code)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	if code, _, _ := e.do(t, "GET", nodesPath(d), k1.String(), nil); code != 200 {
		t.Errorf("the flooding key once its bucket refilled: %d, want 200", code)
	}

	// A stranger guesses keys with k2's ID: its failures are charged to
	// its address, and k2 is not drained.
	guess, _ := devapi.NewKey()
	forged := strings.Replace(guess.String(), guess.ID.String(), k2.ID.String(), 1)
	codes = nil
	for range 8 {
		code, _, _ := e.do(t, "GET", nodesPath(d), forged, nil)
		codes = append(codes, code)
	}
	if !slices.Equal(codes, []int{401, 401, 401, 401, 401, 429, 429, 429}) {
		t.Errorf("guessed keys from one address: %v, want 5 × 401 then 429", codes)
	}
	// The address's failures do not refuse a valid key sent from it (a
	// service behind the same NAT as the guesser).
	if code, _, _ := e.do(t, "GET", nodesPath(d), k2.String(), nil); code != 200 {
		t.Errorf("a valid key from the guessing address: %d, want 200", code)
	}
}

// TestUserNetworkRefused: the API serves developer networks only.
func TestUserNetworkRefused(t *testing.T) {
	e := startEnv(t, devapi.Config{})
	d := newDevNet(t, ledger.NetKindUser)
	_, g := newGrant(t, d, d.ownerKey(), "nodes:read")
	code, out, _ := e.do(t, "POST", "/v1/networks/"+d.id().String()+"/apikeys", "", mustJSON(devapi.CreateAPIKey{Genesis: d.genesis, Grant: g.Marshal()}))
	if code != 422 {
		t.Errorf("a user network's key: %d %v, want 422", code, out)
	}
}

// TestOpenAPI holds openapi.yaml to the route table.
func TestOpenAPI(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]bool{}
	path := ""
	inPaths := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && line != "" && !strings.HasPrefix(line, " "):
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case inPaths && strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     "):
			method, _, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && slices.Contains([]string{"get", "post", "put", "delete", "patch"}, method) {
				doc[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	table := map[string]bool{}
	for _, r := range devapi.Routes() {
		if table[r] {
			t.Errorf("the table has %s twice", r)
		}
		table[r] = true
	}
	for p := range table {
		if !doc[p] {
			t.Errorf("openapi.yaml lacks %s, which the table serves", p)
		}
	}
	for p := range doc {
		if !table[p] {
			t.Errorf("openapi.yaml has %s, which the table does not serve", p)
		}
	}
	if len(doc) < 5 {
		t.Errorf("read %d operations from openapi.yaml; is the parser lost?", len(doc))
	}
	e := startEnv(t, devapi.Config{})
	if code, _, _ := e.do(t, "GET", "/v1/openapi.yaml", "", nil); code != 200 {
		t.Errorf("GET /v1/openapi.yaml: %d", code)
	}
}
