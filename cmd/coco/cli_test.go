package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/invite"
)

// coco runs one CLI command in-process.
func coco(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	code = run(ctx, args, strings.NewReader(stdin), &o, &e)
	return o.String(), e.String(), code
}

func mustCoco(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := coco(t, "", args...)
	if code != 0 {
		t.Fatalf("coco %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

func jsonField(t *testing.T, out, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("bad JSON %q: %v", out, err)
	}
	s, _ := m[field].(string)
	return s
}

// homes makes, in a test directory, a home for each name with an identity
// of that name, and the network "home" owned by the first.
func homes(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var hs []string
	for _, n := range names {
		h := filepath.Join(dir, n)
		mustCoco(t, "--home", h, "init", "--name", n)
		hs = append(hs, h)
	}
	mustCoco(t, "--home", hs[0], "net", "create", "home")
	return hs
}

func startDaemon(t *testing.T, home string) *daemon.Daemon {
	t.Helper()
	d := &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("daemon %s: %v", home, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestKeyExportRestore(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	user := jsonField(t, mustCoco(t, "--home", a, "init", "--name", "alice", "--json"), "user")
	words := jsonField(t, mustCoco(t, "--home", a, "key", "export", "--json"), "words")
	if len(strings.Fields(words)) != 24 {
		t.Fatalf("export gave %d words", len(strings.Fields(words)))
	}
	out, errOut, code := coco(t, words+"\n", "--home", b, "key", "restore", "--json")
	if code != 0 {
		t.Fatalf("restore: exit %d: %s", code, errOut)
	}
	if got := jsonField(t, out, "user"); got != user {
		t.Fatalf("restored user = %s, want %s", got, user)
	}
	// Bad words: clear error, non-zero exit, nothing written.
	_, errOut, code = coco(t, "apple banana\n", "--home", filepath.Join(dir, "c"), "key", "restore")
	if code == 0 || !strings.Contains(errOut, "24") {
		t.Fatalf("restore with 2 words: exit %d, stderr %q", code, errOut)
	}
	// The seed is never printed by anything but export.
	if out := mustCoco(t, "--home", a, "net", "list", "--json"); strings.Contains(out, strings.Fields(words)[0]+" "+strings.Fields(words)[1]) {
		t.Fatal("net list printed the paper key")
	}
}

// TestCLIStory runs the README story through the CLI and two daemons.
func TestCLIStory(t *testing.T) {
	hh := homes(t, "alice", "bob")
	a, b := hh[0], hh[1]
	// Inviting needs the node running: a clear error first.
	if _, errOut, code := coco(t, "", "--home", a, "invite", "home"); code == 0 || !strings.Contains(errOut, "coco up") {
		t.Fatalf("invite without daemon: exit %d, %q", code, errOut)
	}
	startDaemon(t, a)
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "guest", "--json"), "code")
	mustCoco(t, "--home", b, "join", code)
	startDaemon(t, b)
	// Wait for bob's node to reach alice's.
	deadline := time.Now().Add(15 * time.Second)
	for {
		out := mustCoco(t, "--home", b, "peers", "home", "--json")
		if strings.Contains(out, `"connected": true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob never connected: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mustCoco(t, "--home", b, "send", "home", "alice", "hello", "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var o, e bytes.Buffer
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--home", a, "listen", "home", "--json"}, nil, &o, &e) }()
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(o.String(), "aGVsbG8gYWxpY2U=") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(o.String(), `"from_name": "bob"`) {
		t.Fatalf("listen printed %q, want bob's message", o.String())
	}
	members := mustCoco(t, "--home", a, "members", "home")
	if !strings.Contains(members, "bob") || !strings.Contains(members, "guest") {
		t.Fatalf("members = %q", members)
	}
	// A guest cannot invite or remove: clear refusals.
	if _, errOut, code := coco(t, "", "--home", b, "invite", "home"); code == 0 || !strings.Contains(errOut, "guest") {
		t.Fatalf("guest invite: exit %d, %q", code, errOut)
	}
	if _, errOut, code := coco(t, "", "--home", b, "remove", "home", "alice"); code == 0 || errOut == "" {
		t.Fatalf("guest remove: exit %d, %q", code, errOut)
	}
	// Sending to an offline member: a clear error.
	mustCoco(t, "--home", a, "remove", "home", "bob")
	if _, errOut, code := coco(t, "", "--home", a, "send", "home", "bob", "x"); code == 0 || errOut == "" {
		t.Fatalf("send to removed bob: exit %d, %q", code, errOut)
	}
}

func TestBadInviteCodes(t *testing.T) {
	hh := homes(t, "alice", "bob", "carol")
	a, b, c := hh[0], hh[1], hh[2]
	startDaemon(t, a)
	code := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--json"), "code")
	dec, err := invite.Decode(code)
	if err != nil {
		t.Fatal(err)
	}
	expired := *dec
	expired.Expires = time.Now().Add(-time.Hour).Unix()
	tampered := []byte(code)
	if tampered[40] == 'a' {
		tampered[40] = 'b'
	} else {
		tampered[40] = 'a'
	}
	forged := *dec // a code with a secret nobody recorded
	forged.Secret[0] ^= 0xff

	for _, tc := range []struct {
		name, code, want string
	}{
		{"truncated", code[:len(code)/2], "incomplete"},
		{"tampered", string(tampered), "damaged"},
		{"not a code", "hello", "not a coconet invite code"},
		{"expired", expired.Encode(), "expired on"},
		{"unknown secret", forged.Encode(), "invite"},
	} {
		_, errOut, exit := coco(t, "", "--home", b, "join", tc.code)
		if exit == 0 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q, want non-zero and %q", tc.name, exit, errOut, tc.want)
		}
	}
	// Used up: bob uses it, carol cannot.
	mustCoco(t, "--home", b, "join", code)
	if _, errOut, exit := coco(t, "", "--home", c, "join", code); exit == 0 || !strings.Contains(errOut, "invite") {
		t.Errorf("used-up code: exit %d, stderr %q", exit, errOut)
	} else {
		t.Logf("used-up code: %s", strings.TrimSpace(errOut))
	}
}

// TestHelp: every command answers --help on stdout with exit 0 and does
// nothing else (no identity needed, nothing created).
func TestHelp(t *testing.T) {
	home := filepath.Join(t.TempDir(), "none")
	for _, c := range commands {
		args := append([]string{"--home", home}, strings.Fields(c.name)...)
		out, errOut, code := coco(t, "", append(args, "--help")...)
		if code != 0 || !strings.Contains(out, "usage: coco "+c.name) {
			t.Errorf("coco %s --help: exit %d, stdout %q, stderr %q", c.name, code, out, errOut)
		}
	}
	if _, err := os.Stat(home); err == nil {
		t.Errorf("--help created %s", home)
	}
}
