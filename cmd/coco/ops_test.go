package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/invite"
)

// `coco key export | coco key restore`: restore reads the numbered layout
// export prints, header and footer lines included.
func TestKeyExportPipeRestore(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	user := jsonField(t, mustCoco(t, "--home", a, "init", "--name", "alice", "--json"), "user")
	printed := mustCoco(t, "--home", a, "key", "export")
	out, errOut, code := coco(t, printed, "--home", b, "key", "restore", "--json")
	if code != 0 {
		t.Fatalf("export | restore: exit %d: %s", code, errOut)
	}
	if got := jsonField(t, out, "user"); got != user {
		t.Fatalf("restored user = %s, want %s", got, user)
	}
	// The numbered words in another order (copied column by column) are
	// put back in their numbers' order.
	var lines []string
	for _, l := range strings.Split(printed, "\n") {
		if strings.Contains(l, " 1. ") || strings.HasPrefix(strings.TrimSpace(l), "1.") {
			continue
		}
		lines = append(lines, l)
	}
	first := strings.Fields(printed[strings.Index(printed, " 1. ")+4:])[0]
	shuffled := strings.Join(lines, "\n") + "\n 1. " + first + "\n"
	// Only row 1's first word moved: the rest of row 1 is missing now.
	if _, errOut, code := coco(t, shuffled, "--home", filepath.Join(dir, "c"), "key", "restore"); code == 0 || !strings.Contains(errOut, "missing") {
		t.Fatalf("restore with words 2-6 missing: exit %d, %q; want an error naming the missing numbers", code, errOut)
	}
	// A number twice is refused, not guessed.
	if _, errOut, code := coco(t, printed+"\n 3. zoo\n", "--home", filepath.Join(dir, "d"), "key", "restore"); code == 0 || !strings.Contains(errOut, "twice") {
		t.Fatalf("restore with word 3 twice: exit %d, %q", code, errOut)
	}
}

// --quiet prints only the invite code or the push key, for scripts.
func TestQuietInviteAndPushKey(t *testing.T) {
	hh := homes(t, "alice")
	a := hh[0]
	startDaemon(t, a)
	out := mustCoco(t, "--home", a, "invite", "home", "--role", "guest", "--quiet")
	code := strings.TrimSuffix(out, "\n")
	if strings.ContainsAny(code, " \n") {
		t.Fatalf("invite --quiet printed %q; want one line, the code", out)
	}
	if _, err := invite.Decode(code); err != nil {
		t.Fatalf("invite --quiet printed %q, not a code: %v", out, err)
	}
	const key = "11FE313037C5327CD35BAC6C8D66867F"
	out = mustCoco(t, "--home", a, "push", "key", "create", "home", "--key", key, "--quiet")
	if out != key+"\n" {
		t.Fatalf("push key create --quiet printed %q; want %q", out, key+"\n")
	}
	out = mustCoco(t, "--home", a, "push", "key", "create", "home", "--quiet")
	if k := strings.TrimSuffix(out, "\n"); len(k) != 32 || strings.ContainsAny(k, " \n") {
		t.Fatalf("push key create --quiet printed %q; want the 32-digit key alone", out)
	}
}

// `coco invite --qr` draws the code as a QR code of half blocks that
// decodes to the code; the code itself follows, to copy.
func TestInviteQR(t *testing.T) {
	hh := homes(t, "alice")
	startDaemon(t, hh[0])
	out := mustCoco(t, "--home", hh[0], "invite", "home", "--qr")
	if !strings.ContainsAny(out, "▀▄█") {
		t.Fatalf("invite --qr drew no QR code:\n%s", out)
	}
	code := ""
	for _, f := range strings.Fields(out) {
		if _, err := invite.Decode(f); err == nil {
			code = f
		}
	}
	if code == "" {
		t.Fatalf("invite --qr printed no code beside the QR code:\n%s", out)
	}
	checkQR(t, out, code)
}

// checkQR checks that out draws text as a QR code: its half-block lines,
// read back as modules (a block is a light module), are go-qrcode's
// bitmap of text at the level coco draws with.
func checkQR(t *testing.T, out, text string) {
	t.Helper()
	var rows [][]bool // true: dark
	for _, l := range strings.Split(out, "\n") {
		rs := []rune(l)
		if len(rs) == 0 || strings.Trim(l, " ▀▄█") != "" || !strings.ContainsAny(l, "▀▄█") {
			continue
		}
		top, bottom := make([]bool, len(rs)), make([]bool, len(rs))
		for i, r := range rs {
			top[i] = r != '▀' && r != '█'
			bottom[i] = r != '▄' && r != '█'
		}
		rows = append(rows, top, bottom)
	}
	q, err := qrcode.New(text, qrLevel)
	if err != nil {
		t.Fatal(err)
	}
	want := q.Bitmap()
	if len(rows) < len(want) || len(rows) > len(want)+1 {
		t.Fatalf("QR code drawn with %d rows of modules, want %d:\n%s", len(rows), len(want), out)
	}
	for y, wr := range want {
		if len(rows[y]) != len(wr) {
			t.Fatalf("QR row %d is %d modules wide, want %d", y, len(rows[y]), len(wr))
		}
		for x := range wr {
			if rows[y][x] != wr[x] {
				t.Fatalf("QR module (%d,%d) drawn wrong:\n%s", x, y, out)
			}
		}
	}
}

