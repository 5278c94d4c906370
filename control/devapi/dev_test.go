package devapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// TestAuthKeysRevocationACL: the developer's service, with an API key,
// mints an auth key through the control plane's delegation; a node's
// credential made with it verifies from the genesis alone; revoking the
// node makes a new signed revocation list that covers it and the control
// plane holds; the tag ACL is a signed policy every node can check.
func TestAuthKeysRevocationACL(t *testing.T) {
	e := startEnv(t, devapi.Config{})
	d := newDevNet(t, ledger.NetKindDeveloper)
	e.delegate(t, d, ledger.ScopeAll)
	key := e.grantKey(t, d, "authkeys:write,nodes:write,acl:write")
	c := &devapi.Client{URL: e.url, Key: key.String()}
	ctx := context.Background()
	base := "/v1/networks/" + d.id().String()

	var ak devapi.NewAuthKey
	if err := c.Do(ctx, "POST", base+"/authkeys", devapi.CreateAuthKey{Reusable: true, Tags: []string{"Phone"}, Expiry: "1h"}, &ak); err != nil {
		t.Fatalf("POST authkeys: %v", err)
	}
	k, err := devnet.ParseAuthKey(ak.Key, time.Now())
	if err != nil {
		t.Fatalf("ParseAuthKey(minted key): %v", err)
	}
	if !slices.Equal(ak.Tags, []string{"phone"}) || !ak.Reusable || len(k.Control) == 0 {
		t.Errorf("auth key = %+v, control %v", ak.AuthKeyInfo, k.Control)
	}
	g, _ := ledger.Unmarshal(d.genesis)
	anchor, _ := devnet.AnchorOf(g)
	node := newRawNode(t, e.srv)
	cred := k.Enroll(node.key, time.Now())
	m, err := cred.Verify(anchor, node.key, time.Now())
	if err != nil {
		t.Fatalf("credential from the minted key: %v", err)
	}

	var list []devapi.AuthKeyInfo
	if err := c.Do(ctx, "GET", base+"/authkeys", nil, &list); err != nil || len(list) != 1 || list[0].ID != ak.ID {
		t.Fatalf("GET authkeys = %+v, %v", list, err)
	}

	var rv devapi.Revoked
	if err := c.Do(ctx, "DELETE", base+"/nodes/"+node.h.ID().String(), nil, &rv); err != nil {
		t.Fatalf("revoke node: %v", err)
	}
	rl, _ := e.srv.NetLists(d.id())
	if rl == nil || rl.Version != rv.Version || rl.Verify(anchor, time.Now()) != nil || !rl.Covers(m) {
		t.Fatalf("after revoking: list %+v (answer %+v) does not cover the node", rl, rv)
	}
	// A second revocation keeps the first (the list is cumulative).
	if err := c.Do(ctx, "DELETE", base+"/authkeys/"+ak.ID, nil, &rv); err != nil {
		t.Fatalf("revoke auth key: %v", err)
	}
	rl, _ = e.srv.NetLists(d.id())
	if rl.Version != 2 || len(rl.Nodes) != 1 || len(rl.AuthKeys) != 1 {
		t.Errorf("list after two revocations = version %d, %d nodes, %d auth keys", rl.Version, len(rl.Nodes), len(rl.AuthKeys))
	}
	if err := c.Do(ctx, "GET", base+"/authkeys", nil, &list); err != nil || !list[0].Revoked {
		t.Errorf("GET authkeys after revoking = %+v, %v", list, err)
	}

	var acl devapi.ACL
	if err := c.Do(ctx, "PUT", base+"/acl", devapi.ACL{Rules: []devapi.Rule{{From: "phone", To: "server"}}}, &acl); err != nil {
		t.Fatalf("PUT acl: %v", err)
	}
	_, pol := e.srv.NetLists(d.id())
	if pol == nil || pol.Verify(anchor, time.Now()) != nil || !pol.Allows([]string{"phone"}, []string{"server"}) || pol.Allows([]string{"server"}, []string{"phone"}) {
		t.Fatalf("policy held = %+v", pol)
	}
	if err := c.Do(ctx, "PUT", base+"/acl", devapi.ACL{Rules: []devapi.Rule{{From: "Bad Tag!", To: "x"}}}, nil); !isStatus(err, 400) {
		t.Errorf("PUT acl with a bad tag: %v, want 400", err)
	}
	if err := c.Do(ctx, "GET", base+"/acl", nil, &acl); err != nil || acl.Version != 1 || len(acl.Rules) != 1 {
		t.Errorf("GET acl = %+v, %v", acl, err)
	}
}

func isStatus(err error, code int) bool {
	var ae *devapi.APIError
	return errors.As(err, &ae) && ae.Status == code
}

