// Command homebench measures the home model on loopback: a command's round
// trip from the owner's node to a device node (home.Client.Command: find
// the resource, the device's authorization from its ledger copy, argument
// checks, the effect, the attribute change published) and a scene of 100
// actions on the device, beside the raw request/reply round trip between
// the same two nodes (package rpc, an echo of the command's own request
// bytes) as the reference, in the same run, with ratios.
//
// The measurements are split into rounds that alternate between the home
// model and the reference, so a change in the machine's load hits both.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/bench/internal/benchstat"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/home"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/rpc"
)

type config struct {
	commands   int
	scenes     int
	actions    int
	rounds     int
	warmup     int
	guest      bool
	jsonOut    bool
	cpuprofile string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.commands, "n", 3000, "command round trips (and as many reference round trips)")
	flag.IntVar(&cfg.scenes, "scenes", 200, "scene runs (and as many reference batches)")
	flag.IntVar(&cfg.actions, "actions", 100, "actions per scene")
	flag.IntVar(&cfg.rounds, "rounds", 5, "alternating rounds")
	flag.IntVar(&cfg.warmup, "warmup", 300, "unmeasured round trips of each kind first")
	flag.BoolVar(&cfg.guest, "guest", false, "also measure a guest's command (evaluated against a grant with a weekly window)")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.Parse()
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "homebench:", err)
		os.Exit(1)
	}
}

// setup is the owner's node, a device node of hers serving cfg.actions
// simulated bulbs, and (with guest) a guest's node with a grant.
type setup struct {
	dir         string
	owner, dev  *engine.Engine
	guest       *engine.Engine
	host        *home.Host
	client      *home.Client
	guestClient *home.Client
	nodes       []*engine.Engine
	devID       peer.ID
	closeOnce   sync.Once
}

func (s *setup) close() {
	s.closeOnce.Do(func() {
		for i := len(s.nodes) - 1; i >= 0; i-- {
			s.nodes[i].Close()
		}
		os.RemoveAll(s.dir)
	})
}

