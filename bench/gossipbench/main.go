// Command gossipbench measures one publish to every node of a developer
// network over gossipsub beside coconet's direct fan-out (one copy per
// subscriber node from the publisher), at several sizes in one run, and
// prints the ratios.
//
// For each size N it starts N subscriber nodes and two publishers in this
// process, each a real go-libp2p host on 127.0.0.1 (TCP, Noise, yamux)
// running coconet's node and pub-sub, all members of one developer
// network whose ledger lists them (one shared in-memory copy: the nodes
// only read it). The subscribers and the gossip publisher form a random
// graph in which every node dials -degree/2 others (about -degree
// connections each, as nodes of a large network keep); the direct
// publisher is connected to every subscriber, as direct fan-out needs,
// and runs pub-sub without gossip. Every subscriber subscribes to
// "bench/#". Then -publishes times, taking turns: the direct publisher
// publishes one message, the run waits until every subscriber has it (or
// -wait passes), then the gossip publisher does. Latency is publish to
// receipt (one clock: one process), over every subscriber of every
// publish; delivery is the share of (subscriber, publish) pairs that
// arrived; "last" is the median over publishes of the time until the
// last subscriber had it; "pub KiB" is what each publisher sent per
// publish on the pub-sub protocols (direct: a copy per subscriber node;
// gossip: a copy per neighbour, plus gossipsub's control traffic).
//
// The hosts run without go-libp2p's connection manager and resource
// manager (the default connection manager would cut the direct
// publisher's connections above 192) and without coconet's connection
// gate (a gate that only lets each node dial its own neighbours takes its
// place), and the bench tells every node its paths are slow (slowPaths)
// so that a loaded machine does not make the nodes close healthy
// connections. bench/fanout.sh runs it.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/bench/internal/benchstat"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
)

type config struct {
	sizes     []int
	publishes int
	degree    int
	payload   int
	wait      time.Duration
	jsonOut   bool
	verbose   bool
}

// side is what one way of publishing measured at one size.
type side struct {
	Delivery float64           `json:"delivery"` // 0..1
	Latency  benchstat.Latency `json:"latency"`
	LastUS   float64           `json:"last_us"` // median over publishes of the time to the last subscriber
	// PubKB is what the publisher sent per publish on the pub-sub
	// protocols (gossip: also its share of gossipsub's control traffic
	// in that time).
	PubKB float64 `json:"publisher_kib_per_publish"`
}

type result struct {
	Nodes       int     `json:"nodes"`
	Direct      side    `json:"direct"`
	Gossip      side    `json:"gossip"`
	RSSMB       float64 `json:"rss_mb"`
	Goroutines  int     `json:"goroutines"`
	SetupS      float64 `json:"setup_s"`
	GossipPeers float64 `json:"gossip_peers_mean"` // gossip peers per subscriber
}

func main() {
	var c config
	sizes := flag.String("sizes", "10,100,1000", "network sizes (subscriber nodes), comma-separated")
	flag.IntVar(&c.publishes, "publishes", 10, "publishes per way and size")
	flag.IntVar(&c.degree, "degree", 8, "connections per node in the gossip graph (each node dials degree/2)")
	flag.IntVar(&c.payload, "payload", 64, "message size in bytes (at least 17)")
	flag.DurationVar(&c.wait, "wait", 10*time.Second, "how long to wait for one publish to reach every subscriber")
	flag.BoolVar(&c.jsonOut, "json", false, "print JSON")
	flag.BoolVar(&c.verbose, "v", false, "progress on stderr")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *cpuprof != "" {
		f, err := os.Create(*cpuprof)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gossipbench: %v\n", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 2 {
			fmt.Fprintf(os.Stderr, "gossipbench: bad size %q\n", s)
			os.Exit(2)
		}
		c.sizes = append(c.sizes, n)
	}
	c.payload = max(c.payload, 17)
	logf := func(string, ...any) {}
	if c.verbose {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "gossipbench: "+f+"\n", a...) }
	}
	var rs []result
	for _, n := range c.sizes {
		r, err := run(c, n, logf)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gossipbench: %d nodes: %v\n", n, err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		rs = append(rs, r)
		runtime.GC()
	}
	if c.jsonOut {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"results": rs})
		return
	}
	print(rs)
}

