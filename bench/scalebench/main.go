// Command scalebench measures registrations at a replicated control plane (three `coco control` over a three-member etcd) beside today's single in-memory one, in one run.
//
// Everything runs as processes on 127.0.0.1: three etcd members
// (internal/etcdmember), three `coco control --etcd …` replicas and one
// `coco control --etcd none`. One client process (this one) registers N
// simulated nodes of one network through the control protocol: across
// the three replicas (node i at replica i mod 3), then at the single
// in-memory control plane. It reports registrations per second and each
// control plane's resident memory per registered node (the growth of its
// RSS from before the registrations to once it lists every node, divided
// by N; every replica keeps every registration), and the ratio of the
// replicated figures to the single ones.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/internal/ctlsim"
)

type config struct {
	nodes, workers, conns int
	json                  bool
}

// result is one side's figures.
type result struct {
	Name          string    `json:"name"`
	Replicas      int       `json:"replicas"`
	Nodes         int       `json:"nodes"`
	Seconds       float64   `json:"seconds"`
	PerSecond     float64   `json:"registrations_per_s"`
	BytesPerNode  []float64 `json:"heap_bytes_per_node"`     // per control plane: live heap after a GC
	RSSPerNode    []float64 `json:"rss_bytes_per_node"`      // per control plane: resident memory growth
	RSSMB         []float64 `json:"rss_mb"`                  // per control plane, after
	CPUPerReg     float64   `json:"cpu_us_per_registration"` // control planes, all
	EtcdCPUPerReg float64   `json:"etcd_cpu_us_per_registration,omitempty"`
	EtcdMBPerNode float64   `json:"etcd_rss_bytes_per_node,omitempty"`
}

type report struct {
	Replicated result  `json:"replicated"`
	Single     result  `json:"single"`
	Ratio      float64 `json:"ratio_registrations_per_s"` // replicated / single
	MemRatio   float64 `json:"ratio_bytes_per_node"`      // worst replica / single
	GoalRate   bool    `json:"goal_rate_met"`             // ≥ 10,000/s across three replicas
	GoalMem    bool    `json:"goal_mem_met"`              // < 1 KiB per node on each replica
}

func main() {
	var c config
	flag.IntVar(&c.nodes, "nodes", 10000, "simulated nodes")
	flag.IntVar(&c.workers, "workers", 6, "registrations in flight per client connection (below control.Limits.ControlStreamsPerPeer, 8)")
	flag.IntVar(&c.conns, "conns", 12, "client connections per control plane")
	flag.BoolVar(&c.json, "json", false, "print JSON")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logf("building coco and etcdmember …")
	coco, etcdBin, err := ctlsim.Build(ctx, dir)
	if err != nil {
		return err
	}
	plans := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(plans, []byte(`{"default":"big","plans":{"big":{"networks":10,"nodes":10000000,"bytes":1000000000000000}}}`), 0o600); err != nil {
		return err
	}
	members, endpoints, err := ctlsim.StartEtcd(etcdBin, dir, 3)
	if err != nil {
		return err
	}
	defer func() {
		for _, m := range members {
			m.Stop()
		}
	}()
	var replicas []*ctlsim.Control
	for i := range 3 {
		r, err := ctlsim.StartControl(coco, fmt.Sprintf("replica%d", i), filepath.Join(dir, fmt.Sprintf("home%d", i)),
			filepath.Join(dir, fmt.Sprintf("state%d", i)), "--plans", plans, "--etcd", join(endpoints))
		if err != nil {
			return err
		}
		defer r.Stop()
		replicas = append(replicas, r)
	}
	single, err := ctlsim.StartControl(coco, "single", filepath.Join(dir, "homeS"), filepath.Join(dir, "stateS"), "--plans", plans, "--etcd", "none")
	if err != nil {
		return err
	}
	defer single.Stop()

	logf("making %d simulated nodes …", c.nodes)
	net := ctlsim.NewNetwork()
	nodes := make([]*ctlsim.Node, c.nodes)
	for i := range nodes {
		nodes[i] = net.Node(2 * time.Hour)
	}
	var rep report
	etcd0, ecpu0 := etcdRSS(members), etcdCPU(members)
	rep.Replicated, err = measure(ctx, c, "replicated (3 × coco control over 3 etcd members)", replicas, nodes)
	if err != nil {
		return err
	}
	rep.Replicated.EtcdMBPerNode = float64(etcdRSS(members)-etcd0) / float64(c.nodes)
	rep.Replicated.EtcdCPUPerReg = float64((etcdCPU(members) - ecpu0).Microseconds()) / float64(c.nodes)
	rep.Single, err = measure(ctx, c, "single (coco control --etcd none, in memory)", []*ctlsim.Control{single}, nodes)
	if err != nil {
		return err
	}
	rep.Ratio = rep.Replicated.PerSecond / rep.Single.PerSecond
	worst := 0.0
	for _, b := range rep.Replicated.BytesPerNode {
		worst = max(worst, b)
	}
	if rep.Single.BytesPerNode[0] > 0 {
		rep.MemRatio = worst / rep.Single.BytesPerNode[0]
	}
	rep.GoalRate = rep.Replicated.PerSecond >= 10000
	rep.GoalMem = worst < 1024
	if c.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Printf("\n%d simulated nodes of one network, registered through the control protocol on 127.0.0.1\n\n", c.nodes)
	fmt.Printf("%-52s %8s %7s %10s  %s\n", "control plane", "regs/s", "s", "CPU µs/reg", "live heap per node; RSS growth per node (RSS) — each control plane")
	for _, r := range []result{rep.Replicated, rep.Single} {
		fmt.Printf("%-52s %8.0f %7.2f %10.0f ", r.Name, r.PerSecond, r.Seconds, r.CPUPerReg)
		for i, b := range r.BytesPerNode {
			fmt.Printf("  %.0f B; %.0f B (%.0f MB)", b, r.RSSPerNode[i], r.RSSMB[i])
		}
		fmt.Println()
	}
	fmt.Printf("\netcd members (all three): %.0f B of RSS per node, %.0f µs CPU per registration\n", rep.Replicated.EtcdMBPerNode, rep.Replicated.EtcdCPUPerReg)
	fmt.Printf("ratio replicated/single: registrations/s %.2f, bytes per node (worst replica) %.2f\n", rep.Ratio, rep.MemRatio)
	fmt.Printf("goal ≥ 10,000 registrations/s across three replicas: %v; goal < 1 KiB of live heap per node on each replica: %v\n", yes(rep.GoalRate), yes(rep.GoalMem))
	fmt.Printf("(the client registering runs in this process on the same cores; ratios are what to compare)\n")
	return nil
}

