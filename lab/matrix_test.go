package lab

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/invite"
)

var (
	matrixPairs = flag.String("lab.pairs", "", "NAT matrix: only these pairs, e.g. easy-easy,hard-public (default all)")
	matrixTable = flag.String("lab.table", "", "NAT matrix: also write the result table to this file")
)

// cocoFlags reports why the coco binary lacks the control-plane flags this
// test drives (`coco control --listen --state`, `coco up --control`), or "".
func cocoFlags() string {
	for _, probe := range [][2]string{{"control", "--listen"}, {"up", "--control"}} {
		out, _ := exec.Command(cocoBin, probe[0], "--help").CombinedOutput()
		if !strings.Contains(string(out), probe[1]) {
			return fmt.Sprintf("coco %s has no %s flag yet (the NAT matrix drives `coco control --listen MULTIADDR --state DIR` and `coco up --control MULTIADDR`)", probe[0], probe[1])
		}
	}
	return ""
}

// pairResult is one row of the matrix.
type pairResult struct {
	a, b     Kind
	want     string        // "direct" or "relayed"
	path     string        // the path at the end
	firstMsg time.Duration // from starting both `coco up` to bob's first acknowledged message to alice
	toDirect time.Duration // from the same start to the first direct path; 0 if never
	timeline string        // path changes seen by bob
	join     string        // how bob's `coco join` reached alice: "direct" or "relay"
	joinTime time.Duration // how long `coco join` took
}

// TestNATMatrix drives coconet through the NAT lab: for every pair of host
// kinds, alice (kind a) and bob (kind b) share a network, both run
// `coco up --control` against a control plane on the internet segment,
// and bob messages alice. Every pair must exchange messages both ways;
// every pair where hole punching can work (directExpected) must end up
// direct. It prints the table: pair, path, time to first message, time to
// direct.
//
// Each pair first runs a setup phase through the control plane alone:
// alice, up and holding a relay slot, makes an invite code (which carries
// her relay address and the control plane); bob joins through the relay,
// and his node, not yet holding a membership proof, fetches its first
// certificate from alice's node through a join circuit (the table's join
// column: how `coco join` reached alice, and how long it took, including
// starting the process). Then both stop and
// forget every remembered address, the control plane restarts (forgetting
// registrations), and the measured phase starts both nodes again.
func TestNATMatrix(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	if why := cocoFlags(); why != "" {
		t.Skip(why)
	}
	var pairs [][2]Kind
	for i, a := range Kinds {
		for _, b := range Kinds[i:] {
			pairs = append(pairs, [2]Kind{a, b})
		}
	}
	if *matrixPairs != "" {
		var only [][2]Kind
		for _, s := range strings.Split(*matrixPairs, ",") {
			for _, p := range pairs {
				if s == string(p[0])+"-"+string(p[1]) || s == string(p[1])+"-"+string(p[0]) {
					only = append(only, p)
				}
			}
		}
		pairs = only
	}
	if testing.Short() {
		pairs = [][2]Kind{{Easy, Easy}, {Hard, Hard}}
	}
	var results []pairResult
	for _, p := range pairs {
		t.Run(string(p[0])+"-"+string(p[1]), func(t *testing.T) {
			r := runPair(t, p[0], p[1])
			results = append(results, r)
			if r.want == "direct" && r.path != "direct" {
				t.Errorf("%s-%s: path %s, want direct (hole punching can work here); path seen: %s", p[0], p[1], r.path, r.timeline)
			}
		})
	}
	table := formatMatrix(results)
	t.Logf("NAT matrix (times from starting both nodes):\n%s", table)
	if *matrixTable != "" {
		os.WriteFile(*matrixTable, []byte(table), 0o644)
	}
}

