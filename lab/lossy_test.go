package lab

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	wireDelay = flag.Duration("lab.delay", 41*time.Millisecond, "TestLossyWire: one-way delay of the wire (RTT is twice it)")
	wireLoss  = flag.Float64("lab.loss", 0.01, "TestLossyWire: loss per frame in each direction")
	bulkSecs  = flag.Float64("lab.bulksecs", 5, "TestLossyWire: seconds each sender writes")
	copyBytes = flag.Int("lab.copybytes", 0, "TestLossyWire: size of the file coco copy sends (0: what go-libp2p QUIC moved in -lab.bulksecs, so both run as long)")
	lossTable = flag.String("lab.losstable", "", "TestLossyWire: also append the figures to this file")
)

const wirePkg = "github.com/coconet/coconet/lab/internal/wire"

// TestLossyWire (issue 15, item 4): two hosts on a wire with the
// internet's habits (by default 82 ms RTT and 1 % loss each way, built in
// userspace: lab/internal/wire) and one bulk transfer over it by each of
// Linux TCP (iperf3, CUBIC), plain go-libp2p over TCP (Noise, yamux) and
// plain go-libp2p over QUIC (quic-go) — the stacks coconet's node is made
// of — and coconet itself (two daemons, `coco copy`). The addresses look
// public (11.77.0.0/24, only inside the lab's namespaces), so coconet
// ranks its dials as on the internet. Each transfer must finish intact;
// the throughputs and their ratios to TCP CUBIC are printed, not asserted
// (bench/lossy.sh runs it under several conditions).
func TestLossyWire(t *testing.T) {
	if why := Available(); why != "" {
		t.Skip(why)
	}
	wire, punch := buildTool(t, wirePkg), buildTool(t, punchPkg)
	l := New("cocowire-")
	defer l.Close()
	a, err := l.Namespace("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Namespace("b")
	if err != nil {
		t.Fatal(err)
	}
	w, err := l.Wire(wire, a, "11.77.0.1/24", b, "11.77.0.2/24", WireConfig{Delay: *wireDelay, Loss: *wireLoss})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { t.Logf("wire: %s", w.Close()) }()
	cond := fmt.Sprintf("RTT %v, loss %.2f%% each way", 2**wireDelay, 100**wireLoss)

	rates := map[string]float64{} // bytes per second
	var order []string
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Logf("iperf3 not installed (`apt-get install iperf3`): no Linux TCP reference")
	} else {
		cc, _ := Command(a, "sysctl", "-n", "net.ipv4.tcp_congestion_control").Output()
		for _, c := range []struct{ name, algo string }{
			{tcpCubic, "cubic"},
			{fmt.Sprintf("Linux TCP (%s, the default)", strings.TrimSpace(string(cc))), ""},
		} {
			if c.algo == "" && strings.TrimSpace(string(cc)) == "cubic" {
				continue
			}
			rates[c.name] = iperf(t, a, b, c.algo)
			order = append(order, c.name)
		}
	}

	srv := startProc(t, "bulk server", b, punch, "bulk-serve", "-port", "4100")
	if _, err := srv.waitLine("ready", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	var id string
	for _, line := range strings.Split(srv.stdout(), "\n") {
		if _, p2p, ok := strings.Cut(line, "/p2p/"); ok && strings.HasPrefix(line, "addr ") {
			id = p2p
		}
	}
	for _, tr := range []struct{ name, addr string }{
		{"go-libp2p TCP (Noise, yamux)", "/ip4/11.77.0.2/tcp/4100"},
		{"go-libp2p QUIC (quic-go)", "/ip4/11.77.0.2/udp/4100/quic-v1"},
	} {
		out, err := Command(a, punch, "bulk-send", "-to", tr.addr+"/p2p/"+id, "-secs", fmt.Sprint(*bulkSecs)).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", tr.name, err, out)
		}
		f := strings.Fields(strings.TrimSpace(string(out)))
		if len(f) != 3 || f[0] != "bulk" {
			t.Fatalf("%s printed %q", tr.name, out)
		}
		n, _ := strconv.ParseFloat(f[1], 64)
		secs, _ := strconv.ParseFloat(f[2], 64)
		if n == 0 || secs == 0 {
			t.Fatalf("%s moved nothing: %q", tr.name, out)
		}
		rates[tr.name] = n / secs
		order = append(order, tr.name)
	}
	srv.stop()

	// coconet itself: two daemons, bob copies a file to alice.
	dir := t.TempDir()
	alice := &host{t: t, ns: a, home: filepath.Join(dir, "alice"), upArgs: []string{"--no-mdns"}}
	bob := &host{t: t, ns: b, home: filepath.Join(dir, "bob"), upArgs: []string{"--no-mdns"}}
	defer alice.stop()
	defer bob.stop()
	alice.must("init", "--name", "alice")
	bob.must("init", "--name", "bob")
	alice.must("net", "create", "home")
	alice.start()
	var inv map[string]any
	json.Unmarshal([]byte(alice.must("invite", "home", "--role", "admin", "--json")), &inv)
	bob.must("join", inv["code"].(string))
	bob.start()
	peer, err := bob.waitPeer("alice", 60*time.Second)
	if err != nil {
		t.Fatalf("%v\nalice log:\n%s\nbob log:\n%s", err, alice.logs(), bob.logs())
	}
	inbox := filepath.Join(dir, "inbox")
	if err := os.Mkdir(inbox, 0o700); err != nil {
		t.Fatal(err)
	}
	recv := startProc(t, "coco receive", a, cocoBin, "--home", alice.home, "receive", "home", "--dir", inbox)
	defer recv.stop()
	time.Sleep(time.Second) // receive says nothing on stdout until a file comes
	file := filepath.Join(dir, "payload.bin")
	size := *copyBytes
	if size == 0 {
		size = max(1<<20, int(rates["go-libp2p QUIC (quic-go)"]**bulkSecs))
	}
	payload := make([]byte, size)
	rand.Read(payload)
	if err := os.WriteFile(file, payload, 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := bob.coco("copy", file, "home:alice"); err != nil {
		t.Fatalf("coco copy over the wire: %v\nalice log:\n%s", err, alice.logs())
	}
	took := time.Since(t0)
	got, err := os.ReadFile(filepath.Join(inbox, "payload.bin"))
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("the copy arrived as %d bytes (%v), want the %d sent", len(got), err, len(payload))
	}
	t.Logf("bob reaches alice at %v (%v)", peer["addr"], peer["path"])
	name := fmt.Sprintf("coconet coco copy (%v path)", peer["path"])
	rates[name] = float64(len(payload)) / took.Seconds()
	order = append(order, name)

	ref := rates[tcpCubic]
	var sb strings.Builder
	fmt.Fprintf(&sb, "bulk transfer over the lab wire (%s), %gs each\n", cond, *bulkSecs)
	for _, name := range order {
		r := rates[name]
		ratio := ""
		if ref > 0 {
			ratio = fmt.Sprintf("%.2f× TCP CUBIC", r/ref)
		}
		fmt.Fprintf(&sb, "  %-36s %8.2f MB/s  %s\n", name, r/1e6, ratio)
	}
	t.Log("\n" + sb.String())
	if *lossTable != "" {
		appendTable(sb.String(), *lossTable)
	}
}

const tcpCubic = "Linux TCP (cubic)"

// iperf runs iperf3 from namespace a to b for -lab.bulksecs with the
// congestion control algo ("" for the namespace's default) and returns
// what the receiver got, in bytes per second.
func iperf(t *testing.T, a, b, algo string) float64 {
	t.Helper()
	srv := startProc(t, "iperf3 server", b, "iperf3", "-s", "-1", "-p", "5201")
	defer srv.stop()
	time.Sleep(500 * time.Millisecond) // iperf3 prints nothing until it ends when not on a terminal
	args := []string{"-c", "11.77.0.2", "-p", "5201", "-t", fmt.Sprint(*bulkSecs), "-J"}
	if algo != "" {
		args = append(args, "-C", algo)
	}
	out, err := Command(a, "iperf3", args...).Output()
	if err != nil {
		t.Fatalf("iperf3: %v\n%s", err, out)
	}
	var res struct {
		End struct {
			Received struct {
				Bytes float64 `json:"bytes"`
				Secs  float64 `json:"seconds"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.End.Received.Secs == 0 {
		t.Fatalf("iperf3 printed %q: %v", out, err)
	}
	return res.End.Received.Bytes / res.End.Received.Secs
}