func print(rs []result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "nodes\tway\tdelivery\tp50 ms\tp99 ms\tlast ms\tpub KiB\tp50 ratio\tp99 ratio\tlast ratio\tpub KiB ratio\tRSS MB\tgossip peers\t")
	ms := func(us float64) string { return fmt.Sprintf("%.1f", us/1e3) }
	for _, r := range rs {
		for _, w := range []struct {
			name string
			s    side
		}{{"direct", r.Direct}, {"gossip", r.Gossip}} {
			ratio := func(f func(side) float64) string {
				if w.name == "direct" {
					return ""
				}
				return fmt.Sprintf("%.2f", benchstat.Ratio(f(r.Gossip), f(r.Direct)))
			}
			fmt.Fprintf(tw, "%d\t%s\t%.1f %%\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%.0f\t%.1f\t\n", r.Nodes, w.name, 100*w.s.Delivery,
				ms(w.s.Latency.P50), ms(w.s.Latency.P99), ms(w.s.LastUS), w.s.PubKB,
				ratio(func(s side) float64 { return s.Latency.P50 }), ratio(func(s side) float64 { return s.Latency.P99 }),
				ratio(func(s side) float64 { return s.LastUS }), ratio(func(s side) float64 { return s.PubKB }), r.RSSMB, r.GossipPeers)
		}
	}
	tw.Flush()
	fmt.Println("ratios are gossip / direct: < 1 means gossip delivers sooner (or its publisher sends less). pub KiB: what the publisher sent per publish on the pub-sub protocols. RSS is the whole process with every node of that size running.")
}

// bench is one size's network.
type bench struct {
	c      config
	logf   func(string, ...any)
	nodes  []*node.Node
	pss    []*pubsub.PubSub
	hosts  []host.Host
	allow  []map[peer.ID]bool                // whom each node may dial
	bw     map[int]*metrics.BandwidthCounter // the publishers' bytes, by protocol
	recv   [2][]*publishRecord
	direct int // index of the direct publisher
	gossip int // index of the gossip publisher
}

// publishRecord collects one publish's arrivals.
type publishRecord struct {
	mu    sync.Mutex
	lat   []time.Duration
	count atomic.Int64
	done  chan struct{} // closed when every subscriber has it
	n     int64
	seen  []atomic.Bool // by subscriber
}

const (
	wayDirect = 0
	wayGossip = 1
)

