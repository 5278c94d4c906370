// Command revokebench measures how fast a developer network's revocation
// cuts a node off: N nodes (default 1,000) in one process on go-libp2p's
// mocknet, enrolled with one auth key, each connected to a few random
// others; one revocation list published at one node spreads by the
// nodes' pushes (mesh gossip), then a second one from a hub connected to
// every node, as a control plane is (star push). It prints, per mode, the
// distribution over the nodes of the time from publishing to the node
// holding the list (from then on it refuses the revoked node), and the time
// until the revoked node has no connection left. mocknet hosts have no
// connection gater: the refusal itself is tested on real sockets
// (node.TestDevRevocationCutsOff); this measures the spread.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

type result struct {
	Mode     string  `json:"mode"`
	Nodes    int     `json:"nodes"`
	Reached  int     `json:"reached"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	CutOffMs float64 `json:"cut_off_ms"` // until the revoked node had no connection left
}

func main() {
	n := flag.Int("n", 1000, "nodes")
	degree := flag.Int("degree", 8, "connections each node opens to random others (mesh)")
	asJSON := flag.Bool("json", false, "print JSON")
	verbose := flag.Bool("v", false, "log progress")
	flag.Parse()
	logf := func(format string, args ...any) {
		if *verbose {
			fmt.Fprintf(os.Stderr, format+"\n", args...)
		}
	}
	res, err := run(*n, *degree, logf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "revokebench:", err)
		os.Exit(1)
	}
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	fmt.Printf("revocation reaching %d nodes (mocknet, one process, GOMAXPROCS %d)\n", *n, runtime.GOMAXPROCS(0))
	fmt.Printf("%-28s %8s %8s %8s %8s %8s %12s\n", "mode", "reached", "p50 ms", "p90 ms", "p99 ms", "max ms", "cut-off ms")
	for _, r := range res {
		fmt.Printf("%-28s %8d %8.1f %8.1f %8.1f %8.1f %12.1f\n", r.Mode, r.Reached, r.P50ms, r.P90ms, r.P99ms, r.MaxMs, r.CutOffMs)
	}
}

func run(n, degree int, logf func(string, ...any)) ([]result, error) {
	dir, err := os.MkdirTemp(shm(), "revokebench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	owner, _ := identity.NewSeed()
	ol, err := ledger.Create(filepath.Join(dir, "owner"), owner.UserKey(), "dev", "bench", ledger.NetKindDeveloper)
	if err != nil {
		return nil, err
	}
	genesis, _ := ol.Get(ledger.ID(ol.Network()))
	_, ctrl, _ := ed25519.GenerateKey(rand.Reader)
	ctrlOp, err := ol.Append(owner.UserKey(), ledger.Op{Kind: ledger.KindDelegateService, Subject: identity.UserID(ctrl.Public().(ed25519.PublicKey)),
		Scopes: ledger.ScopeAll, Expires: time.Now().Add(time.Hour).Unix()})
	if err != nil {
		return nil, err
	}
	key, err := devnet.NewAuthKey(ctrl, ctrlOp, genesis, devnet.AuthKeyOptions{Reusable: true}, time.Now())
	if err != nil {
		return nil, err
	}

	mn := mocknet.New()
	defer mn.Close()
	start := func(i int) (*node.Node, error) {
		seed, _ := identity.NewSeed()
		l, err := ledger.Init(filepath.Join(dir, fmt.Sprint(i)), genesis, nil)
		if err != nil {
			return nil, err
		}
		nd, err := node.New(node.Config{Seed: seed, Log: l, AuthKey: key,
			Host: func(k crypto.PrivKey) (host.Host, error) {
				return mn.AddPeer(k, ma.StringCast(fmt.Sprintf("/ip4/10.%d.%d.%d/tcp/4242", i>>16&255, i>>8&255, i&255)))
			}})
		if err != nil {
			return nil, err
		}
		return nd, nd.Start(context.Background())
	}
	nodes := make([]*node.Node, n)
	for i := range nodes {
		if nodes[i], err = start(i); err != nil {
			return nil, err
		}
		defer nodes[i].Close()
	}
	logf("started %d nodes", n)
	connect := func(a, b *node.Node) error {
		if _, err := mn.LinkPeers(a.ID(), b.ID()); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return a.Host().Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()})
	}
	r := mrand.New(mrand.NewPCG(1, 2))
	linked := map[[2]int]bool{}
	for i := range nodes {
		for _, j := range []int{(i + 1) % n} { // a ring keeps the mesh connected
			linked[[2]int{min(i, j), max(i, j)}] = true
		}
		for range degree/2 - 1 {
			j := r.IntN(n)
			if j != i {
				linked[[2]int{min(i, j), max(i, j)}] = true
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for e := range linked {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			connect(nodes[e[0]], nodes[e[1]])
		}()
	}
	wg.Wait()
	if err := waitVerified(nodes, 2*time.Minute); err != nil {
		return nil, err
	}
	logf("mesh of %d links verified", len(linked))

	var out []result
	revoke := func(mode string, version uint64, x *node.Node, publisher *node.Node, all []*node.Node) error {
		reached := make([]time.Duration, 0, len(all))
		var mu sync.Mutex
		var t0 time.Time
		done := make(chan struct{})
		for _, nd := range all {
			if nd == x {
				continue
			}
			nd.OnListsChange(func() {
				if v, _ := nd.Lists().Versions(); v != version {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				reached = append(reached, time.Since(t0))
				if len(reached) == len(all)-1 {
					close(done)
				}
			})
		}
		rv := &devnet.Revocations{Net: ol.Network(), Version: version, Issued: time.Now().Unix(), Nodes: [][32]byte{x.NodeKey()}}
		if version > 1 {
			rv.Nodes = append(rv.Nodes, nodes[0].NodeKey())
		}
		rv.Sign(ctrl, ctrlOp)
		mu.Lock()
		t0 = time.Now()
		mu.Unlock()
		if err := publisher.PublishLists(context.Background(), rv, nil); err != nil {
			return err
		}
		var cut time.Duration
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if len(x.Host().Network().Peers()) == 0 && cut == 0 {
				cut = time.Since(t0)
			}
			select {
			case <-done:
			default:
				continue
			}
			if cut != 0 {
				break
			}
		}
		mu.Lock()
		d := slices.Clone(reached)
		mu.Unlock()
		out = append(out, summarize(mode, len(all)-1, d, cut))
		logf("%s: %d of %d nodes", mode, len(d), len(all)-1)
		return nil
	}
	if err := revoke(fmt.Sprintf("mesh gossip (degree ~%d)", degree), 1, nodes[0], nodes[n/2], nodes); err != nil {
		return nil, err
	}
	// A hub connected to every node, as a control plane is: it pushes the
	// list to all of them (and they on to their peers).
	hub, err := start(n)
	if err != nil {
		return nil, err
	}
	defer hub.Close()
	for _, nd := range nodes[1:] {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			connect(hub, nd)
		}()
	}
	wg.Wait()
	if err := waitVerified(append([]*node.Node{hub}, nodes[1:]...), 2*time.Minute); err != nil {
		return nil, err
	}
	if err := revoke("star push from a hub", 2, nodes[1], hub, append([]*node.Node{hub}, nodes[1:]...)); err != nil {
		return nil, err
	}
	return out, nil
}

// waitVerified waits until every connection of every node has passed the
// credential exchange.
func waitVerified(nodes []*node.Node, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		pending := 0
		for _, nd := range nodes {
			for _, p := range nd.Host().Network().Peers() {
				if nd.Host().Network().Connectedness(p) == network.Connected && !nd.IsMember(p) {
					pending++
				}
			}
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d connections still unverified after %v", pending, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func summarize(mode string, nodes int, d []time.Duration, cut time.Duration) result {
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x) / 1e6 }
	pct := func(p float64) float64 {
		if len(d) == 0 {
			return 0
		}
		return ms(d[max(0, int(math.Ceil(p*float64(len(d))))-1)])
	}
	return result{Mode: mode, Nodes: nodes, Reached: len(d), P50ms: pct(0.5), P90ms: pct(0.9), P99ms: pct(0.99), MaxMs: pct(1), CutOffMs: ms(cut)}
}

func shm() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}
