package lab

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	punchRuns      = flag.Int("lab.runs", 3, "TestPunchTime, TestLibp2pPunchTime: how many times to bring the pair up")
	libp2pRuns     = flag.Int("lab.libp2pruns", 0, "TestLibp2pPunchTime: runs of each go-libp2p variant (0: -lab.runs)")
	punchTimeTable = flag.String("lab.punchtime", "", "TestPunchTime, TestLibp2pPunchTime: also append the distribution to this file")
)

// punchedRE matches the initiator's log line of a successful hole punch
// (node/holepunch.go): the time from the relayed connection to the direct
// one, measured inside the node.
var punchedRE = regexp.MustCompile(`hole punched to .*?: direct (\S+) after the relayed connection opened \(try (\d+)`)

// TestPunchTime brings an easy-easy pair up -lab.runs times (one setup;
// each run forgets remembered addresses and ports, so every run gets new
// NAT mappings, and restarts the control plane) and measures how long the
// pair stays relayed: from the relayed connection opening to the direct
// one (the initiating node's own measurement), and from starting both
// nodes to bob's first acknowledged message and to `coco peers` saying
// direct. Every run must go direct, with the first DCUtR exchange
// answered (no "protocols not supported"). The figures are printed, not
// asserted (bench/punch.sh compares them with plain go-libp2p).
func TestPunchTime(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	if why := cocoFlags(); why != "" {
		t.Skip(why)
	}
	l := setupPair(t, Easy, Easy)
	defer l.close()
	var toDirect, firstMsg, seenDirect []time.Duration
	var tries []string
	for run := 1; run <= *punchRuns; run++ {
		l.forget(true)
		l.cp.p.stop()
		l.cp.start()
		t0 := time.Now()
		var wg sync.WaitGroup
		for _, h := range []*host{l.alice, l.bob} {
			wg.Add(1)
			go func() { defer wg.Done(); h.start() }()
		}
		wg.Wait()
		w := watchPath(l.bob, "alice", t0)
		var first time.Duration
		for deadline := t0.Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, err := l.bob.cocoTimeout(15*time.Second, "send", "home", "alice", "hello"); err == nil {
				first = time.Since(t0)
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("run %d: no message from bob to alice within 60 s: %v%s", run, err, l.dump())
			}
		}
		w.waitDirect(30 * time.Second)
		w.stop()
		path, seen, timeline := w.result()
		logs := l.alice.logs() + l.bob.logs()
		if strings.Contains(logs, "protocols not supported") {
			t.Errorf("run %d: a DCUtR exchange found no handler%s", run, l.dump())
		}
		m := punchedRE.FindStringSubmatch(logs)
		if path != "direct" || m == nil {
			t.Fatalf("run %d: path %s (%s), hole punch logged: %v%s", run, path, timeline, m != nil, l.dump())
		}
		d, err := time.ParseDuration(m[1])
		if err != nil {
			t.Fatalf("run %d: %q: %v", run, m[0], err)
		}
		t.Logf("run %2d: relayed→direct %v (try %s); from start: first message %v, peers says direct %v (%s)",
			run, d, m[2], first.Round(time.Millisecond), seen.Round(time.Millisecond), timeline)
		toDirect, firstMsg, seenDirect = append(toDirect, d), append(firstMsg, first), append(seenDirect, seen)
		tries = append(tries, m[2])
		l.alice.stop()
		l.bob.stop()
	}
	out := fmt.Sprintf("coconet easy-easy, %d runs\n%s\n%s\n%s\n",
		len(toDirect),
		distLine("relayed conn -> direct (node log)", toDirect),
		distLine("start -> first message", firstMsg),
		distLine("start -> coco peers says direct", seenDirect))
	t.Logf("\n%s", out)
	appendTable(out, *punchTimeTable)
}

// TestLibp2pPunchTime runs plain go-libp2p's hole punching (as
// TestLibp2pHolePunch) on an easy-easy pair -lab.libp2pruns times, each in
// a fresh lab, and prints the same distribution: from the relayed
// connection to the direct one. Twice: with go-libp2p's defaults (its
// initiator first tries a plain dial to the peer's public address, which
// the peer's firewall drops, for the whole direct-dial timeout) and with
// that dial cut to 100 ms (go-libp2p at its best here).
func TestLibp2pPunchTime(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	bin := buildTool(t, punchPkg)
	runs := *libp2pRuns
	if runs == 0 {
		runs = *punchRuns
	}
	for _, v := range []struct {
		name string
		args []string
	}{
		{"go-libp2p defaults", nil},
		{"go-libp2p, direct dial 100 ms", []string{"-direct-dial-timeout", "100ms"}},
	} {
		var ds []time.Duration
		for run := 1; run <= runs; run++ {
			path, d := punchPair(t, bin, Easy, Easy, v.args...)
			if path != "direct" {
				t.Fatalf("%s, run %d: stayed relayed", v.name, run)
			}
			ds = append(ds, d)
		}
		out := fmt.Sprintf("%s, easy-easy, %d runs\n%s\n", v.name, len(ds), distLine("relayed conn -> direct", ds))
		t.Logf("\n%s", out)
		appendTable(out, *punchTimeTable)
	}
}

// distLine formats p50, p90, max and how many were within 1 s.
func distLine(what string, ds []time.Duration) string { return distGoal(what, ds, time.Second) }

// distGoal formats p50, p90, max and how many were within goal.
func distGoal(what string, ds []time.Duration, goal time.Duration) string {
	if len(ds) == 0 {
		return what + ": no runs"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	within := 0
	for _, d := range s {
		if d <= goal {
			within++
		}
	}
	r := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return fmt.Sprintf("  %-34s p50 %-8s p90 %-8s max %-8s within %v: %d/%d", what, r(q(0.5)), r(q(0.9)), r(s[len(s)-1]), goal, within, len(s))
}

// appendTable appends out to the file named path, if any.
func appendTable(out, path string) {
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	f.WriteString(out)
}
