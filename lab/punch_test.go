package lab

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

var punchTable = flag.String("lab.punchtable", "", "go-libp2p hole punching: also write the result table to this file")

const punchPkg = "github.com/coconet/coconet/lab/internal/punch"

// TestNATMapping checks the routers with a bare UDP probe: one socket sends
// to two servers on a public host and learns how each saw it. An easy NAT
// maps both to one address and port (endpoint-independent mapping), a hard
// NAT to two ports (symmetric), a public host is seen as itself, and from
// behind a UDP-blocking router nothing comes back.
func TestNATMapping(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	bin := buildTool(t, punchPkg)
	in, err := NewInternet("cocomap-")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	srv, err := in.Host("srv", Public)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range []string{"3478", "3479"} {
		p := startProc(t, "echo "+port, srv.NS, bin, "echo", "-port", port)
		if _, err := p.waitLine("listening", 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	to := srv.Addr + ":3478," + srv.Addr + ":3479"
	for _, kind := range Kinds {
		h, err := in.Host(string(kind)[:4], kind)
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Command(bin, "probe", "-to", to).CombinedOutput()
		if err != nil {
			t.Fatalf("probe from %s: %v\n%s", kind, err, out)
		}
		var seen []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			if len(f) == 3 && f[0] == "mapped" {
				seen = append(seen, f[2])
			}
		}
		if len(seen) != 2 {
			t.Fatalf("probe from %s printed %q, want two mapped lines", kind, out)
		}
		t.Logf("%-11s seen by two servers as %s, %s", kind, seen[0], seen[1])
		ip0, _, _ := strings.Cut(seen[0], ":")
		switch kind {
		case Public, Easy:
			if seen[0] != seen[1] || ip0 != h.WAN {
				t.Errorf("%s host: mapped to %v, want the same %s:port for both servers", kind, seen, h.WAN)
			}
		case Hard:
			if seen[0] == seen[1] || ip0 != h.WAN {
				t.Errorf("hard NAT: mapped to %v, want two ports of %s", seen, h.WAN)
			}
		case UDPBlocked:
			if seen[0] != "timeout" || seen[1] != "timeout" {
				t.Errorf("UDP-blocked host: got answers %v, want none", seen)
			}
		}
	}
}

// directExpected is the expected outcome of hole punching between two
// kinds of host, from NAT-NOTES 1 and 5 and measured in TestLibp2pHolePunch:
//
//   - a public host is reached directly by anyone: the NATed side dials it
//     (over TCP when UDP is blocked);
//   - easy/easy punches a direct QUIC path: both mappings are
//     endpoint-independent, so the addresses the relay observed are the ones
//     the punch packets come from;
//   - easy/hard stays relayed: the symmetric side's punch packets leave
//     from a fresh random port, which the easy side's port-dependent filter
//     drops, and the easy side's packets hit a port the hard router never
//     mapped for it;
//   - hard/hard stays relayed, for both reasons;
//   - UDP-blocked with anything but a public host is expected relayed: QUIC
//     cannot punch, and go-libp2p's TCP simultaneous open through two
//     stateful firewalls usually fails here — but not always (a CI run saw
//     it succeed), so direct is accepted there too (tcpPunchMayWork).
func directExpected(a, b Kind) bool {
	if a == Public || b == Public {
		return true
	}
	return a == Easy && b == Easy
}

// tcpPunchMayWork: neither side is behind a symmetric NAT, so go-libp2p's
// TCP simultaneous open sometimes gets through even where QUIC cannot
// (UDP blocked); such a pair may end direct or relayed.
func tcpPunchMayWork(a, b Kind) bool {
	return a != Hard && b != Hard
}

// TestLibp2pHolePunch proves the lab with plain go-libp2p (lab/internal/punch):
// a circuit relay v2 host on the internet segment and two hosts that
// reserve a slot, learn their public address from the relay and connect
// through it; hole punching must make easy/easy direct and leave hard/hard
// relayed. Each pair gets a fresh lab.
func TestLibp2pHolePunch(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	bin := buildTool(t, punchPkg)
	pairs := [][2]Kind{{Easy, Easy}, {Hard, Hard}, {Easy, Hard}, {UDPBlocked, Public}, {UDPBlocked, UDPBlocked}}
	if testing.Short() {
		pairs = pairs[:2]
	}
	var table []string
	for _, pair := range pairs {
		a, b := pair[0], pair[1]
		name := fmt.Sprintf("%s-%s", a, b)
		t.Run(name, func(t *testing.T) {
			path, took := punchPair(t, bin, a, b)
			d := "-"
			if path == "direct" {
				d = took.String()
			}
			table = append(table, fmt.Sprintf("%-24s %-8s %s", name, path, d))
			want := "relayed"
			if directExpected(a, b) {
				want = "direct"
			}
			switch {
			case path == want:
			case path == "direct" && tcpPunchMayWork(a, b):
				// TCP simultaneous open through two port-preserving
				// masquerades got through this time: a direct path is
				// never wrong, only not to be expected.
				t.Logf("%s: direct (TCP simultaneous open got through)", name)
			default:
				t.Errorf("%s: path %s, want %s", name, path, want)
			}
		})
	}
	out := fmt.Sprintf("%-24s %-8s %s\n%s\n", "pair", "path", "to direct", strings.Join(table, "\n"))
	t.Logf("go-libp2p hole punching in the lab (time from relayed connection to direct):\n%s", out)
	if *punchTable != "" {
		os.WriteFile(*punchTable, []byte(out), 0o644)
	}
}

// punchPair runs a relay and hosts of kinds a and b; b connects to a through
// the relay. It returns "direct" or "relayed" and, when direct, how long
// after the relayed connection the direct one appeared.
// peerArgs are extra flags of both `punch peer` processes.
func punchPair(t *testing.T, bin string, a, b Kind, peerArgs ...string) (string, time.Duration) {
	t.Helper()
	in, err := NewInternet("cocopunch-")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	relayHost, err := in.Host("relay", Public)
	if err != nil {
		t.Fatal(err)
	}
	ha, err := in.Host("a", a)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := in.Host("b", b)
	if err != nil {
		t.Fatal(err)
	}
	relay := startProc(t, "relay", relayHost.NS, bin, "relay")
	defer relay.stop()
	if _, err := relay.waitLine("ready", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, l := range strings.Split(relay.output(), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "addr" {
			addrs = append(addrs, f[1])
		}
	}
	relayArg := strings.Join(addrs, ",")

	pa := startProc(t, "peer a ("+string(a)+")", ha.NS, bin, append([]string{"peer", "-relay", relayArg}, peerArgs...)...)
	defer pa.stop()
	t0 := time.Now()
	ready, err := pa.waitLine("ready ", 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a (%s) knew its public address %v after start", a, time.Since(t0).Round(time.Millisecond))
	wait := 15 * time.Second
	if !directExpected(a, b) {
		wait = 8 * time.Second // long enough for go-libp2p's attempts (a 5 s direct dial, then punches)
	}
	pb := startProc(t, "peer b ("+string(b)+")", hb.NS, bin, append([]string{"peer", "-relay", relayArg,
		"-dial", strings.Fields(ready)[1], "-wait", wait.String()}, peerArgs...)...)
	defer pb.stop()
	if _, err := pb.waitLine("relayed ", 20*time.Second); err != nil {
		t.Fatalf("%v\npeer a:\n%s", err, pa.output())
	}
	select {
	case <-pb.done:
	case <-time.After(wait + 20*time.Second):
		t.Fatalf("peer b did not finish:\n%s", pb.output())
	}
	out := pb.output()
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "direct":
			d, _ := time.ParseDuration(f[2])
			t.Logf("direct over %s after %v", f[1], d)
			return "direct", d
		case len(f) == 1 && f[0] == "stayed-relayed":
			return "relayed", 0
		}
	}
	t.Fatalf("peer b printed no outcome:\n%s\npeer a:\n%s", out, pa.output())
	return "", 0
}
