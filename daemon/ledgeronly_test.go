package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/api"
)

// ledgerOnly starts a ledger-only daemon on a new home with a network
// "home".
func ledgerOnly(t *testing.T) *Daemon {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(dir, "alice"); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{Home: dir, LedgerOnly: true}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.CreateNetwork(context.Background(), api.CreateNetworkRequest{Name: "home"}); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLedgerOnlyNeedsNode: what needs a running node fails with
// ErrNodeNotRunning, in a sentence that names it and says to run `coco up`.
func TestLedgerOnlyNeedsNode(t *testing.T) {
	d := ledgerOnly(t)
	ctx := context.Background()
	for _, tc := range []struct {
		what string
		call func() error
	}{
		{"an invite", func() error { _, err := d.Invite(ctx, "home", api.InviteRequest{Role: "guest"}); return err }},
		{"sending", func() error { return d.Send(ctx, "home", api.SendRequest{To: "bob"}) }},
		{"listing peers", func() error { _, err := d.Peers(ctx, "home"); return err }},
		{"listening", func() error { _, err := d.Listen(ctx, "home"); return err }},
		{"usage", func() error { _, err := d.Usage(ctx, "home"); return err }},
		{"calling a service", func() error { _, err := d.Call(ctx, "home", api.CallRequest{}); return err }},
		{"copying a file", func() error { _, err := d.Copy(ctx, "home", api.CopyRequest{}); return err }},
		{"receiving files", func() error { _, err := d.Receive(ctx, "home", api.ReceiveRequest{}); return err }},
		{"a tunnel", func() error { _, err := d.Expose(ctx, "home", api.TunnelRequest{}); return err }},
		{"a tunnel", func() error { _, err := d.OpenTunnel(ctx, "home", api.TunnelRequest{}); return err }},
		{"publishing", func() error { return d.Publish(ctx, "home", api.PublishRequest{}) }},
		{"subscribing", func() error { _, err := d.Subscribe(ctx, "home", api.SubscribeRequest{}); return err }},
		{"listing resources", func() error { _, err := d.Resources(ctx, "home", ""); return err }},
		{"a command", func() error { _, err := d.HomeCommand(ctx, "home", api.Action{}); return err }},
		{"watching resources", func() error { _, err := d.HomeWatch(ctx, "home", ""); return err }},
		{"running a scene", func() error { _, err := d.SceneRun(ctx, "home", "evening"); return err }},
		{"firmware status", func() error { _, err := d.OTAStatus(ctx, "home"); return err }},
		{"a push server", func() error { _, err := d.PushServe(ctx, "home", api.PushServeRequest{}); return err }},
	} {
		err := tc.call()
		want := tc.what + " needs the node running: start it with `coco up` (in another terminal, or as a service)"
		if !errors.Is(err, ErrNodeNotRunning) || err.Error() != want {
			t.Errorf("%s: %v, want ErrNodeNotRunning saying %q", tc.what, err, want)
		}
	}
	if _, err := d.DeviceAdd(ctx, "home", "not-a-code"); err == nil || errors.Is(err, ErrNodeNotRunning) {
		t.Errorf("DeviceAdd with a bad code = %v, want the code's problem first", err)
	}
}

// TestLedgerOnlyRecords: what needs only the ledger works on the home's
// copy, and the daemon started later finds it there.
func TestLedgerOnlyRecords(t *testing.T) {
	d := ledgerOnly(t)
	ctx := context.Background()
	st, err := d.Status(ctx)
	if err != nil || st.Running || st.PID != 0 || len(st.Networks) != 1 || st.Name != "alice" {
		t.Fatalf("Status = %+v, %v; want alice not running, with one network", st, err)
	}
	ms, err := d.Members(ctx, "home")
	if err != nil || len(ms) != 1 || !ms[0].You || ms[0].Role != "owner" || ms[0].Online != 0 {
		t.Fatalf("Members = %+v, %v; want alice alone, the owner", ms, err)
	}
	if _, err := d.Members(ctx, "nowhere"); !errors.As(err, new(api.NotFound)) {
		t.Errorf("Members(nowhere) = %v, want NotFound", err)
	}
	if _, err := d.ZoneCreate(ctx, "home", "kitchen"); err != nil {
		t.Fatal(err)
	}
	k, err := d.PushKeyCreate(ctx, "home", api.PushKeyRequest{Name: "sensors"})
	if err != nil || k.Key == "" {
		t.Fatalf("PushKeyCreate = %+v, %v", k, err)
	}
	if ds, err := d.Devices(ctx, "home"); err != nil || len(ds) != 0 {
		t.Errorf("Devices = %+v, %v; want none", ds, err)
	}
	if as, err := d.OTAList(ctx, "home"); err != nil || len(as) != 0 {
		t.Errorf("OTAList = %+v, %v; want none", as, err)
	}

	// The lock is held: a second ledger-only daemon says why it cannot run.
	other := &Daemon{Home: d.Home, LedgerOnly: true}
	if err := other.Start(ctx); !errors.Is(err, homedir.ErrHomeBusy) || !strings.Contains(err.Error(), "socket does not answer") {
		t.Errorf("second ledger-only Start = %v, want ErrHomeBusy and that the socket does not answer", err)
	}
	d.Close()

	run := &Daemon{Home: d.Home, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := run.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	zs, err := run.Zones(ctx, "home")
	if err != nil || len(zs) != 1 || zs[0].Name != "kitchen" {
		t.Errorf("running daemon's Zones = %+v, %v; want kitchen", zs, err)
	}
	ks, err := run.PushKeys(ctx, "home")
	if err != nil || len(ks) != 1 || ks[0].Name != "sensors" {
		t.Errorf("running daemon's PushKeys = %+v, %v; want sensors", ks, err)
	}
	if st, err := run.Status(ctx); err != nil || !st.Running {
		t.Errorf("running daemon's Status = %+v, %v", st, err)
	}
}