// upBackground runs `coco up ARGS…` until the test ends, returning its
// stdout and stderr.
func upBackground(t *testing.T, home string, args ...string) (stdout, stderr *homeBuf) {
	t.Helper()
	stdout, stderr = &homeBuf{}, &homeBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- run(ctx, append([]string{"--home", home, "up", "--listen-host", "127.0.0.1", "--no-mdns"}, args...), strings.NewReader(""), stdout, stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return stdout, stderr
}

// `coco up --device` shows its claim code as a QR code too.
func TestDeviceClaimQR(t *testing.T) {
	home := filepath.Join(t.TempDir(), "door")
	stdout, _ := upBackground(t, home, "--device", "--name", "Front door")
	waitCoco(t, "the claim code", func() bool { return strings.Contains(stdout.String(), "coco device add NETWORK") })
	out := stdout.String()
	i := strings.Index(out, "coco device add NETWORK ")
	code := strings.Fields(out[i+len("coco device add NETWORK "):])[0]
	checkQR(t, out, code)
}

// `coco up --log-format json` writes one JSON object a line, coco's own
// lines with attributes, the daemon's lines with their component.
func TestUpLogJSON(t *testing.T) {
	hh := homes(t, "alice")
	_, stderr := upBackground(t, hh[0], "--log-format", "json")
	waitCoco(t, "coco up to start", func() bool { return strings.Contains(stderr.String(), "API on") })
	var started bool
	for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("not a JSON line: %q (%v)", l, err)
		}
		if rec["level"] == nil || rec["msg"] == nil || rec["time"] == nil {
			t.Fatalf("record without level, msg or time: %q", l)
		}
		if strings.Contains(rec["msg"].(string), "API on") {
			started = rec["api"] == daemon.SocketPath(hh[0]) && rec["name"] == "alice"
		}
	}
	if !started {
		t.Fatalf("no start record with api and name attributes:\n%s", stderr)
	}
}

// --log-level warn leaves out the info lines; bad values are usage errors.
func TestLogFlags(t *testing.T) {
	hh := homes(t, "alice")
	stdout, stderr := upBackground(t, hh[0], "--log-level", "warn", "--web", "off")
	waitCoco(t, "the daemon's socket", func() bool {
		out, _, code := coco(t, "", "--home", hh[0], "status")
		return code == 0 && strings.Contains(out, "running")
	})
	if s := stderr.String() + stdout.String(); strings.Contains(s, "level=INFO") {
		t.Fatalf("--log-level warn logged info lines:\n%s", s)
	}
	for _, args := range [][]string{
		{"up", "--log-format", "xml"}, {"up", "--log-level", "loud"},
		{"control", "--log-format", "xml"}, {"control", "--log-level", "loud"},
	} {
		if _, errOut, code := coco(t, "", append([]string{"--home", hh[0]}, args...)...); code != 2 || !strings.Contains(errOut, args[1]) {
			t.Errorf("coco %s: exit %d %q; want a usage error naming %s", strings.Join(args, " "), code, errOut, args[1])
		}
	}
}

// The daemon's Logf lines become records with a component.
func TestLogfComponent(t *testing.T) {
	var b bytes.Buffer
	f := logf(slog.New(slog.NewJSONHandler(&b, nil)))
	f("control: registered at %s", "12D3")
	f("device %q claimed into %q", "door", "home")
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, m)
	}
	if recs[0]["component"] != "control" || recs[0]["msg"] != "registered at 12D3" {
		t.Errorf("first record %v", recs[0])
	}
	if _, ok := recs[1]["component"]; ok || recs[1]["msg"] != `device "door" claimed into "home"` {
		t.Errorf("second record %v", recs[1])
	}
}

// Status lines are drawn on a terminal only: into a pipe or the journal
// they would never end.
func TestLiveLineOnlyOnTerminal(t *testing.T) {
	var b bytes.Buffer
	liveLine(&env{stderr: &b}, "%d%%", 50)
	if b.Len() != 0 {
		t.Fatalf("status line written to a buffer: %q", b.String())
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	liveLine(&env{stderr: f}, "%d%%", 50)
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Fatal("status line written to a file")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if !isTerminal(tty) {
			t.Fatal("/dev/tty is not taken for a terminal")
		}
	}
}
