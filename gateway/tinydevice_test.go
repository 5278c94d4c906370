package gateway

import (
	"bufio"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestTinyDeviceClient runs examples/tinydevice/client.py against a server:
// it registers, starts an HMAC-SHA256 session, pushes, asks the time and
// receives a push.
func TestTinyDeviceClient(t *testing.T) {
	s := newServer(t, nil)
	runTinyDevice(t, s, register(t, s, "sink"), "sink")
}

// runTinyDevice runs client.py as "dev" on s; it pushes to sink, id sinkID
// of key1's account on s or on another push server of the network.
func runTinyDevice(t *testing.T, s *Server, sink *client, sinkID string) {
	t.Helper()
	runTinyDeviceKey(t, s, key1, sink, sinkID)
}

// runTinyDeviceKey is runTinyDevice with the account key key.
func runTinyDeviceKey(t *testing.T, s *Server, key string, sink *client, sinkID string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; install it to test examples/tinydevice/client.py")
	}
	port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
	cmd := exec.Command(py, "../examples/tinydevice/client.py", "127.0.0.1", port, key, "dev", sinkID, "hello from dev")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start client.py: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := bufio.NewScanner(stdout)
	next := func(prefix string) string {
		t.Helper()
		if !out.Scan() {
			t.Fatalf("client.py stopped before %q: %v\n%s", prefix, out.Err(), stderr.String())
		}
		line := out.Text()
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("client.py printed %q, want %q…\n%s", line, prefix, stderr.String())
		}
		return line
	}
	next("registered dev")
	sink.expectRead("PUSH:hello from dev")
	next("pushed 1")
	next("time ")
	sink.expect("TCP:PUSH:"+key+":RID:dev:turn off", "[OK:1]")
	next("received turn off")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("client.py: %v\n%s", err, stderr.String())
	}
}

// TestTinyDeviceP2Pcluster runs examples/tinydevice/p2pcluster.py, a
// client of the original protocol, against a P2Pcluster-dialect server:
// an STCP session before TCP:ID (the key never crosses the wire), a push,
// TIME, and a push received.
func TestTinyDeviceP2Pcluster(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; install it to test examples/tinydevice/p2pcluster.py")
	}
	s := newP2PServer(t, nil)
	sink := p2pRegister(t, s, "", "sink")
	port := strconv.Itoa(s.Addr().(*net.TCPAddr).Port)
	cmd := exec.Command(py, "../examples/tinydevice/p2pcluster.py", "127.0.0.1", port, p2pKey, p2pUser, "dev", "sink", "hello from dev")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start p2pcluster.py: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	out := bufio.NewScanner(stdout)
	next := func(want string) {
		t.Helper()
		if !out.Scan() {
			t.Fatalf("p2pcluster.py stopped before %q: %v\n%s", want, out.Err(), stderr.String())
		}
		if line := out.Text(); line != want {
			t.Fatalf("p2pcluster.py printed %q, want %q\n%s", line, want, stderr.String())
		}
	}
	next("registered dev")
	sink.expectRead("PUSH:hello from dev")
	next("pushed [OK:DATA_SENT]")
	next("time [IST:(Thu)(3,12,2026)(13:21:07)(" + strconv.FormatInt(p2pNow.Unix(), 10) + ")]")
	sink.expect("TCP:PUSH:"+p2pKey+":RID:DEV:turn off", "[OK:DATA_SENT]")
	next("received turn off")
	if err := cmd.Wait(); err != nil {
		t.Fatalf("p2pcluster.py: %v\n%s", err, stderr.String())
	}
}