func startNode(ctx context.Context, home, app string) (*engine.Engine, error) {
	n, err := engine.StartIn(ctx, home, "bench", engine.Config{App: app, ListenHost: "127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("start %s/%s: %w", filepath.Base(home), app, err)
	}
	return n, nil
}

func build(ctx context.Context, cfg config) (_ *setup, err error) {
	dir, err := os.MkdirTemp("", "homebench-")
	if err != nil {
		return nil, err
	}
	s := &setup{dir: dir}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	ah := filepath.Join(dir, "alice")
	id, err := homedir.Init(ah, "alice")
	if err != nil {
		return nil, err
	}
	if _, err := homedir.CreateNetwork(ah, "bench", "user", ""); err != nil {
		return nil, err
	}
	if s.owner, err = startNode(ctx, ah, ""); err != nil {
		return nil, err
	}
	s.nodes = append(s.nodes, s.owner)
	// The device: another node of the owner's, with its own ledger copy
	// (a copy of her home without her node's ports), as a claimed device
	// would run on another machine.
	nk := id.Seed.NodeKey(s.owner.NetworkID(), "device")
	var key [32]byte
	copy(key[:], nk.Public().(ed25519.PublicKey))
	if _, err := s.owner.Append(ledger.Op{Kind: ledger.KindAddNode, Subject: s.owner.User(), Node: key, SubjectName: "device",
		NodeSig: ledger.SignNodeProof(nk, s.owner.NetworkID(), s.owner.User())}); err != nil {
		return nil, err
	}
	dh := filepath.Join(dir, "device")
	if err := os.CopyFS(dh, os.DirFS(ah)); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(homedir.NetworkDir(dh, s.owner.NetworkID()), "ports.json"))
	if s.dev, err = startNode(ctx, dh, "device"); err != nil {
		return nil, err
	}
	s.nodes = append(s.nodes, s.dev)
	s.devID = s.dev.PeerID()
	s.dev.Node().AddPeerAddrs([]peer.AddrInfo{{ID: s.owner.PeerID(), Addrs: s.owner.Node().Host().Addrs()}})
	s.owner.Node().AddPeerAddrs([]peer.AddrInfo{{ID: s.devID, Addrs: s.dev.Node().Host().Addrs()}})

	if s.host, err = home.NewHost(s.dev, home.HostOptions{Name: "bench device"}); err != nil {
		return nil, err
	}
	for i := range cfg.actions {
		r := home.Resource{ID: fmt.Sprintf("bulb-%03d", i), Capabilities: home.Caps("on_off", "level")}
		if err := s.host.Add(r, nil); err != nil {
			return nil, err
		}
	}
	s.dev.Handle("bench.echo", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return req.Payload, nil })
	s.client = home.NewClient(s.owner)

	if cfg.guest {
		bh := filepath.Join(dir, "bob")
		if _, err := homedir.Init(bh, "bob"); err != nil {
			return nil, err
		}
		code, _, err := s.owner.Invite(engine.InviteOptions{Role: ledger.RoleGuest, TTL: time.Hour})
		if err != nil {
			return nil, err
		}
		_, peers, err := homedir.Join(ctx, bh, code, homedir.JoinOptions{})
		if err != nil {
			return nil, err
		}
		if s.guest, err = startNode(ctx, bh, ""); err != nil {
			return nil, err
		}
		s.nodes = append(s.nodes, s.guest)
		s.guest.Node().AddPeerAddrs(peers)
		if _, err := home.NodeStore(s.owner).Grant(home.Grant{User: s.guest.User(), Resources: []string{"bulb-000"}, Capability: "level",
			Windows: []home.Window{{From: "00:00", To: "00:00"}}, TZ: "Europe/Berlin"}); err != nil {
			return nil, err
		}
		s.guestClient = home.NewClient(s.guest)
	}
	// Wait until the device admits the owner (and the guest) and serves.
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, err := s.client.List(ctx, "")
		ok := err == nil && len(l.Resources) == cfg.actions
		if ok && s.guestClient != nil {
			gl, err := s.guestClient.List(ctx, "")
			ok = err == nil && len(gl.Resources) == 1
			if ok {
				s.guest.Node().AddPeerAddrs([]peer.AddrInfo{{ID: s.devID, Addrs: s.dev.Node().Host().Addrs()}})
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the device did not serve its %d resources to everyone within 30s (%v)", cfg.actions, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s, nil
}

// kind is one measured operation.
type kind struct {
	name string
	call func(ctx context.Context, i int) error
}

func run(cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := build(ctx, cfg)
	if err != nil {
		return err
	}
	defer s.close()
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}

	cmd := func(i int) home.Action {
		return home.Action{Resource: fmt.Sprintf("bulb-%03d", i%cfg.actions), Capability: "level", Command: "set", Args: map[string]any{"level": i % 101}}
	}
	echoReq, _ := json.Marshal(map[string]any{"actions": []home.Action{cmd(7)}})
	var scene []home.Action
	for i := range cfg.actions {
		scene = append(scene, cmd(i))
	}
	rpcs := s.owner.RPC()
	call := func(ctx context.Context, p []byte) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := rpcs.Request(ctx, s.devID, "bench.echo", p)
		return err
	}
	single := []kind{
		{"command", func(ctx context.Context, i int) error {
			_, err := s.client.Command(ctx, cmd(i))
			return err
		}},
		{"rpc echo", func(ctx context.Context, i int) error { return call(ctx, echoReq) }},
	}
	if s.guestClient != nil {
		single = append(single, kind{"guest command", func(ctx context.Context, i int) error {
			_, err := s.guestClient.Command(ctx, home.Action{Resource: "bulb-000", Capability: "level", Command: "set", Args: map[string]any{"level": i % 101}})
			return err
		}})
	}
	batch := []kind{
		{"scene", func(ctx context.Context, i int) error {
			for _, r := range s.client.Run(ctx, scene) {
				if err := r.Err(); err != nil {
					return err
				}
			}
			return nil
		}},
		{"rpc batch", func(ctx context.Context, i int) error {
			// The reference for a scene: as many raw echo requests, all
			// in flight at once.
			var wg sync.WaitGroup
			errs := make([]error, cfg.actions)
			for j := range cfg.actions {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[j] = call(ctx, echoReq)
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	samples := map[string][]time.Duration{}
	measure := func(ks []kind, total, warmup int) error {
		for _, k := range ks {
			for i := range warmup {
				if err := k.call(ctx, i); err != nil {
					return fmt.Errorf("%s: warm-up: %w", k.name, err)
				}
			}
		}
		rounds := max(cfg.rounds, 1)
		for r := range rounds {
			for _, k := range alternate(ks, r) {
				n := total/rounds + btoi(r < total%rounds)
				for i := range n {
					t0 := time.Now()
					if err := k.call(ctx, i); err != nil {
						return fmt.Errorf("%s: %w", k.name, err)
					}
					samples[k.name] = append(samples[k.name], time.Since(t0))
				}
			}
		}
		return nil
	}
	if err := measure(single, cfg.commands, cfg.warmup); err != nil {
		return err
	}
	if err := measure(batch, cfg.scenes, max(cfg.warmup/50, 3)); err != nil {
		return err
	}
	rep := report{Actions: cfg.actions, Rounds: max(cfg.rounds, 1), GOMAXPROCS: runtime.GOMAXPROCS(0), Stats: map[string]stats{}}
	for k, d := range samples {
		rep.Stats[k] = benchstat.Summarize(d)
	}
	c, e := rep.Stats["command"], rep.Stats["rpc echo"]
	sc, b := rep.Stats["scene"], rep.Stats["rpc batch"]
	rep.Rows = []row{
		{"command round trip p50", "µs", c.P50, e.P50, benchstat.Ratio(e.P50, c.P50)},
		{"command round trip p99", "µs", c.P99, e.P99, benchstat.Ratio(e.P99, c.P99)},
		{"command round trip mean", "µs", c.Mean, e.Mean, benchstat.Ratio(e.Mean, c.Mean)},
	}
	if g, ok := rep.Stats["guest command"]; ok {
		rep.Rows = append(rep.Rows,
			row{"guest command (grant) p50", "µs", g.P50, e.P50, benchstat.Ratio(e.P50, g.P50)},
			row{"guest command (grant) p99", "µs", g.P99, e.P99, benchstat.Ratio(e.P99, g.P99)})
	}
	rep.Rows = append(rep.Rows,
		row{fmt.Sprintf("scene of %d p50", cfg.actions), "ms", sc.P50 / 1e3, b.P50 / 1e3, benchstat.Ratio(b.P50, sc.P50)},
		row{fmt.Sprintf("scene of %d p99", cfg.actions), "ms", sc.P99 / 1e3, b.P99 / 1e3, benchstat.Ratio(b.P99, sc.P99)},
		row{fmt.Sprintf("scene of %d mean", cfg.actions), "ms", sc.Mean / 1e3, b.Mean / 1e3, benchstat.Ratio(b.Mean, sc.Mean)},
	)
	rep.Note = note
	if cfg.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(out, rep, cfg)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// alternate rotates the order of the kinds by round.
func alternate[T any](xs []T, round int) []T {
	out := make([]T, 0, len(xs))
	for i := range xs {
		out = append(out, xs[(i+round)%len(xs)])
	}
	return out
}

type stats = benchstat.Latency

type row struct {
	Metric    string  `json:"metric"`
	Unit      string  `json:"unit"`
	Home      float64 `json:"home"`
	Reference float64 `json:"reference"`
	Ratio     float64 `json:"ratio"`
}

type report struct {
	Actions    int              `json:"scene_actions"`
	Rounds     int              `json:"rounds"`
	GOMAXPROCS int              `json:"gomaxprocs"`
	Stats      map[string]stats `json:"stats"`
	Rows       []row            `json:"rows"`
	Note       string           `json:"note"`
}

const note = "reference: a raw rpc echo of the command's request bytes between the same two nodes (for a scene, as many echoes in flight at once); " +
	"ratio = reference/home: 1.00 means the home model adds nothing, 0.50 that it takes twice as long"

func printTable(w io.Writer, rep report, cfg config) {
	fmt.Fprintf(w, "home model on loopback: owner's node → device node (%d simulated bulbs), %d commands and %d scenes,\n", cfg.actions, cfg.commands, cfg.scenes)
	fmt.Fprintf(w, "one at a time, %d alternating rounds, GOMAXPROCS=%d\n\n", rep.Rounds, rep.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\thome\treference\tratio\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.2f\t\n", r.Metric, r.Unit, r.Home, r.Reference, r.Ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, note+".")
}