func yes(b bool) string {
	if b {
		return "met"
	}
	return "NOT met"
}

func etcdCPU(ms []*ctlsim.Proc) time.Duration {
	var n time.Duration
	for _, m := range ms {
		c, _ := m.CPU()
		n += c
	}
	return n
}

func etcdRSS(ms []*ctlsim.Proc) int64 {
	var n int64
	for _, m := range ms {
		r, _ := m.RSS()
		n += r
	}
	return n
}

// measure registers every node across cps (node i at cps[i mod len]) and
// waits until each lists every node.
func measure(ctx context.Context, c config, name string, cps []*ctlsim.Control, nodes []*ctlsim.Node) (result, error) {
	out := result{Name: name, Replicas: len(cps), Nodes: len(nodes)}
	clients := make([][]host.Host, len(cps))
	for i, cp := range cps {
		for range c.conns {
			h, err := ctlsim.Client()
			if err != nil {
				return out, err
			}
			defer h.Close()
			if err := h.Connect(ctx, cp.AddrInfo()); err != nil {
				return out, err
			}
			clients[i] = append(clients[i], h)
		}
	}
	rss0, heap0 := make([]int64, len(cps)), make([]int64, len(cps))
	var cpu0 time.Duration
	for i, cp := range cps {
		rss0[i], _ = cp.RSS()
		h, err := cp.Heap()
		if err != nil {
			return out, fmt.Errorf("%s: %w", cp.Name, err)
		}
		heap0[i] = h
		c, _ := cp.CPU()
		cpu0 += c
	}
	logf("%s: registering …", name)
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	for i := range cps {
		var next atomic.Int64
		next.Store(int64(i))
		for w := range c.workers * c.conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				h := clients[i][w%len(clients[i])]
				for {
					k := int(next.Add(int64(len(cps))) - int64(len(cps)))
					if k >= len(nodes) {
						return
					}
					rctx, cancel := context.WithTimeout(ctx, time.Minute)
					err := ctlsim.Register(rctx, h, cps[i].ID, nodes[k], time.Hour)
					cancel()
					if err != nil {
						failed.Store(fmt.Errorf("register node %d at %s: %w", k, cps[i].Name, err))
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	el := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		return out, err
	}
	out.Seconds = el.Seconds()
	out.PerSecond = float64(len(nodes)) / el.Seconds()
	// Every replica lists every node (the others' through etcd).
	for _, cp := range cps {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			n, err := registered(ctx, cp, nodes[0])
			if err == nil && n == len(nodes) {
				break
			}
			if time.Now().After(deadline) {
				return out, fmt.Errorf("%s lists %d of %d nodes (%v)", cp.Name, n, len(nodes)-1, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	var cpu1 time.Duration
	for i, cp := range cps {
		c, _ := cp.CPU()
		cpu1 += c
		r, _ := cp.RSS()
		h, err := cp.Heap()
		if err != nil {
			return out, fmt.Errorf("%s: %w", cp.Name, err)
		}
		out.BytesPerNode = append(out.BytesPerNode, float64(h-heap0[i])/float64(len(nodes)))
		out.RSSPerNode = append(out.RSSPerNode, float64(r-rss0[i])/float64(len(nodes)))
		out.RSSMB = append(out.RSSMB, float64(r)/(1<<20))
	}
	out.CPUPerReg = float64((cpu1 - cpu0).Microseconds()) / float64(len(nodes))
	logf("%s: %.0f registrations/s", name, out.PerSecond)
	return out, nil
}

// registered is the number of nodes cp holds registered in nd's network
// (from a usage query: a lookup's answer of every record would grow the
// control plane's memory by itself).
func registered(ctx context.Context, cp *ctlsim.Control, nd *ctlsim.Node) (int, error) {
	h, err := nd.Host()
	if err != nil {
		return 0, err
	}
	defer h.Close()
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.Connect(lctx, cp.AddrInfo()); err != nil {
		return 0, err
	}
	u, err := controlproto.GetUsage(lctx, h, cp.ID, nd.Proof)
	return u.Nodes, err
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "scalebench: "+format+"\n", a...)
}
