package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var cocoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "coco-lab-")
	if err != nil {
		panic(err)
	}
	cocoBin = filepath.Join(dir, "coco")
	out, err := exec.Command("go", "build", "-o", cocoBin, "github.com/coconet/coconet/cmd/coco").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build coco: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// host is one machine of the lab: a namespace and a coco home.
type host struct {
	t      *testing.T
	ns     string
	home   string
	upArgs []string // extra `coco up` flags
	mu     sync.Mutex
	up     *exec.Cmd
	log    *bytes.Buffer
}

func (h *host) coco(args ...string) (string, error) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, cocoBin, "--home", h.home}, args...)...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	if err != nil {
		return out.String(), fmt.Errorf("coco %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (h *host) must(args ...string) string {
	h.t.Helper()
	out, err := h.coco(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *host) start() {
	h.t.Helper()
	h.mu.Lock()
	h.log = &bytes.Buffer{}
	h.mu.Unlock()
	h.up = Command(h.ns, cocoBin, append([]string{"--home", h.home, "up"}, h.upArgs...)...)
	h.up.Stdout, h.up.Stderr = (*lockedWriter)(h), (*lockedWriter)(h)
	if err := h.up.Start(); err != nil {
		h.t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(h.home, "coco.sock")); err == nil {
			if _, err := h.coco("status"); err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("coco up in %s did not start: %s", h.ns, h.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedWriter appends to the host's log under its lock (coco up writes
// while the test reads it).
type lockedWriter host

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.Write(b)
}

// logs returns what coco up printed so far.
func (h *host) logs() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.log == nil {
		return ""
	}
	return h.log.String()
}

func (h *host) stop() {
	if h.up != nil && h.up.Process != nil {
		h.up.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { h.up.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			h.up.Process.Kill()
			<-done
		}
		h.up = nil
	}
}

func (h *host) waitPeer(name string, within time.Duration) (map[string]any, error) {
	deadline := time.Now().Add(within)
	for {
		out, err := h.coco("peers", "home", "--json")
		if err == nil {
			var ps []map[string]any
			json.Unmarshal([]byte(out), &ps)
			for _, p := range ps {
				if p["user_name"] == name && p["connected"] == true {
					return p, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no connection to %s after %v (last: %s %v)", h.ns, name, within, out, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestLANWithoutInternet: two machines on one LAN segment, no route
// anywhere else. They join through the invite's LAN address, then — with
// every remembered address deleted — find each other again by mDNS alone.
func TestLANWithoutInternet(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	l := New("cocolan-")
	defer l.Close()
	nsA, err := l.Namespace("a")
	if err != nil {
		t.Fatal(err)
	}
	nsB, err := l.Namespace("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Link(nsA, "10.201.0.1/24", nsB, "10.201.0.2/24"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := &host{t: t, ns: nsA, home: filepath.Join(dir, "alice")}
	b := &host{t: t, ns: nsB, home: filepath.Join(dir, "bob")}
	defer a.stop()
	defer b.stop()
	a.must("init", "--name", "alice")
	b.must("init", "--name", "bob")
	a.must("net", "create", "home")
	a.start()
	var inv map[string]any
	json.Unmarshal([]byte(a.must("invite", "home", "--role", "admin", "--json")), &inv)
	b.must("join", inv["code"].(string))
	b.start()
	p, err := b.waitPeer("alice", 20*time.Second)
	if err != nil {
		t.Fatalf("%v\nalice log:\n%s\nbob log:\n%s", err, a.logs(), b.logs())
	}
	if !strings.Contains(p["addr"].(string), "10.201.0.1") {
		t.Errorf("bob reaches alice at %v, want her LAN address", p["addr"])
	}
	b.must("send", "home", "alice", "over the LAN")

	// Forget every address; restart both: only mDNS can bring them together.
	a.stop()
	b.stop()
	for _, h := range []*host{a, b} {
		matches, _ := filepath.Glob(filepath.Join(h.home, "networks", "*", "peers.json"))
		for _, m := range matches {
			os.Remove(m)
		}
	}
	a.start()
	b.start()
	start := time.Now()
	if _, err := b.waitPeer("alice", 30*time.Second); err != nil {
		t.Fatalf("after forgetting addresses: %v\nalice log:\n%s\nbob log:\n%s", err, a.logs(), b.logs())
	}
	t.Logf("mDNS rediscovery took %v", time.Since(start).Round(time.Millisecond))
	b.must("send", "home", "alice", "found you by mDNS")
	mdnsLogged := func(log string) bool { // slog text: msg="connected to …" component=mdns
		for _, line := range strings.Split(log, "\n") {
			if strings.Contains(line, "component=mdns") && strings.Contains(line, "connected to") {
				return true
			}
		}
		return false
	}
	if !mdnsLogged(a.logs()) && !mdnsLogged(b.logs()) {
		t.Errorf("no mdns connection logged:\n%s\n%s", a.logs(), b.logs())
	}
}
