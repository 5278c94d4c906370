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

// twoDaemons sets up alice (owner) and bob (admin) with running daemons,
// connected.
func twoDaemons(t *testing.T) (a, b string) {
	t.Helper()
	hh := homes(t, "alice", "bob")
	a, b = hh[0], hh[1]
	startDaemon(t, a)
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "admin", "--json"), "code")
	mustCoco(t, "--home", b, "join", code)
	startDaemon(t, b)
	waitCoco(t, "bob to reach alice", func() bool {
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
	waitCoco(t, "copy to succeed", func() bool {
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
	waitCoco(t, "receive to report", func() bool { return strings.Contains(recv.String(), "received notes.bin") })

	// tunnel: alice exposes an HTTP server, bob opens it on a local port.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "it works") }))
	defer srv.Close()
	background(t, "--home", a, "tunnel", "expose", "home", "web", srv.Listener.Addr().String())
	opened := background(t, "--home", b, "tunnel", "open", "home", "alice/web", "--json")
	var addr string
	waitCoco(t, "tunnel to open", func() bool {
		var ev struct{ Addr string }
		dec := json.NewDecoder(strings.NewReader(opened.String()))
		if dec.Decode(&ev) == nil && ev.Addr != "" {
			addr = ev.Addr
			return true
		}
		return false
	})
	var body []byte
	waitCoco(t, "GET through the tunnel", func() bool {
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
	waitCoco(t, "the retained value", func() bool { return strings.Contains(sub.String(), `"retained": true`) })
	waitCoco(t, "a live message", func() bool {
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

// TestCLIAllow: a guest's daemon is refused on a tunnel and a receive
// exposed with the defaults, and reads why; --allow opens them to her by
// name, and --max-size bounds what she may send.
func TestCLIAllow(t *testing.T) {
	a, _ := twoDaemons(t)
	c := filepath.Join(t.TempDir(), "carol")
	mustCoco(t, "--home", c, "init", "--name", "carol")
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "guest", "--json"), "code")
	mustCoco(t, "--home", c, "join", code)
	startDaemon(t, c)
	waitCoco(t, "carol to reach alice", func() bool {
		return strings.Contains(mustCoco(t, "--home", c, "peers", "home", "--json"), `"connected": true`)
	})

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "it works") }))
	defer srv.Close()
	exposed := background(t, "--home", a, "tunnel", "expose", "home", "web", srv.Listener.Addr().String())
	waitCoco(t, "expose to start", func() bool { return strings.Contains(exposed.String(), "to the owner and admins") })
	get := func(tunnelName string) (warning, body string) {
		opened := background(t, "--home", c, "tunnel", "open", "home", "alice/"+tunnelName, "--json")
		var addr string
		waitCoco(t, "tunnel to open", func() bool {
			var ev struct{ Addr string }
			if json.NewDecoder(strings.NewReader(opened.String())).Decode(&ev) == nil && ev.Addr != "" {
				addr = ev.Addr
				return true
			}
			return false
		})
		waitCoco(t, "a GET through the tunnel to end", func() bool {
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				return true // the tunnel closed the connection
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body = string(b)
			return true
		})
		if body != "" {
			return "", body
		}
		waitCoco(t, "the tunnel's warning", func() bool {
			dec := json.NewDecoder(strings.NewReader(opened.String()))
			for {
				var ev struct{ Warning string }
				if dec.Decode(&ev) != nil {
					return false
				}
				if ev.Warning != "" {
					warning = ev.Warning
					return true
				}
			}
		})
		return warning, ""
	}
	if w, body := get("web"); body != "" || !strings.Contains(w, "alice's tunnel web is not open to guests; ask alice to allow you") {
		t.Fatalf("guest through a default tunnel: body %q, warning %q", body, w)
	}
	exposed2 := background(t, "--home", a, "tunnel", "expose", "home", "web2", srv.Listener.Addr().String(), "--allow", "admin,carol")
	waitCoco(t, "expose to start", func() bool { return strings.Contains(exposed2.String(), "to the owner and admins, carol") })
	if w, body := get("web2"); body != "it works" {
		t.Fatalf("guest through a tunnel allowing her: body %q, warning %q", body, w)
	}
	if _, errOut, code := coco(t, "", "--home", a, "tunnel", "expose", "home", "web3", "127.0.0.1:1", "--allow", "mallory"); code == 0 || !strings.Contains(errOut, "mallory") {
		t.Fatalf("--allow of an unknown member: exit %d, %q", code, errOut)
	}

	// receive: refused by default; with --allow carol, up to --max-size.
	small := filepath.Join(t.TempDir(), "small.txt")
	os.WriteFile(small, []byte("hello"), 0o600)
	big := filepath.Join(t.TempDir(), "big.bin")
	os.WriteFile(big, make([]byte, 4096), 0o600)
	inbox := t.TempDir()
	_, stop := backgroundStop(t, "--home", a, "receive", "home", "--dir", inbox)
	waitCoco(t, "the guest's copy to be refused", func() bool {
		_, errOut, code := coco(t, "", "--home", c, "copy", small, "home:alice")
		return code != 0 && strings.Contains(errOut, "alice's file receive is not open to guests; ask alice to allow you")
	})
	stop()
	waitCoco(t, "the first receive to end", func() bool {
		_, errOut, _ := coco(t, "", "--home", c, "copy", small, "home:alice")
		return strings.Contains(errOut, "not receiving")
	})
	recv := background(t, "--home", a, "receive", "home", "--dir", inbox, "--allow", "carol", "--max-size", "1KiB")
	var lastErr string
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, errOut, code := coco(t, "", "--home", c, "copy", small, "home:alice")
		if code == 0 {
			break
		}
		lastErr = errOut
		if time.Now().After(deadline) {
			t.Fatalf("guest's copy to a receive allowing her: %q (receive said %q)", lastErr, recv.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, errOut, code := coco(t, "", "--home", c, "copy", big, "home:alice"); code == 0 || !strings.Contains(errOut, "limit") {
		t.Fatalf("copy over --max-size: exit %d, %q", code, errOut)
	}
	waitCoco(t, "receive to report carol's file", func() bool { return strings.Contains(recv.String(), "received small.txt (5 B) from carol") })
	ents, _ := os.ReadDir(inbox)
	if len(ents) != 1 || ents[0].Name() != "small.txt" {
		t.Errorf("inbox holds %v, want small.txt only", ents)
	}
}

// backgroundStop is background with a stop function for before the test
// ends.
func backgroundStop(t *testing.T, args ...string) (*syncBuf, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuf{}
	done := make(chan struct{})
	go func() { run(ctx, args, strings.NewReader(""), out, io.Discard); close(done) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return out, stop
}