func formatMatrix(rs []pairResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-24s %-14s %-8s %-8s %-14s %-14s %s\n", "pair", "join", "expect", "path", "first message", "direct after", "path over time (bob's view)")
	for _, r := range rs {
		direct := "-"
		if r.toDirect > 0 {
			direct = r.toDirect.Round(10 * time.Millisecond).String()
		}
		first := "-"
		if r.firstMsg > 0 {
			first = r.firstMsg.Round(10 * time.Millisecond).String()
		}
		join := fmt.Sprintf("%s %v", r.join, r.joinTime.Round(10*time.Millisecond))
		fmt.Fprintf(&b, "%-24s %-14s %-8s %-8s %-14s %-14s %s\n", string(r.a)+"-"+string(r.b), join, r.want, r.path, first, direct, r.timeline)
	}
	return b.String()
}

// controlPlane runs `coco control` in a namespace.
type controlPlane struct {
	t     *testing.T
	ns    string
	home  string
	addrs []string // the public multiaddrs with /p2p/ID
	p     *proc
}

func (c *controlPlane) start() {
	c.t.Helper()
	c.p = startProc(c.t, "coco control", c.ns, cocoBin, "--home", c.home, "--json", "control",
		"--listen", "/ip4/0.0.0.0/udp/4001/quic-v1", "--listen", "/ip4/0.0.0.0/tcp/4001",
		"--state", filepath.Join(c.home, "control"))
	if _, err := c.p.waitLine("}", 20*time.Second); err != nil {
		c.t.Fatal(err)
	}
	var info struct {
		Addrs []string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(c.p.stdout()), &info); err != nil {
		c.t.Fatalf("coco control printed %q: %v", c.p.stdout(), err)
	}
	c.addrs = nil
	for _, a := range info.Addrs {
		if strings.HasPrefix(a, "/ip4/"+internetBase) {
			c.addrs = append(c.addrs, a)
		}
	}
	if len(c.addrs) == 0 {
		c.t.Fatalf("coco control listens on no lab internet address: %v", info.Addrs)
	}
}

func (c *controlPlane) flags() []string {
	var f []string
	for _, a := range c.addrs {
		f = append(f, "--control", a)
	}
	return f
}

// pairLab is a lab with a control plane and alice (kind a) and bob (kind
// b), both members of alice's network "home" holding a membership
// certificate, stopped; see setupPair.
type pairLab struct {
	in         *Internet
	ha, hb     *Host
	cp         *controlPlane
	alice, bob *host
	join       string        // how bob's `coco join` reached alice: "direct" or "relay"
	joinTime   time.Duration // how long `coco join` took
}

// dump is every log of the lab, for a failure message.
func (l *pairLab) dump() string {
	return fmt.Sprintf("\nalice (%s) log:\n%s\nbob (%s) log:\n%s\ncontrol plane log:\n%s", l.ha.Kind, l.alice.logs(), l.hb.Kind, l.bob.logs(), l.cp.p.output())
}

// close stops everything and deletes the lab.
func (l *pairLab) close() {
	l.alice.stop()
	l.bob.stop()
	l.cp.p.stop()
	l.in.Close()
}

// forget deletes what alice's and bob's nodes remember of each other's
// addresses (and, with ports, their own ports, so that the next start
// uses new NAT mappings).
func (l *pairLab) forget(ports bool) {
	for _, h := range []*host{l.alice, l.bob} {
		pats := []string{"peers.json"}
		if ports {
			pats = append(pats, "ports*.json")
		}
		for _, p := range pats {
			matches, _ := filepath.Glob(filepath.Join(h.home, "networks", "*", p))
			for _, m := range matches {
				os.Remove(m)
			}
		}
	}
}

// setupPair builds a fresh lab for a pair and runs its setup phase through
// the control plane alone: alice, up and holding a relay slot, makes an
// invite code (which carries her relay address and the control plane); bob
// joins through the relay, then his node, with no membership proof yet,
// reaches alice's through a join circuit for its first certificate. Then
// both stop and forget every remembered address, and the control plane
// restarts (forgetting registrations). Alice's node also serves simulated
// Zigbee devices.
func setupPair(t *testing.T, a, b Kind) *pairLab {
	t.Helper()
	in, err := NewInternet("coconat-")
	if err != nil {
		t.Fatal(err)
	}
	l := &pairLab{in: in}
	ok := false
	defer func() {
		if !ok {
			in.Close()
		}
	}()
	cpHost, err := in.Host("cp", Public)
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
	dir := t.TempDir()
	cp := &controlPlane{t: t, ns: cpHost.NS, home: filepath.Join(dir, "cp")}
	cp.start()
	alice := &host{t: t, ns: ha.NS, home: filepath.Join(dir, "alice"), upArgs: append([]string{"--no-mdns", "--sim", "zigbee"}, cp.flags()...)}
	bob := &host{t: t, ns: hb.NS, home: filepath.Join(dir, "bob"), upArgs: append([]string{"--no-mdns"}, cp.flags()...)}
	l.ha, l.hb, l.cp, l.alice, l.bob = ha, hb, cp, alice, bob
	defer func() {
		if !ok {
			alice.stop()
			bob.stop()
			cp.p.stop()
		}
	}()
	dump := l.dump

	alice.must("init", "--name", "alice")
	bob.must("init", "--name", "bob")
	alice.must("net", "create", "home")
	alice.start()
	if err := alice.waitRelaySlot(30 * time.Second); err != nil {
		t.Fatalf("setup: %v%s", err, dump())
	}
	var inv map[string]any
	if err := json.Unmarshal([]byte(alice.must("invite", "home", "--role", "guest", "--json")), &inv); err != nil {
		t.Fatal(err)
	}
	code := inv["code"].(string)
	if err := hasRelayAddr(code); err != nil {
		t.Fatalf("setup: %v", err)
	}
	circuits := strings.Count(cp.p.output(), "join circuit")
	tj := time.Now()
	if _, err := bob.cocoTimeout(45*time.Second, "join", code); err != nil {
		t.Fatalf("setup: bob could not join through the control plane: %v%s", err, dump())
	}
	l.joinTime, l.join = time.Since(tj), "direct"
	if strings.Count(cp.p.output(), "join circuit") > circuits {
		l.join = "relay"
	}
	if a != Public && l.join != "relay" {
		t.Errorf("%s-%s: bob joined alice (behind a NAT) directly; want through the relay", a, b)
	}
	bob.start()
	if err := waitFile(filepath.Join(bob.home, "networks", "*", "control-proof.bin"), 30*time.Second); err != nil {
		t.Fatalf("setup: bob got no membership certificate from alice: %v%s", err, dump())
	}
	alice.stop()
	bob.stop()
	l.forget(false)
	cp.p.stop()
	cp.start()
	ok = true
	return l
}

// runPair measures one pair in a fresh lab.
func runPair(t *testing.T, a, b Kind) pairResult {
	t.Helper()
	r := pairResult{a: a, b: b, want: "relayed"}
	if directExpected(a, b) {
		r.want = "direct"
	}
	l := setupPair(t, a, b)
	defer l.close()
	r.join, r.joinTime = l.join, l.joinTime
	alice, bob, dump := l.alice, l.bob, l.dump

	// Measured phase: only the control plane brings them together.
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, h := range []*host{alice, bob} {
		wg.Add(1)
		go func() { defer wg.Done(); h.start() }()
	}
	wg.Wait()
	w := watchPath(bob, "alice", t0)
	defer w.stop()

	deadline := t0.Add(60 * time.Second)
	for {
		if _, err := bob.cocoTimeout(15*time.Second, "send", "home", "alice", "hello from bob"); err == nil {
			r.firstMsg = time.Since(t0)
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("%s-%s: no message from bob to alice within 60 s: %v\npath: %s%s", a, b, err, w.timeline(), dump())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Wait for a direct path: up to 45 s after the first message where it
	// must come, 15 s where it should not (to see that it does not).
	wait := 15 * time.Second
	if r.want == "direct" {
		wait = 45 * time.Second
	}
	w.waitDirect(wait)
	if _, err := alice.cocoTimeout(15*time.Second, "send", "home", "bob", "hello from alice"); err != nil {
		t.Errorf("%s-%s: alice to bob: %v", a, b, err)
	}
	if _, err := bob.cocoTimeout(15*time.Second, "send", "home", "alice", "still there"); err != nil {
		t.Errorf("%s-%s: bob to alice after the wait: %v", a, b, err)
	}
	// A guest behind one NAT unlocks a door served behind the other: refused
	// without a grant, then allowed by one, decided on alice's node.
	if out, err := bob.cocoTimeout(20*time.Second, "cmd", "home", "front-door", "lock", "unlock"); err == nil {
		t.Errorf("%s-%s: bob unlocked the door with no grant: %s", a, b, out)
	}
	alice.must("grant", "home", "bob", "--resource", "front-door", "--capability", "lock")
	var unlocked bool
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if out, err := bob.cocoTimeout(15*time.Second, "cmd", "home", "front-door", "lock", "unlock"); err == nil && strings.Contains(out, "unlocked") {
			unlocked = true
			break
		}
	}
	if !unlocked {
		t.Errorf("%s-%s: bob (guest, granted) could not unlock alice's door across the NATs%s", a, b, dump())
	}
	w.stop()
	r.path, r.toDirect, r.timeline = w.result()
	if r.want == "direct" && r.path != "direct" {
		t.Logf("logs:%s", dump())
	}
	if r.want == "relayed" && r.path == "direct" {
		t.Logf("%s-%s: direct although the lab should prevent it: check the routers", a, b)
	}
	t.Logf("%s-%s: first message %v, path %s (%s)", a, b, r.firstMsg.Round(time.Millisecond), r.path, r.timeline)
	return r
}

// waitRelaySlot waits until the host's node holds a relay slot at a
// control plane (`coco status`).
func (h *host) waitRelaySlot(within time.Duration) error {
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		out, err := h.cocoTimeout(10*time.Second, "status", "--json")
		last = out
		if err == nil {
			var st struct {
				Networks []struct {
					Control []struct {
						Relay bool `json:"relay"`
					} `json:"control"`
				} `json:"networks"`
			}
			json.Unmarshal([]byte(out), &st)
			for _, n := range st.Networks {
				for _, c := range n.Control {
					if c.Relay {
						return nil
					}
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("%s holds no relay slot after %v; last status: %s", h.home, within, last)
}

// hasRelayAddr checks that an invite code names a relay address.
func hasRelayAddr(code string) error {
	c, err := invite.Decode(code)
	if err != nil {
		return err
	}
	for _, raw := range c.Addrs {
		if a, err := ma.NewMultiaddrBytes(raw); err == nil && strings.Contains(a.String(), "p2p-circuit") {
			return nil
		}
	}
	return fmt.Errorf("the invite code names no relay address: %d addresses, %d control planes", len(c.Addrs), len(c.Controls))
}

func (h *host) cocoTimeout(d time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, cocoBin, "--home", h.home}, args...)...)
	out, err := c.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("coco %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

func waitFile(pattern string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %s after %v", pattern, within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// pathWatch polls `coco peers --json` on one host and records how the path
// to one member changes. stop is idempotent.
type pathWatch struct {
	t0           time.Time
	mu           sync.Mutex
	seen         []string // "relayed@1.2s", …
	last         string
	dir          time.Duration
	stopCh, done chan struct{}
	once         sync.Once
	direct       chan struct{}
}

func watchPath(h *host, name string, t0 time.Time) *pathWatch {
	w := &pathWatch{t0: t0, stopCh: make(chan struct{}), done: make(chan struct{}), direct: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			path := "none"
			if out, err := h.cocoTimeout(10*time.Second, "peers", "home", "--json"); err == nil {
				var ps []struct {
					UserName  string `json:"user_name"`
					Connected bool   `json:"connected"`
					Path      string `json:"path"`
				}
				json.Unmarshal([]byte(out), &ps)
				for _, p := range ps {
					if p.UserName == name && p.Connected {
						path = p.Path
					}
				}
			}
			w.note(path)
			select {
			case <-w.stopCh:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *pathWatch) note(path string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if path == w.last {
		return
	}
	at := time.Since(w.t0)
	w.last = path
	w.seen = append(w.seen, fmt.Sprintf("%s@%v", path, at.Round(10*time.Millisecond)))
	if path == "direct" && w.dir == 0 {
		w.dir = at
		close(w.direct)
	}
}

func (w *pathWatch) waitDirect(within time.Duration) {
	select {
	case <-w.direct:
	case <-time.After(within):
	}
}

func (w *pathWatch) stop() {
	w.once.Do(func() { close(w.stopCh) })
	<-w.done
}

func (w *pathWatch) timeline() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.seen, " ")
}

func (w *pathWatch) result() (path string, toDirect time.Duration, timeline string) {
	tl := w.timeline()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.dir, tl
}