// TestDelegationAttacks: the control plane acts only through a delegation
// the owner signed, for its own service key, within its scopes; without
// one, the acting routes answer 503; a key without the scope gets 403.
func TestDelegationAttacks(t *testing.T) {
	e := startEnv(t, devapi.Config{AddrRate: devapi.Rate{PerSecond: 1000, Burst: 1000}})
	d := newDevNet(t, ledger.NetKindDeveloper)
	key := e.grantKey(t, d, "authkeys:write,nodes:write,acl:write")
	c := &devapi.Client{URL: e.url, Key: key.String()}
	ctx := context.Background()
	base := "/v1/networks/" + d.id().String()
	svc := identity.UserIDOf(e.svc.Public().(ed25519.PublicKey))

	if err := c.Do(ctx, "POST", base+"/authkeys", devapi.CreateAuthKey{}, nil); !isStatus(err, 503) {
		t.Errorf("auth key with no delegation: %v, want 503", err)
	}
	// A delegation signed by someone else than the owner (the operator, say).
	_, mallory, _ := ed25519.GenerateKey(rand.Reader)
	forged := &ledger.Op{V: ledger.Version, Net: d.id(), Time: time.Now().UnixMilli(), Kind: ledger.KindDelegateService,
		Subject: svc, Scopes: ledger.ScopeAll, Expires: time.Now().Add(time.Hour).Unix()}
	forged.Sign(mallory)
	// The owner's delegation of another service key.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	elsewhere, err := d.log.Append(d.ownerKey(), ledger.Op{Kind: ledger.KindDelegateService,
		Subject: identity.UserIDOf(other.Public().(ed25519.PublicKey)), Scopes: ledger.ScopeAll, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   *ledger.Op
		want int
	}{{"not the owner's", forged, 403}, {"another service key's", elsewhere, 400}} {
		code, out, _ := e.do(t, "PUT", base+"/delegation", "", mustJSON(devapi.Delegate{Delegation: tc.op.Marshal()}))
		if code != tc.want {
			t.Errorf("delegation %s: %d %v, want %d", tc.name, code, out, tc.want)
		}
	}
	if err := c.Do(ctx, "POST", base+"/authkeys", devapi.CreateAuthKey{}, nil); !isStatus(err, 503) {
		t.Errorf("auth key after refused delegations: %v, want 503", err)
	}
	// Enroll only: minting works, revoking and the ACL do not.
	e.delegate(t, d, ledger.ScopeEnroll)
	if err := c.Do(ctx, "POST", base+"/authkeys", devapi.CreateAuthKey{}, nil); err != nil {
		t.Errorf("auth key with enroll delegated: %v", err)
	}
	nk := make([]byte, 32)
	if err := c.Do(ctx, "DELETE", base+"/nodes/"+hex.EncodeToString(nk), nil, nil); !isStatus(err, 503) {
		t.Errorf("revoke with only enroll delegated: %v, want 503", err)
	}
	if err := c.Do(ctx, "PUT", base+"/acl", devapi.ACL{}, nil); !isStatus(err, 503) {
		t.Errorf("ACL with only enroll delegated: %v, want 503", err)
	}
	if rl, pol := e.srv.NetLists(d.id()); rl != nil || pol != nil || e.offers.Load() != 0 {
		t.Errorf("lists held after refusals: %v %v; the API signed %d lists beyond its delegation", rl, pol, e.offers.Load())
	}
	// A key without the scope, with every scope delegated.
	e.delegate(t, d, ledger.ScopeAll)
	reader := e.grantKey(t, d, "nodes:read,authkeys:read,acl:read")
	rc := &devapi.Client{URL: e.url, Key: reader.String()}
	for _, r := range []struct{ method, path string }{
		{"POST", base + "/authkeys"}, {"DELETE", base + "/nodes/" + hex.EncodeToString(nk)},
		{"DELETE", base + "/authkeys/" + hex.EncodeToString(nk)}, {"PUT", base + "/acl"},
	} {
		if err := rc.Do(ctx, r.method, r.path, struct{}{}, nil); !isStatus(err, 403) {
			t.Errorf("%s %s with a read-only key: %v, want 403", r.method, r.path, err)
		}
	}
}

// TestKVStore runs the stories and attacks with the API's records in the
// control plane's KV (what replicas sharing an etcd use).
func TestKVStore(t *testing.T) {
	useKV = true
	defer func() { useKV = false }()
	for name, f := range map[string]func(*testing.T){
		"DeveloperStory": TestDeveloperStory, "AuthAttacks": TestAuthAttacks,
		"ControlPlaneCannotInventKeys": TestControlPlaneCannotInventKeys, "RevokedKeyReplayed": TestRevokedKeyReplayed,
		"AuthKeysRevocationACL": TestAuthKeysRevocationACL, "DelegationAttacks": TestDelegationAttacks,
	} {
		t.Run(name, f)
	}
}
