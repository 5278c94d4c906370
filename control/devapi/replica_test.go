package devapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/ledger"
)

// TestReplicasShareKeys: two control-plane replicas over one etcd, each
// with the API in front and the same service key. A key handed to one
// works at the other; revoked at the other, it is refused at the first;
// a node revoked through one replica's API is in the list the other's API
// signs next.
func TestReplicasShareKeys(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st1, err := control.OpenEtcd(ctx, control.EtcdConfig{Dir: filepath.Join(dir, "a")})
	if err != nil {
		t.Fatal(err)
	}
	st2, err := control.OpenEtcd(ctx, control.EtcdConfig{Endpoints: st1.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	_, svc, _ := ed25519.GenerateKey(rand.Reader)
	var urls []string
	for i, st := range []control.Store{st1, st2} {
		srv, err := control.New(control.Config{Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Dir: filepath.Join(dir, string(rune('a'+i))), Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		api, err := devapi.New(devapi.Config{Backend: srv, Store: devapi.KVStore(srv.KV(), nil), ServiceKey: svc})
		if err != nil {
			t.Fatal(err)
		}
		if err := api.Listen("127.0.0.1:0", nil); err != nil {
			t.Fatal(err)
		}
		// Replica b stops first: the embedded etcd runs in a's store.
		t.Cleanup(func() { api.Close(); srv.Close(); http.DefaultClient.CloseIdleConnections() })
		urls = append(urls, "http://"+api.Addr().String())
	}
	a, b := &devapi.Client{URL: urls[0]}, &devapi.Client{URL: urls[1]}
	d := newDevNet(t, ledger.NetKindDeveloper)
	k, g := newGrant(t, d, d.ownerKey(), "nodes:write,usage:read")
	if _, err := a.CreateAPIKey(ctx, d.id(), d.genesis, g); err != nil {
		t.Fatalf("key at replica a: %v", err)
	}
	b.Key = k.String()
	if _, err := b.Usage(ctx, d.id()); err != nil {
		t.Fatalf("the key at replica b: %v", err)
	}
	delegation, err := d.log.Append(d.ownerKey(), ledger.Op{Kind: ledger.KindDelegateService, Subject: identityOf(svc), Scopes: ledger.ScopeAll, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Do(ctx, "PUT", "/v1/networks/"+d.id().String()+"/delegation", devapi.Delegate{Delegation: delegation.Marshal()}, nil); err != nil {
		t.Fatalf("delegation at replica a: %v", err)
	}
	a.Key = k.String()
	var rv devapi.Revoked
	if err := a.Do(ctx, "DELETE", "/v1/networks/"+d.id().String()+"/nodes/"+hexKey(1), nil, &rv); err != nil || rv.Version != 1 {
		t.Fatalf("revoke at replica a: %+v, %v", rv, err)
	}
	if err := b.Do(ctx, "DELETE", "/v1/networks/"+d.id().String()+"/nodes/"+hexKey(2), nil, &rv); err != nil || rv.Version != 2 {
		t.Fatalf("revoke at replica b: %+v, %v (want version 2, holding a's revocation)", rv, err)
	}
	if err := b.RevokeAPIKey(ctx, d.id(), devapi.RevokeKey(d.ownerKey(), d.id(), k.ID, time.Now())); err != nil {
		t.Fatalf("revoke the key at replica b: %v", err)
	}
	var ae *devapi.APIError
	if _, err := a.Usage(ctx, d.id()); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("the key revoked at b, used at a: %v, want 401", err)
	}
}

func hexKey(b byte) string {
	const hx = "0123456789abcdef"
	out := make([]byte, 64)
	for i := range out {
		out[i] = '0'
	}
	out[62], out[63] = hx[b>>4], hx[b&15]
	return string(out)
}
