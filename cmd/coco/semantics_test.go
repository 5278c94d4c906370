package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuf is a bytes.Buffer safe to read while a command writes to it.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// background runs a long-lived CLI command until the test ends.
func background(t *testing.T, args ...string) *syncBuf {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	done := make(chan struct{})
	go func() { run(ctx, args, strings.NewReader(""), out, io.Discard); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// twoDaemons sets up alice (owner) and bob (admin) with running daemons,
// connected.
func twoDaemons(t *testing.T) (a, b string) {
	t.Helper()
	dir := t.TempDir()
	a, b = filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	mustCoco(t, "--home", a, "init", "--name", "alice")
	mustCoco(t, "--home", b, "init", "--name", "bob")
	mustCoco(t, "--home", a, "net", "create", "home")
	startDaemon(t, a)
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "admin", "--json"), "code")
	mustCoco(t, "--home", b, "join", code)
	startDaemon(t, b)
	eventually(t, "bob to reach alice", func() bool {
		return strings.Contains(mustCoco(t, "--home", b, "peers", "home", "--json"), `"connected": true`)
	})
	return a, b
}

func TestCLICallCopyTunnel(t *testing.T) {
	a, b := twoDaemons(t)

	// call: the built-in services.
	out := mustCoco(t, "--home", b, "call", "home", "alice", "coco.echo", "hello", "there")
	if strings.TrimSpace(out) != "hello there" {
		t.Fatalf("call coco.echo = %q", out)
	}
	var info map[string]any
	json.Unmarshal([]byte(jsonField(t, mustCoco(t, "--home", b, "call", "home", "alice", "coco.info", "--json"), "reply")), &info)
	if info["name"] != "alice" || info["caller"] != "bob" {
		t.Fatalf("coco.info = %v", info)
	}
	if _, errOut, code := coco(t, "", "--home", b, "call", "home", "alice", "no.such"); code == 0 || !strings.Contains(errOut, "unknown") {
		t.Fatalf("unknown service: exit %d, %q", code, errOut)
	}

	// copy / receive.
	src := filepath.Join(t.TempDir(), "notes.bin")
	data := make([]byte, 3<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	if _, errOut, code := coco(t, "", "--home", b, "copy", src, "home:alice"); code == 0 || !strings.Contains(errOut, "coco receive") {
		t.Fatalf("copy before receive: exit %d, %q", code, errOut)
	}
	inbox := t.TempDir()
	recv := background(t, "--home", a, "receive", "home", "--dir", inbox)
	var copied string
	eventually(t, "copy to succeed", func() bool {
		out, _, code := coco(t, "", "--home", b, "copy", src, "home:alice")
		copied = out
		return code == 0
	})
	if !strings.Contains(copied, "verified") {
		t.Fatalf("copy said %q", copied)
	}
	got, _ := os.ReadFile(filepath.Join(inbox, "notes.bin"))
	if !bytes.Equal(got, data) {
		t.Fatalf("received %d bytes, want %d identical", len(got), len(data))
	}
	eventually(t, "receive to report", func() bool { return strings.Contains(recv.String(), "received notes.bin") })

	// tunnel: alice exposes an HTTP server, bob opens it on a local port.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "it works") }))
	defer srv.Close()
	background(t, "--home", a, "tunnel", "expose", "home", "web", srv.Listener.Addr().String())
	opened := background(t, "--home", b, "tunnel", "open", "home", "alice/web", "--json")
	var addr string
	eventually(t, "tunnel to open", func() bool {
		var ev struct{ Addr string }
		dec := json.NewDecoder(strings.NewReader(opened.String()))
		if dec.Decode(&ev) == nil && ev.Addr != "" {
			addr = ev.Addr
			return true
		}
		return false
	})
	var body []byte
	eventually(t, "GET through the tunnel", func() bool {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, _ = io.ReadAll(resp.Body)
		return resp.StatusCode == 200
	})
	if string(body) != "it works" {
		t.Fatalf("GET through tunnel = %q", body)
	}
}

func TestCLIPubSub(t *testing.T) {
	a, b := twoDaemons(t)
	mustCoco(t, "--home", a, "pub", "home", "lights/kitchen", "on", "--retain")
	sub := background(t, "--home", b, "sub", "home", "lights/+", "--json")
	// The retained value arrives first, then live messages.
	eventually(t, "the retained value", func() bool { return strings.Contains(sub.String(), `"retained": true`) })
	eventually(t, "a live message", func() bool {
		mustCoco(t, "--home", a, "pub", "home", "lights/hall", "off", "--qos", "1")
		return strings.Contains(sub.String(), `"topic": "lights/hall"`)
	})
	if strings.Contains(sub.String(), "garage") {
		t.Fatal("a non-matching topic was delivered")
	}
	if _, errOut, code := coco(t, "", "--home", a, "pub", "home", "bad/#/topic", "x"); code == 0 || errOut == "" {
		t.Fatalf("publishing on a wildcard topic: exit %d, %q", code, errOut)
	}
}
