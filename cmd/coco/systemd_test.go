package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeNotify is a fake systemd notify socket: NOTIFY_SOCKET names it for
// the test; next returns the next datagram.
func fakeNotify(t *testing.T, name string) func() string {
	t.Helper()
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	t.Setenv("NOTIFY_SOCKET", name) // "@…": abstract, as systemd may name it
	return func() string {
		t.Helper()
		ln.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 4096)
		n, err := ln.Read(b)
		if err != nil {
			t.Fatalf("no notification on the notify socket: %v", err)
		}
		return string(b[:n])
	}
}

// Under systemd, `coco up` says READY=1 once its API answers.
func TestUpNotifiesSystemd(t *testing.T) {
	hh := homes(t, "alice")
	next := fakeNotify(t, filepath.Join(t.TempDir(), "notify"))
	upBackground(t, hh[0])
	msg := next()
	if !strings.Contains(msg, "READY=1") {
		t.Fatalf("coco up notified %q, want READY=1", msg)
	}
	// Ready means ready: the API answers now, without waiting.
	if out := mustCoco(t, "--home", hh[0], "status"); !strings.Contains(out, "running") {
		t.Fatalf("status right after READY=1: %q", out)
	}
}

// `coco control` says READY=1 once it listens; an abstract socket
// (systemd's "@…" form) works too.
func TestControlNotifiesSystemd(t *testing.T) {
	next := fakeNotify(t, fmt.Sprintf("@coco-test-%d", time.Now().UnixNano()))
	out := background(t, "--home", filepath.Join(t.TempDir(), "ctl"), "control", "--listen", "/ip4/127.0.0.1/tcp/0")
	msg := next()
	if !strings.Contains(msg, "READY=1") {
		t.Fatalf("coco control notified %q, want READY=1", msg)
	}
	if !strings.Contains(out.String(), "coco up --control") {
		t.Fatalf("READY=1 before coco control printed its addresses: %q", out.String())
	}
}

// Without NOTIFY_SOCKET nothing is sent and nothing fails.
func TestNoNotifySocket(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := sdNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
}

// The units in packaging/ pass `systemd-analyze verify`, and their
// ExecStart lines use only options the commands have.
func TestSystemdUnits(t *testing.T) {
	_, _, options := completionTree()
	units := map[string]string{"coco.service": "up", "coco-control.service": "control"}
	dir := t.TempDir()
	for unit, command := range units {
		b, err := os.ReadFile(filepath.Join("..", "..", "packaging", unit))
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		for _, want := range []string{"Type=notify", "NoNewPrivileges=yes"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %s", unit, want)
			}
		}
		sc := bufio.NewScanner(strings.NewReader(text))
		for sc.Scan() {
			exec, ok := strings.CutPrefix(sc.Text(), "ExecStart=")
			if !ok {
				continue
			}
			f := strings.Fields(exec)
			if f[0] != "/usr/local/bin/coco" || f[1] != command {
				t.Errorf("%s runs %q, want /usr/local/bin/coco %s", unit, exec, command)
			}
			for _, a := range f[2:] {
				if strings.HasPrefix(a, "--") && !slices.Contains(options[command], a) {
					t.Errorf("%s: coco %s has no option %s", unit, command, a)
				}
			}
		}
		// verify checks that ExecStart is executable: point it at this test.
		self, _ := os.Executable()
		os.WriteFile(filepath.Join(dir, unit), []byte(strings.ReplaceAll(text, "/usr/local/bin/coco", self)), 0o644)
	}
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=coco-control", "ProtectSystem=strict"} {
		b, _ := os.ReadFile(filepath.Join(dir, "coco-control.service"))
		if !strings.Contains(string(b), want) {
			t.Errorf("coco-control.service lacks %s", want)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("no systemd-analyze on this machine (Debian: systemd): the units are not verified")
	}
	for unit := range units {
		args := []string{"verify", filepath.Join(dir, unit)}
		if unit == "coco.service" {
			args = append([]string{"--user"}, args...)
		}
		cmd := exec.Command(sa, args...)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+dir) // --user needs a runtime dir
		out, err := cmd.CombinedOutput()
		// verify exits 0 over unknown keys and bad values: any line is a finding.
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
