package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/daemon"
)

// The developer story from the CLI: the owner creates a developer network,
// delegates a service key and mints an auth key naming a control plane
// (offline: no daemon running); a fresh home runs `coco up --authkey KEY`
// and its node is a member without any invite or ledger entry; the two
// nodes find each other through the control plane.
func TestDevNetAuthKeyCLI(t *testing.T) {
	srv, err := control.New(control.Config{
		Listen: []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"},
		Dir:    t.TempDir(), Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctl := srv.Addrs()[0].String()

	a := homes(t, "dev")[0]
	mustCoco(t, "--home", a, "net", "create", "chat", "--kind", "developer")
	out := mustCoco(t, "--home", a, "net", "service", "add", "chat", "--scope", "enroll,revoke", "--name", "backend")
	if !strings.Contains(out, "cocosvc1-") || !strings.Contains(out, "enroll,revoke") {
		t.Errorf("coco net service add printed %q, want the secret and the scopes", out)
	}
	key := jsonField(t, mustCoco(t, "--home", a, "net", "authkey", "create", "chat", "--reusable", "--tag", "client", "--control", ctl, "--json"), "key")
	if !strings.HasPrefix(key, "cocoauth1-") {
		t.Fatalf("coco net authkey create: key %q", key)
	}
	opsBefore := mustCoco(t, "--home", a, "net", "list", "--json")

	da := &daemon.Daemon{Home: a, ListenHost: "127.0.0.1", Control: []string{ctl}, Logf: t.Logf}
	if err := da.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { da.Close() })
	b := filepath.Join(t.TempDir(), "fresh") // no coco init: the key is enough
	db := &daemon.Daemon{Home: b, ListenHost: "127.0.0.1", AuthKey: key, Logf: t.Logf}
	if err := db.Start(context.Background()); err != nil {
		t.Fatalf("coco up --authkey: %v", err)
	}
	t.Cleanup(func() { db.Close() })

	if l := mustCoco(t, "--home", b, "net", "list"); !strings.Contains(l, "chat") || !strings.Contains(l, "node") {
		t.Errorf("coco net list on the enrolled home: %q, want chat as a node", l)
	}
	waitCoco(t, "the owner's node and the enrolled node connected", func() bool {
		pa, _, c1 := coco(t, "", "--home", a, "peers", "chat")
		pb, _, c2 := coco(t, "", "--home", b, "peers", "chat")
		// Connected, on whichever path (under load the first one can be
		// the control plane's relay; the point is that they found each
		// other and admit each other).
		linked := func(out string) bool { return strings.Contains(out, "direct") || strings.Contains(out, "relayed") }
		return c1 == 0 && c2 == 0 && linked(pa) && linked(pb)
	})
	// No ledger entry per node: the owner's ledger counts the same ops.
	if after := mustCoco(t, "--home", a, "net", "list", "--json"); jsonOps(after) != jsonOps(opsBefore) {
		t.Errorf("the ledger grew when a node enrolled: %s, then %s", opsBefore, after)
	}
	// Only developer networks take auth keys.
	if _, errOut, code := coco(t, "", "--home", a, "net", "authkey", "create", "home"); code == 0 || !strings.Contains(errOut, "developer") {
		t.Errorf("authkey for a user network: exit %d, %q", code, errOut)
	}
}

// jsonOps is the "ops" fields of a `coco net list --json` output, in order.
func jsonOps(out string) string {
	var b strings.Builder
	for _, f := range strings.Split(out, `"ops":`)[1:] {
		b.WriteString(strings.SplitN(f, ",", 2)[0])
	}
	return b.String()
}