func run(c config, n int, logf func(string, ...any)) (res result, err error) {
	res.Nodes = n
	start := time.Now()
	tmp, err := os.MkdirTemp("", "gossipbench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)
	b := &bench{c: c, logf: logf, bw: map[int]*metrics.BandwidthCounter{}}
	defer b.close()

	seed, err := identity.NewSeed()
	if err != nil {
		return res, err
	}
	l, err := ledger.Create(filepath.Join(tmp, "ledger"), seed.UserKey(), "owner", "fanout", ledger.NetKindDeveloper)
	if err != nil {
		return res, err
	}
	total := n + 2
	b.direct, b.gossip = n, n+1
	apps := make([]string, total)
	keys := make([]ed25519.PrivateKey, total)
	var ops []ledger.Op
	for i := range total {
		apps[i] = fmt.Sprintf("n%d", i)
		keys[i] = seed.NodeKey(l.Network(), apps[i])
		ops = append(ops, ledger.Op{Kind: ledger.KindAddNode, Subject: seed.UserID(), Node: [32]byte(keys[i].Public().(ed25519.PublicKey)),
			SubjectName: apps[i], NodeSig: ledger.SignNodeProof(keys[i], l.Network(), seed.UserID())})
	}
	for _, o := range ops {
		if _, err := l.Append(seed.UserKey(), o); err != nil {
			return res, fmt.Errorf("add node: %w", err)
		}
	}
	logf("%d nodes in the ledger (%s)", total, time.Since(start).Round(time.Millisecond))

	ids := make([]peer.ID, total)
	for i, k := range keys {
		if ids[i], err = node.PeerIDOf([32]byte(k.Public().(ed25519.PublicKey))); err != nil {
			return res, err
		}
	}
	// The graph: each gossiping node dials degree/2 others at random; the
	// direct publisher dials every subscriber.
	b.allow = make([]map[peer.ID]bool, total)
	for i := range b.allow {
		b.allow[i] = map[peer.ID]bool{}
	}
	var edges [][2]int
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	gossipers := append(seq(n), b.gossip)
	for _, i := range gossipers {
		for range max(c.degree/2, 1) {
			j := gossipers[rng.IntN(len(gossipers))]
			if j == i || b.allow[i][ids[j]] || b.allow[j][ids[i]] {
				continue
			}
			b.allow[i][ids[j]] = true
			edges = append(edges, [2]int{i, j})
		}
	}
	for j := range n {
		b.allow[b.direct][ids[j]] = true
		edges = append(edges, [2]int{b.direct, j})
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for i := range total {
		i := i
		nd, err := node.New(node.Config{Seed: seed, UserName: "owner", Log: l, App: apps[i],
			Host: func(key crypto.PrivKey) (host.Host, error) {
				var bw *metrics.BandwidthCounter
				if i == b.direct || i == b.gossip {
					bw = metrics.NewBandwidthCounter()
					b.bw[i] = bw
				}
				return newHost(key, b.allow[i], bw)
			}})
		if err != nil {
			return res, err
		}
		if err := nd.Start(ctx); err != nil {
			return res, err
		}
		b.nodes = append(b.nodes, nd)
		b.hosts = append(b.hosts, nd.Host())
		ps, err := pubsub.New(nd, pubsub.Options{Gossip: i != b.direct, QueueLen: 64})
		if err != nil {
			return res, err
		}
		b.pss = append(b.pss, ps)
	}
	go b.slowPaths(ctx)
	logf("%d nodes up (%s); connecting %d edges", total, time.Since(start).Round(time.Millisecond), len(edges))
	if err := b.connect(ctx, edges); err != nil {
		return res, err
	}
	logf("connected (%s); subscribing", time.Since(start).Round(time.Millisecond))
	if err := b.subscribe(ctx, n); err != nil {
		return res, err
	}
	var peers int
	for i := range n {
		peers += len(b.pss[i].GossipPeers())
	}
	res.GossipPeers = float64(peers) / float64(n)
	logf("subscribed (%s); %.1f gossip peers per subscriber; warming up", time.Since(start).Round(time.Millisecond), res.GossipPeers)
	// Warm-up: gossipsub builds its mesh in heartbeats (1 s); and every
	// subscription must be known to the direct publisher.
	for _, way := range []int{wayDirect, wayGossip} {
		if err := b.warm(ctx, way, n); err != nil {
			return res, err
		}
	}
	// Warm-up publishes stay in b.recv (late arrivals find their own
	// record); the measured ones follow them.
	recvMu.Lock()
	first := [2]int{len(b.recv[wayDirect]), len(b.recv[wayGossip])}
	recvMu.Unlock()
	res.SetupS = time.Since(start).Seconds()
	logf("warm (%s); measuring", time.Since(start).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // the byte counters are swept once a second
	before := [2]int64{b.pubsubBytesOut(b.direct), b.pubsubBytesOut(b.gossip)}
	for range c.publishes {
		for _, way := range []int{wayDirect, wayGossip} {
			r := b.publish(ctx, way, n)
			select {
			case <-r.done:
			case <-time.After(c.wait):
			}
			time.Sleep(50 * time.Millisecond) // let late arrivals of gossip's relays settle
		}
	}
	time.Sleep(1500 * time.Millisecond)
	res.Direct.PubKB = float64(b.pubsubBytesOut(b.direct)-before[0]) / 1024 / float64(c.publishes)
	res.Gossip.PubKB = float64(b.pubsubBytesOut(b.gossip)-before[1]) / 1024 / float64(c.publishes)
	res.RSSMB = rssMB()
	res.Goroutines = runtime.NumGoroutine()
	recvMu.Lock()
	direct, gossip := b.recv[wayDirect][first[wayDirect]:], b.recv[wayGossip][first[wayGossip]:]
	recvMu.Unlock()
	pd, pg := res.Direct.PubKB, res.Gossip.PubKB
	res.Direct = summarize(direct, n)
	res.Gossip = summarize(gossip, n)
	res.Direct.PubKB, res.Gossip.PubKB = pd, pg
	logf("%d nodes: direct %.1f%% p99 %.1f ms, gossip %.1f%% p99 %.1f ms", n, 100*res.Direct.Delivery, res.Direct.Latency.P99/1e3, 100*res.Gossip.Delivery, res.Gossip.Latency.P99/1e3)
	return res, nil
}

// slowPaths tells every node, twice a second, that its paths are slow (a
// 2 s round trip): the node's liveness check then waits 4 round trips
// for a ping's answer instead of 750 ms. On a shared machine under load a
// ping between two nodes of this process often takes longer than 750 ms,
// and the node would close a healthy connection as a dead path — every
// connection here carries long-lived pub-sub streams, so every one is
// checked every second.
func (b *bench) slowPaths(ctx context.Context) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, h := range b.hosts {
			for _, p := range h.Network().Peers() {
				h.Peerstore().RecordLatency(p, 2*time.Second)
			}
		}
	}
}

// warm publishes the given way, one message every 2 s, until one of them
// has reached every subscriber (3 min at most). Subscribers that the
// direct publisher has not reached after 20 s are asked to announce their
// subscriptions again: on a loaded machine an announcement can time out,
// and it is sent again only on a new connection.
func (b *bench) warm(ctx context.Context, way, n int) error {
	start := time.Now()
	nudged := false
	var rs []*publishRecord
	for time.Since(start) < 3*time.Minute {
		rs = append(rs, b.publish(ctx, way, n))
		select {
		case <-rs[len(rs)-1].done:
			return nil
		case <-time.After(2 * time.Second):
		}
		for _, r := range rs {
			select {
			case <-r.done:
				return nil
			default:
			}
		}
		if way != wayDirect || nudged || time.Since(start) < 20*time.Second {
			continue
		}
		nudged = true
		var wg sync.WaitGroup
		missing := 0
		for i := range n {
			reached := false
			for _, r := range rs {
				reached = reached || r.seen[i].Load()
			}
			if !reached {
				missing++
				wg.Add(1)
				go func() { defer wg.Done(); nudge(ctx, b.pss[i]) }()
			}
		}
		wg.Wait()
		b.logf("warm-up: %d subscribers not reached directly in 20 s (the direct publisher has %d connections); asked them to announce again",
			missing, len(b.hosts[b.direct].Network().Peers()))
	}
	return fmt.Errorf("warm-up: the %s publisher does not reach every subscriber in 3 min", wayName(way))
}

func nudge(ctx context.Context, ps *pubsub.PubSub) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if s, err := ps.Subscribe(ctx, "bench/nudge/+", pubsub.SubscribeOptions{}); err == nil {
		s.Close()
	}
}

