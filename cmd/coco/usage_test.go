package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/daemon"
)

// TestUsageThroughControl: two daemons use one control plane — the joiner
// learns it from the invite — and a member sees its network's usage and plan
// with `coco usage`.
func TestUsageThroughControl(t *testing.T) {
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

	hh := homes(t, "alice", "bob")
	a, b := hh[0], hh[1]
	start := func(home string, control []string) {
		d := &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Control: control, Logf: t.Logf}
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
	}
	start(a, []string{ctl})
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--json"), "code")
	mustCoco(t, "--home", b, "join", code)
	// bob is not told about the control plane: his node learns it from the
	// invite and uses it from then on.
	start(b, nil)

	var u control.Usage
	waitCoco(t, "both nodes registered", func() bool {
		out, _, exit := coco(t, "", "--home", b, "usage", "home", "--json")
		return exit == 0 && json.Unmarshal([]byte(out), &u) == nil && u.Nodes == 2
	})
	if u.Plan != "tier1" || u.LimitNodes != 5 || u.LimitBytes != 500e6 {
		t.Errorf("usage = %+v, want tier1 with 5 nodes and 500 MB", u)
	}
	human := mustCoco(t, "--home", a, "usage", "home")
	if !strings.Contains(human, "tier1") || !strings.Contains(human, "2 of 5") {
		t.Errorf("coco usage printed %q", human)
	}
	st := mustCoco(t, "--home", a, "status", "--json")
	if !strings.Contains(st, `"registered": true`) {
		t.Errorf("status does not show the registration: %s", st)
	}
	if st := mustCoco(t, "--home", b, "status"); !strings.Contains(st, "registered") {
		t.Errorf("status does not show the registration: %s", st)
	}
}
