// Command consnodebench measures a consortium of 3 validating nodes whose
// raft messages travel on coconet's encrypted node streams (consnode on
// three engines) beside the same consortium over plain loopback TCP
// (consortium.TCPTransport), under the same client load, in one run.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

var (
	clients  = flag.Int("c", 64, "concurrent clients")
	size     = flag.Int("size", 1024, "value bytes")
	duration = flag.Duration("duration", 5*time.Second, "load time per side per round")
	rounds   = flag.Int("rounds", 2, "rounds, alternating sides")
	asJSON   = flag.Bool("json", false, "print JSON")
)

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "consnodebench:", err)
		os.Exit(1)
	}
}

type putFunc func(ctx context.Context, client, i int) error

// coconetSide starts three engines in one consortium network on loopback
// and a validating node on each.
func coconetSide(dir string) (putFunc, func()) {
	ctx := context.Background()
	names := []string{"alice", "bob", "carol"}
	var homes []string
	for _, n := range names {
		h := filepath.Join(dir, n)
		_, err := homedir.Init(h, n)
		must(err)
		homes = append(homes, h)
	}
	_, err := homedir.CreateNetwork(homes[0], "bank", ledger.NetKindConsortium, "")
	must(err)
	start := func(h string) *engine.Engine {
		e, err := engine.StartIn(ctx, h, "bank", engine.Config{ListenHost: "127.0.0.1"})
		must(err)
		return e
	}
	es := []*engine.Engine{start(homes[0])}
	for _, h := range homes[1:] {
		code, _, err := es[0].Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: 1, TTL: time.Hour})
		must(err)
		jctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, peers, err := homedir.Join(jctx, h, code, homedir.JoinOptions{})
		cancel()
		must(err)
		e := start(h)
		e.Node().AddPeerAddrs(peers)
		es = append(es, e)
	}
	g := &consortium.Genesis{Name: "bank", Envs: []string{consortium.EnvSoftware}, Nonce: make([]byte, 16)}
	rand.Read(g.Nonce)
	h, err := consnode.CodeHash()
	must(err)
	g.Code = [][]byte{h}
	var m0 *consortium.Member
	for _, e := range es {
		m, err := consnode.Member(e.Identity(), e.NetworkID())
		must(err)
		if m0 == nil {
			m0 = m
		}
		g.Members = append(g.Members, m.Cert)
		ni, err := consnode.Info(e)
		must(err)
		g.Nodes = append(g.Nodes, ni)
	}
	var nodes []*consortium.Node
	for i, e := range es {
		s, err := consnode.Attach(e, consnode.Config{Genesis: g, Dir: filepath.Join(dir, fmt.Sprint("cons", i))})
		must(err)
		nodes = append(nodes, s.Node())
	}
	return puts(nodes, m0.ID()), func() {
		for _, e := range es {
			e.Close()
		}
	}
}

// tcpSide is the same consortium over consortium.TCPTransport.
func tcpSide(dir string) (putFunc, func()) {
	seed, err := identity.NewSeed()
	must(err)
	m, err := consnode.Member(&identity.Identity{Seed: seed, Name: "bench"}, ledger.NetworkID{})
	must(err)
	h, err := consnode.CodeHash()
	must(err)
	g := &consortium.Genesis{Name: "bench", Members: [][]byte{m.Cert}, Code: [][]byte{h}, Envs: []string{consortium.EnvSoftware}, Nonce: make([]byte, 16)}
	rand.Read(g.Nonce)
	var keys []ed25519.PrivateKey
	var trs []*consortium.TCPTransport
	for id := 1; id <= 3; id++ {
		pub, k, _ := ed25519.GenerateKey(rand.Reader)
		keys = append(keys, k)
		g.Nodes = append(g.Nodes, consortium.NodeInfo{ID: uint64(id), PubKey: pub, CodeHash: h, Env: consortium.EnvSoftware})
		tr, err := consortium.ListenTCP(uint64(id), "127.0.0.1:0")
		must(err)
		trs = append(trs, tr)
	}
	for _, a := range trs {
		for id, b := range trs {
			a.SetPeer(uint64(id+1), b.Addr())
		}
	}
	var nodes []*consortium.Node
	for i, tr := range trs {
		n, err := consortium.Start(consortium.Config{ID: uint64(i + 1), Dir: filepath.Join(dir, fmt.Sprint("tcp", i)), Genesis: g, Key: keys[i], Transport: tr})
		must(err)
		tr.Handle(n.Receive)
		nodes = append(nodes, n)
	}
	return puts(nodes, m.ID()), func() {
		for i := range nodes {
			nodes[i].Close()
			trs[i].Close()
		}
	}
}