// pubsubBytesOut is what publisher i sent on coconet's direct pub-sub
// stream and gossipsub's protocols.
func (b *bench) pubsubBytesOut(i int) int64 {
	bw := b.bw[i]
	if bw == nil {
		return 0
	}
	var n int64
	for p, st := range bw.GetBandwidthByProtocol() {
		if p == pubsub.ProtoMsg || strings.HasPrefix(string(p), "/meshsub/") || strings.HasPrefix(string(p), "/floodsub/") {
			n += st.TotalOut
		}
	}
	return n
}

func wayName(w int) string { return [...]string{"direct", "gossip"}[w] }

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

// connect dials every edge, 16 at a time.
func (b *bench) connect(ctx context.Context, edges [][2]int) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for k, e := range edges {
		if k > 0 && k%1000 == 0 {
			b.logf("%d of %d connections", k, len(edges))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			a, z := b.hosts[e[0]], b.hosts[e[1]]
			var err error
			for try := 0; try < 5; try++ { // handshakes time out on a loaded machine
				if sw, ok := a.Network().(*swarm.Swarm); ok {
					sw.Backoff().Clear(z.ID())
				}
				if err = a.Connect(ctx, peer.AddrInfo{ID: z.ID(), Addrs: z.Addrs()}); err == nil {
					break
				}
				time.Sleep(time.Duration(try+1) * 200 * time.Millisecond)
			}
			if err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// A few dials time out on a loaded machine; the node's reconnect loop
	// tries them again. More than one in twenty is a broken run.
	if len(errs)*20 > len(edges) {
		return fmt.Errorf("%d of %d connections failed, first: %w", len(errs), len(edges), errs[0])
	}
	if len(errs) > 0 {
		b.logf("%d of %d connections failed (the nodes' reconnect loops try again), first: %v", len(errs), len(edges), errs[0])
	}
	return nil
}

// subscribe subscribes every subscriber to bench/# and starts its reader.
func (b *bench) subscribe(ctx context.Context, n int) error {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			s, err := b.pss[i].Subscribe(sctx, "bench/#", pubsub.SubscribeOptions{Buffer: 256})
			if err != nil {
				errc <- err
				return
			}
			go b.read(i, s)
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// read records each arrival: way, publish index and publish time travel
// in the payload.
func (b *bench) read(i int, s *pubsub.Subscription) {
	for m := range s.C() {
		at := time.Now()
		if len(m.Data) < 17 {
			continue
		}
		way, k, t0 := int(m.Data[0]), int(binary.BigEndian.Uint64(m.Data[1:])), int64(binary.BigEndian.Uint64(m.Data[9:]))
		b.recordArrival(i, way, k, at.Sub(time.Unix(0, t0)))
	}
}

var recvMu sync.Mutex // guards bench.recv's slices (appended by publish)

func (b *bench) recordArrival(i, way, k int, d time.Duration) {
	recvMu.Lock()
	if way > 1 || k >= len(b.recv[way]) {
		recvMu.Unlock()
		return
	}
	r := b.recv[way][k]
	recvMu.Unlock()
	if r.seen[i].Swap(true) {
		return // a duplicate
	}
	r.mu.Lock()
	r.lat = append(r.lat, d)
	r.mu.Unlock()
	if r.count.Add(1) == r.n {
		close(r.done)
	}
}

// publish publishes one message the given way and returns its record.
func (b *bench) publish(ctx context.Context, way, n int) *publishRecord {
	r := &publishRecord{done: make(chan struct{}), n: int64(n), seen: make([]atomic.Bool, n)}
	recvMu.Lock()
	k := len(b.recv[way])
	b.recv[way] = append(b.recv[way], r)
	recvMu.Unlock()
	data := make([]byte, b.c.payload)
	data[0] = byte(way)
	binary.BigEndian.PutUint64(data[1:], uint64(k))
	binary.BigEndian.PutUint64(data[9:], uint64(time.Now().UnixNano()))
	pub := b.direct
	if way == wayGossip {
		pub = b.gossip
	}
	if err := b.pss[pub].Publish(ctx, "bench/fanout", data, pubsub.PublishOptions{}); err != nil {
		fmt.Fprintf(os.Stderr, "gossipbench: publish: %v\n", err)
	}
	return r
}

func summarize(rs []*publishRecord, n int) side {
	var all []time.Duration
	var lasts []time.Duration
	var got int64
	for _, r := range rs {
		r.mu.Lock()
		all = append(all, r.lat...)
		if len(r.lat) > 0 {
			lasts = append(lasts, slices.Max(r.lat))
		}
		r.mu.Unlock()
		got += r.count.Load()
	}
	s := side{Latency: benchstat.Summarize(all)}
	if len(rs) > 0 {
		s.Delivery = float64(got) / float64(int64(n)*int64(len(rs)))
	}
	if len(lasts) > 0 {
		slices.Sort(lasts)
		s.LastUS = float64(lasts[(len(lasts)-1)/2]) / 1e3
	}
	return s
}

func (b *bench) close() {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for i := range b.nodes {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if i < len(b.pss) {
				b.pss[i].Close()
			}
			b.nodes[i].Close()
		}()
	}
	wg.Wait()
}

// newHost is a TCP-only go-libp2p host on 127.0.0.1 that dials only the
// peers in allow (so that the node's reconnect loop and peer exchange
// keep the graph the bench chose).
func newHost(key crypto.PrivKey, allow map[peer.ID]bool, bw *metrics.BandwidthCounter) (host.Host, error) {
	var opts []libp2p.Option
	if bw != nil {
		opts = append(opts, libp2p.BandwidthReporter(bw))
	}
	return libp2p.New(append(opts,
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.ConnectionManager(connmgr.NullConnMgr{}),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.ConnectionGater(dialGate(allow)),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
	)...)
}

// dialGate lets a host dial only the peers of its set; it accepts every
// connection (all are members).
type dialGate map[peer.ID]bool

func (g dialGate) InterceptPeerDial(p peer.ID) bool             { return g[p] }
func (g dialGate) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }
func (g dialGate) InterceptAccept(network.ConnMultiaddrs) bool  { return true }
func (g dialGate) InterceptSecured(network.Direction, peer.ID, network.ConnMultiaddrs) bool {
	return true
}
func (g dialGate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
