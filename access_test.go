package coconet

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
	"github.com/coconet/coconet/transfer"
)

// exposed is what alice offers in the access tests: a raw stream listener,
// a custom request/reply service, a tunnel to a TCP server and a file
// receiver, each counting who got through.
type exposed struct {
	dir                       string
	streams, calls, tcp, rcvd atomic.Int32
}

// offer starts the four services on an with access acc (none: the
// default) until the test ends.
func offer(t *testing.T, an *Node, acc ...Access) *exposed {
	t.Helper()
	e := &exposed{dir: t.TempDir()}
	l, err := an.Listen("raw", acc...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			e.streams.Add(1)
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	an.Handle("lights.admin", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		e.calls.Add(1)
		return []byte("done"), nil
	}, acc...)
	t.Cleanup(func() { an.Handle("lights.admin", nil) })

	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tl.Close() })
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			e.tcp.Add(1)
			c.Write([]byte("SSH-2.0-test\r\n"))
			c.Close()
		}
	}()
	ctx := context.Background()
	ex, err := an.Expose(ctx, "ssh", tl.Addr().String(), acc...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ex.Close() })

	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var ro []ReceiveOptions
	if len(acc) > 0 {
		ro = append(ro, ReceiveOptions{Allow: node.JoinAccess(acc...)})
	}
	go func() {
		defer close(done)
		an.ReceiveFiles(rctx, e.dir, nil, func(ev transfer.Event) {
			if ev.Error == "" {
				e.rcvd.Add(1)
			}
		}, ro...)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

// attempt has bn use each of alice's four services and returns the error
// of each ("" when it worked).
func attempt(t *testing.T, bn *Node) (streamErr, callErr, tunnelErr, fileErr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	str := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	if c, err := bn.Dial(ctx, "alice", "raw"); err != nil {
		streamErr = str(err)
	} else {
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "hi" {
			streamErr = "stream read " + string(b)
		}
	}
	if got, err := bn.Request(ctx, "alice", "lights.admin", nil); err != nil {
		callErr = str(err)
	} else if string(got) != "done" {
		callErr = "reply " + string(got)
	}

	op, err := bn.OpenTunnel(ctx, "alice", "ssh", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", op.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(15 * time.Second))
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "SSH-2.0-test\r\n" {
		// The tunnel closes the connection; Err says why, once serve
		// has recorded it.
		for deadline := time.Now().Add(10 * time.Second); op.Err() == nil && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		tunnelErr = "no banner: " + str(op.Err())
	}
	op.Close()

	src := filepath.Join(t.TempDir(), "notes.txt")
	data := make([]byte, 1000)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	var res transfer.Result
	for i := 0; i < 50; i++ { // until the receiver's listener is up
		res, err = bn.SendFile(ctx, "alice", src, nil)
		if err == nil || !errors.Is(err, stream.ErrUnknownService) && !strings.Contains(err.Error(), "not receiving") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		fileErr = str(err)
	} else if res.Path != "notes.txt" {
		fileErr = "stored as " + res.Path
	}
	return
}

// TestGuestRefusedByDefault: a guest running her own client is refused on
// every service alice offers without saying more — a raw stream, a custom
// request/reply service, an exposed TCP server and a file receiver — and
// each refusal tells her whose it is and what to do. Nothing reaches the
// services, the TCP server or the directory.
func TestGuestRefusedByDefault(t *testing.T) {
	an, bn := pair(t)
	e := offer(t, an)
	streamErr, callErr, tunnelErr, fileErr := attempt(t, bn)
	for _, c := range []struct{ what, err, want string }{
		{"stream", streamErr, `alice's service "raw" is not open to guests; ask alice to allow you`},
		{"request", callErr, `alice's service "lights.admin" is not open to guests; ask alice to allow you`},
		{"tunnel", tunnelErr, `alice's tunnel ssh is not open to guests; ask alice to allow you`},
		{"file", fileErr, `alice's file receive is not open to guests; ask alice to allow you`},
	} {
		if !strings.Contains(c.err, c.want) {
			t.Errorf("guest's %s: err = %q, want it to say %q", c.what, c.err, c.want)
		}
	}
	if s, c, tc, r := e.streams.Load(), e.calls.Load(), e.tcp.Load(), e.rcvd.Load(); s+c+tc+r != 0 {
		t.Errorf("refused guest got through: %d streams, %d calls, %d TCP connections, %d files", s, c, tc, r)
	}
	if m, _ := filepath.Glob(filepath.Join(e.dir, "*")); len(m) != 0 {
		t.Errorf("files left by a refused guest: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(e.dir, ".*")); len(m) != 0 {
		t.Errorf("partial files left by a refused guest: %v", m)
	}
	// The built-in request/reply of a raw rpc.Service keeps the same
	// default: the errors are ErrNotAllowed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bn.Request(ctx, "alice", "lights.admin", nil); !errors.Is(err, rpc.ErrNotAllowed) {
		t.Errorf("guest Request err = %v, want rpc.ErrNotAllowed", err)
	}
	if _, err := bn.Dial(ctx, "alice", "raw"); !errors.Is(err, stream.ErrNotAllowed) {
		t.Errorf("guest Dial err = %v, want stream.ErrNotAllowed", err)
	}
}

// TestAdminAllowedByDefault: an admin uses the same four services with no
// access given.
func TestAdminAllowedByDefault(t *testing.T) {
	alice, carol := newUser(t, "alice"), newUser(t, "carol")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	peers := carol.join(t, makeInvite(t, an, ledger.RoleAdmin, 1))
	cn := carol.start(t, "home")
	cn.engine().Node().AddPeerAddrs(peers)
	waitConnected(t, cn, "alice")
	e := offer(t, an)
	if s, c, tu, f := attempt(t, cn); s+c+tu+f != "" {
		t.Fatalf("admin refused: stream %q, request %q, tunnel %q, file %q", s, c, tu, f)
	}
	if e.streams.Load() != 1 || e.calls.Load() != 1 || e.tcp.Load() != 1 || e.rcvd.Load() != 1 {
		t.Errorf("admin's uses: %d streams, %d calls, %d TCP, %d files; want one each", e.streams.Load(), e.calls.Load(), e.tcp.Load(), e.rcvd.Load())
	}
}

// TestGuestAllowedByRole: opened to guests by role, bob uses all four.
func TestGuestAllowedByRole(t *testing.T) {
	an, bn := pair(t)
	acc, err := ParseAccess(an.Ledger().State(), []string{"guest"})
	if err != nil {
		t.Fatal(err)
	}
	e := offer(t, an, acc)
	if s, c, tu, f := attempt(t, bn); s+c+tu+f != "" {
		t.Fatalf("guest allowed by role refused: stream %q, request %q, tunnel %q, file %q", s, c, tu, f)
	}
	if e.streams.Load() != 1 || e.calls.Load() != 1 || e.tcp.Load() != 1 || e.rcvd.Load() != 1 {
		t.Errorf("guest's uses: %d streams, %d calls, %d TCP, %d files; want one each", e.streams.Load(), e.calls.Load(), e.tcp.Load(), e.rcvd.Load())
	}
}

// TestGuestAllowedByNameThenRemoved: opened to bob by name, bob uses all
// four; once alice removes him, every one refuses him, though his user ID
// is still on the list.
func TestGuestAllowedByNameThenRemoved(t *testing.T) {
	an, bn := pair(t)
	acc, err := ParseAccess(an.Ledger().State(), []string{"admin,bob"})
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.Users) != 1 || acc.Users[0] != bn.User() {
		t.Fatalf("ParseAccess(admin,bob).Users = %v, want bob's ID", acc.Users)
	}
	e := offer(t, an, acc)
	if s, c, tu, f := attempt(t, bn); s+c+tu+f != "" {
		t.Fatalf("guest allowed by name refused: stream %q, request %q, tunnel %q, file %q", s, c, tu, f)
	}
	if _, err := an.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	before := [4]int32{e.streams.Load(), e.calls.Load(), e.tcp.Load(), e.rcvd.Load()}
	s, c, tu, f := attempt(t, bn)
	for what, err := range map[string]string{"stream": s, "request": c, "tunnel": tu, "file": f} {
		if err == "" {
			t.Errorf("removed bob's %s worked", what)
		}
	}
	if after := [4]int32{e.streams.Load(), e.calls.Load(), e.tcp.Load(), e.rcvd.Load()}; after != before {
		t.Errorf("removed bob got through: uses %v before, %v after", before, after)
	}
}

// TestReceiveLimits: over real nodes, a file over the receiver's limit and
// a dotfile are refused with nothing left on disk, and the sender learns
// only the base name of what was stored.
func TestReceiveLimits(t *testing.T) {
	an, bn := pair(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rctx, rcancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		an.ReceiveFiles(rctx, dir, nil, nil, ReceiveOptions{Allow: Access{Users: []identity.UserID{bn.User()}}, MaxSize: 64 << 10})
	}()
	defer func() { rcancel(); <-done }()
	write := func(name string, size int) string {
		p := filepath.Join(t.TempDir(), name)
		b := make([]byte, size)
		rand.Read(b)
		os.WriteFile(p, b, 0o600)
		return p
	}
	send := func(p string) (transfer.Result, error) {
		var res transfer.Result
		var err error
		for i := 0; i < 50; i++ {
			if res, err = bn.SendFile(ctx, "alice", p, nil); err == nil || !strings.Contains(err.Error(), "not receiving") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		return res, err
	}
	if _, err := send(write("big.iso", 64<<10+1)); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("file over the limit: err = %v, want refused over the limit", err)
	}
	if _, err := send(write(".bashrc", 10)); err == nil || !strings.Contains(err.Error(), "dot") {
		t.Errorf("dotfile: err = %v, want refused for its leading dot", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files left by refused copies: %v", m)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("hidden or partial files left by refused copies: %v", m)
	}
	res, err := send(write("ok.txt", 64<<10))
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "ok.txt" || strings.Contains(res.Path, dir) {
		t.Errorf("Result.Path = %q, want the base name ok.txt, not the receiver's directory %s", res.Path, dir)
	}
}

// TestParseAccess: the words of --allow.
func TestParseAccess(t *testing.T) {
	an, bn := pair(t)
	st := an.Ledger().State()
	for _, c := range []struct {
		words []string
		want  Access
	}{
		{nil, Access{}},
		{[]string{"guest"}, Access{Roles: []ledger.Role{ledger.RoleGuest}}},
		{[]string{"admin", "device"}, Access{Roles: []ledger.Role{ledger.RoleAdmin}, Devices: true}},
		{[]string{"owner,bob"}, Access{Roles: []ledger.Role{ledger.RoleOwner}, Users: []identity.UserID{bn.User()}}},
	} {
		got, err := ParseAccess(st, c.words)
		if err != nil || DescribeAccess(st, got) != DescribeAccess(st, c.want) || len(got.Users) != len(c.want.Users) {
			t.Errorf("ParseAccess(%q) = %+v, %v; want %+v", c.words, got, err, c.want)
		}
	}
	if _, err := ParseAccess(st, []string{"mallory"}); err == nil || !strings.Contains(err.Error(), "no member") {
		t.Errorf("ParseAccess(mallory) err = %v, want no such member", err)
	}
	if d := DescribeAccess(st, Access{Roles: []ledger.Role{ledger.RoleOwner}, Users: []identity.UserID{bn.User()}}); d != "the owner, bob" {
		t.Errorf("DescribeAccess = %q", d)
	}
}

// TestDeviceRefusedByDefault: a device of alice's (a node of hers with a
// record in the device table) is refused on her default services although
// its node belongs to her user — a device never carries the owner's
// authority — and admitted where Devices is set.
func TestDeviceRefusedByDefault(t *testing.T) {
	alice := newUser(t, "alice")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	id, err := homedir.LoadIdentity(alice.home)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], id.Seed.NodeKey(an.NetworkID(), "hub").Public().(ed25519.PublicKey))
	pid, err := node.PeerIDOf(key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := an.Append(ledger.Op{Kind: ledger.KindAddNode, Subject: an.User(), Node: key, SubjectName: "hub"}); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(map[string]any{"name": "hub", "node": pid.String(), "model": "test", "added": time.Now().UTC().Truncate(time.Second)})
	if _, err := an.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDevice, Key: pid.String(), Value: rec}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hub")
	if err := os.CopyFS(dir, os.DirFS(alice.home)); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(homedir.NetworkDir(dir, an.NetworkID()), "ports.json"))
	dn := &Node{Home: dir, Network: "home", App: "hub", ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := dn.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dn.Close() })
	dn.engine().Node().AddPeerAddrs([]peer.AddrInfo{{ID: an.PeerID(), Addrs: an.engine().Node().Host().Addrs()}})
	if s, ok := an.engine().Node().SenderOf(dn.PeerID()); !ok || !s.Device {
		t.Fatalf("alice's ledger sees the hub as %+v (member %v), want a device", s, ok)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := an.Listen("raw")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	an.Handle("lights.admin", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return []byte("done"), nil })
	_, err = dn.Dial(ctx, "alice", "raw")
	if want := `alice's service "raw" is not open to devices`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("device Dial err = %v, want it to say %q", err, want)
	}
	_, err = dn.Request(ctx, "alice", "lights.admin", nil)
	if want := `alice's service "lights.admin" is not open to devices`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("device Request err = %v, want it to say %q", err, want)
	}
	an.Handle("lights.admin", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return []byte("done"), nil }, Access{Devices: true})
	if got, err := dn.Request(ctx, "alice", "lights.admin", nil); err != nil || string(got) != "done" {
		t.Errorf("device Request with Devices set = %q, %v; want done", got, err)
	}
}