func puts(nodes []*consortium.Node, caller string) putFunc {
	val := make([]byte, *size)
	return func(ctx context.Context, c, i int) error {
		_, err := nodes[c%len(nodes)].Transact(ctx, consortium.Txn{Caller: caller,
			Writes: []consortium.Write{{Table: "bench", Key: []byte(fmt.Sprintf("c%d-%d", c, i%1000)), Value: val}}})
		return err
	}
}

func warm(put putFunc) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := put(ctx, 0, 0)
		cancel()
		if err == nil {
			return
		}
	}
	must(fmt.Errorf("no leader within 60s"))
}

type result struct {
	Side  string  `json:"side"`
	N     int     `json:"n"`
	Errs  int     `json:"errors"`
	TPS   float64 `json:"tps"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
}

func load(side string, put putFunc) result {
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	t0 := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				s := time.Now()
				if err := put(ctx, c, i); err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				mine = append(mine, time.Since(s))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	el := time.Since(t0)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := result{Side: side, N: len(lat), Errs: int(errs.Load()), TPS: float64(len(lat)) / el.Seconds()}
	if len(lat) > 0 {
		r.P50ms = float64(lat[len(lat)/2].Microseconds()) / 1000
		r.P99ms = float64(lat[len(lat)*99/100].Microseconds()) / 1000
	}
	return r
}

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "consnodebench")
	must(err)
	defer os.RemoveAll(dir)
	cput, cstop := coconetSide(dir)
	defer cstop()
	tput, tstop := tcpSide(dir)
	defer tstop()
	warm(cput)
	warm(tput)
	sum := map[string]*result{}
	var all []result
	for r := 0; r < *rounds; r++ {
		for _, side := range []struct {
			name string
			put  putFunc
		}{{"coconet streams", cput}, {"plain TCP", tput}} {
			res := load(side.name, side.put)
			all = append(all, res)
			s, ok := sum[side.name]
			if !ok {
				s = &result{Side: side.name}
				sum[side.name] = s
			}
			s.N += res.N
			s.Errs += res.Errs
			s.TPS += res.TPS / float64(*rounds)
			s.P50ms += res.P50ms / float64(*rounds)
			s.P99ms += res.P99ms / float64(*rounds)
		}
	}
	c, t := sum["coconet streams"], sum["plain TCP"]
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"rounds": all, "coconet": c, "tcp": t,
			"tps_ratio": c.TPS / t.TPS, "p99_ratio": t.P99ms / c.P99ms})
		return
	}
	fmt.Printf("consortium of 3 validating nodes on loopback, %d clients, %d-byte puts, %d rounds of %s per side\n\n", *clients, *size, *rounds, *duration)
	fmt.Printf("%-18s %16s %12s %8s\n", "metric", "coconet streams", "plain TCP", "ratio")
	fmt.Printf("%-18s %16.0f %12.0f %8.2f\n", "commits/s", c.TPS, t.TPS, c.TPS/t.TPS)
	fmt.Printf("%-18s %16.2f %12.2f %8.2f\n", "p50 commit ms", c.P50ms, t.P50ms, t.P50ms/c.P50ms)
	fmt.Printf("%-18s %16.2f %12.2f %8.2f\n", "p99 commit ms", c.P99ms, t.P99ms, t.P99ms/c.P99ms)
	fmt.Printf("%-18s %16d %12d\n", "failed puts", c.Errs, t.Errs)
	fmt.Println("ratio: higher is better for coconet streams (throughput c/t, latency t/c)")
}
