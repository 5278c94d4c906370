package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"path/filepath"
	"strings"
	"testing"
)

func init() { webDefault = "127.0.0.1:0" } // tests run side by side: no fixed port

// `coco up` serves the app; `coco app` prints a link that logs in once.
func TestAppLogin(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	mustCoco(t, "--home", home, "init", "--name", "alice")
	mustCoco(t, "--home", home, "net", "create", "home")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr homeBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns"}, strings.NewReader(""), &homeBuf{}, &stderr)
	}()
	defer func() {
		cancel()
		<-done
	}()
	waitCoco(t, "coco up to serve the app", func() bool { return strings.Contains(stderr.String(), "network app is on") })

	out := mustCoco(t, "--home", home, "app", "--no-open")
	i := strings.Index(out, "http://")
	if i < 0 {
		t.Fatalf("coco app printed no link: %q", out)
	}
	link := strings.Fields(out[i:])[0]
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	resp, err := hc.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "home") {
		t.Fatalf("login link: %s %q; want the networks page listing home", resp.Status, body)
	}
	// The link is spent.
	resp, err = http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the link used again: %s, want 401", resp.Status)
	}
	// `coco app --logout-all` ends the session of the running app.
	mustCoco(t, "--home", home, "app", "--logout-all")
	resp, err = hc.Get(link[:strings.Index(link, "/login")] + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the session after coco app --logout-all: %s, want 401", resp.Status)
	}
}

func TestAppWebOff(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	mustCoco(t, "--home", home, "init", "--name", "alice")
	if _, errOut, code := coco(t, "", "--home", home, "up", "--web", "0.0.0.0:7777"); code != 2 || !strings.Contains(errOut, "loopback") {
		t.Fatalf("coco up --web 0.0.0.0:7777: exit %d %q; want a usage error naming loopback", code, errOut)
	}
	if _, errOut, code := coco(t, "", "--home", home, "app", "--no-open"); code == 0 || !strings.Contains(errOut, "not being served") {
		t.Fatalf("coco app with no app served: exit %d %q", code, errOut)
	}
}

// A second home's `coco up` on the same machine finds the default address
// taken: it runs without the app and says so; with --web naming the taken
// address it fails.
func TestAppDefaultPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	old := webDefault
	webDefault = ln.Addr().String()
	defer func() { webDefault = old }()
	home := filepath.Join(t.TempDir(), "alice")
	mustCoco(t, "--home", home, "init", "--name", "alice")

	ctx, cancel := context.WithCancel(context.Background())
	var stderr homeBuf
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns"}, strings.NewReader(""), &homeBuf{}, &stderr)
	}()
	waitCoco(t, "coco up to say it runs without the app", func() bool { return strings.Contains(stderr.String(), "not serving the network app") })
	cancel()
	if c := <-done; c != 0 {
		t.Fatalf("coco up: exit %d: %s", c, stderr.String())
	}
	if _, errOut, code := coco(t, "", "--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns", "--web", ln.Addr().String()); code == 0 || !strings.Contains(errOut, "--web ADDR") {
		t.Fatalf("coco up --web TAKEN: exit %d %q; want a failure naming --web", code, errOut)
	}
}
