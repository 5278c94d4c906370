// Command consortiumbench measures the consortium's commit throughput and
// latency with 3 validating nodes on loopback TCP beside a real etcd cluster
// of 3 members (go.etcd.io/etcd/server/v3 embedded, v3.7.3) and a bare etcd
// raft cluster (raftexample's shape: the same raft library, WAL and
// transport, a map as the state machine) under the same client load, in one
// run, and receipt generation and verification per second.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/wal"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

var (
	clients  = flag.Int("c", 64, "concurrent clients")
	size     = flag.Int("size", 1024, "value bytes")
	duration = flag.Duration("duration", 5*time.Second, "load time per side per round")
	rounds   = flag.Int("rounds", 2, "rounds, alternating sides")
	receipts = flag.Int("receipts", 2000, "receipts to generate and verify")
	asJSON   = flag.Bool("json", false, "print JSON")
	cpuprof  = flag.String("cpuprofile", "", "write a CPU profile of the consortium's load to this file")
)

type result struct {
	Side  string  `json:"side"`
	TPS   float64 `json:"tx_per_s"`
	P50ms float64 `json:"p50_ms"`
	P99ms float64 `json:"p99_ms"`
	N     int     `json:"n"`
	Errs  int     `json:"errors"`
}

// load runs clients calling put until the duration ends.
func load(side string, put func(ctx context.Context, client, i int) error) result {
	ctx, cancel := context.WithTimeout(context.Background(), *duration)
	defer cancel()
	var mu sync.Mutex
	var lat []time.Duration
	var errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var mine []time.Duration
			for i := 0; ctx.Err() == nil; i++ {
				t0 := time.Now()
				pctx, pc := context.WithTimeout(context.Background(), 10*time.Second)
				err := put(pctx, c, i)
				pc()
				switch {
				case err != nil:
					errs.Add(1)
				case ctx.Err() == nil:
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	el := *duration // completions after the window are not counted
	_ = start
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r := result{Side: side, N: len(lat), Errs: int(errs.Load()), TPS: float64(len(lat)) / el.Seconds()}
	if len(lat) > 0 {
		r.P50ms = float64(lat[len(lat)/2]) / 1e6
		r.P99ms = float64(lat[len(lat)*99/100]) / 1e6
	}
	return r
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "consortiumbench:", err)
		os.Exit(1)
	}
}

func mesh(n int) []*consortium.TCPTransport {
	var trs []*consortium.TCPTransport
	for id := 1; id <= n; id++ {
		tr, err := consortium.ListenTCP(uint64(id), "127.0.0.1:0")
		must(err)
		trs = append(trs, tr)
	}
	for _, a := range trs {
		for id, b := range trs {
			a.SetPeer(uint64(id+1), b.Addr())
		}
	}
	return trs
}

// consortiumSide starts 3 validating nodes.
func consortiumSide(dir string) (put func(ctx context.Context, client, i int) error, nodes []*consortium.Node, stop func()) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	must(err)
	code := sha256.Sum256([]byte("bench"))
	g := &consortium.Genesis{Name: "bench", Members: [][]byte{der}, Code: [][]byte{code[:]}, Envs: []string{consortium.EnvSoftware}}
	var keys []ed25519.PrivateKey
	for id := 1; id <= 3; id++ {
		pub, k, _ := ed25519.GenerateKey(rand.Reader)
		keys = append(keys, k)
		g.Nodes = append(g.Nodes, consortium.NodeInfo{ID: uint64(id), PubKey: pub, CodeHash: code[:], Env: consortium.EnvSoftware})
	}
	trs := mesh(3)
	for i, tr := range trs {
		n, err := consortium.Start(consortium.Config{ID: uint64(i + 1), Dir: filepath.Join(dir, fmt.Sprint(i+1)), Genesis: g, Key: keys[i], Transport: tr, TickInterval: 100 * time.Millisecond})
		must(err)
		tr.Handle(n.Receive)
		nodes = append(nodes, n)
	}
	caller := consortium.CertID(der)
	val := make([]byte, *size)
	put = func(ctx context.Context, c, i int) error {
		_, err := nodes[c%3].Transact(ctx, consortium.Txn{Caller: caller, Writes: []consortium.Write{{Table: "bench", Key: []byte(fmt.Sprintf("c%d-%d", c, i%1000)), Value: val}}})
		return err
	}
	return put, nodes, func() {
		for i := range nodes {
			nodes[i].Close()
			trs[i].Close()
		}
	}
}

// bareNode is raftexample's loop: raft, the WAL, a map.
type bareNode struct {
	id      uint64
	rn      raft.Node
	st      *raft.MemoryStorage
	w       *wal.WAL
	tr      *consortium.TCPTransport
	mu      sync.Mutex
	waiters map[uint64]chan struct{}
	kv      map[string][]byte
	seq     atomic.Uint64
	done    chan struct{}
}

func startBare(id uint64, dir string, tr *consortium.TCPTransport) *bareNode {
	w, _, err := wal.Open(dir)
	must(err)
	n := &bareNode{id: id, st: raft.NewMemoryStorage(), w: w, tr: tr, waiters: map[uint64]chan struct{}{}, kv: map[string][]byte{}, done: make(chan struct{})}
	n.rn = raft.StartNode(&raft.Config{ID: id, ElectionTick: 10, HeartbeatTick: 1, Storage: n.st, MaxSizePerMsg: 1 << 20,
		MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true, Logger: &raft.DefaultLogger{Logger: log.New(io.Discard, "", 0)}},
		[]raft.Peer{{ID: 1}, {ID: 2}, {ID: 3}})
	tr.Handle(func(from uint64, b []byte) error {
		m := &pb.Message{}
		if err := proto.Unmarshal(b, m); err != nil {
			return err
		}
		return n.rn.Step(context.Background(), m)
	})
	go n.run()
	return n
}

func (n *bareNode) run() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-n.done:
			return
		case <-t.C:
			n.rn.Tick()
		case rd := <-n.rn.Ready():
			must(n.w.Save(rd.HardState, rd.Entries, rd.MustSync))
			if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
				n.st.SetHardState(rd.HardState)
			}
			n.st.Append(rd.Entries)
			for _, m := range rd.Messages {
				b, _ := proto.Marshal(m)
				n.tr.Send(m.GetTo(), b)
			}
			for _, e := range rd.CommittedEntries {
				switch e.GetType() {
				case pb.EntryNormal:
					if len(e.GetData()) < 8 {
						continue
					}
					id := binary.BigEndian.Uint64(e.GetData())
					n.mu.Lock()
					n.kv[fmt.Sprint(id%100000)] = e.GetData()[8:]
					if ch, ok := n.waiters[id]; ok {
						close(ch)
						delete(n.waiters, id)
					}
					n.mu.Unlock()
				case pb.EntryConfChange:
					cc := &pb.ConfChange{}
					proto.Unmarshal(e.GetData(), cc)
					n.rn.ApplyConfChange(cc)
				}
			}
			n.rn.Advance()
		}
	}
}

func (n *bareNode) put(ctx context.Context, val []byte) error {
	id := n.id<<56 | n.seq.Add(1)
	data := make([]byte, 8+len(val))
	binary.BigEndian.PutUint64(data, id)
	copy(data[8:], val)
	ch := make(chan struct{})
	n.mu.Lock()
	n.waiters[id] = ch
	n.mu.Unlock()
	defer func() { n.mu.Lock(); delete(n.waiters, id); n.mu.Unlock() }()
	if err := n.rn.Propose(ctx, data); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func bareSide(dir string) (put func(ctx context.Context, client, i int) error, stop func()) {
	trs := mesh(3)
	var nodes []*bareNode
	for i, tr := range trs {
		nodes = append(nodes, startBare(uint64(i+1), filepath.Join(dir, fmt.Sprint("bare", i+1)), tr))
	}
	val := make([]byte, *size)
	put = func(ctx context.Context, c, i int) error { return nodes[c%3].put(ctx, val) }
	return put, func() {
		for i, n := range nodes {
			close(n.done)
			n.rn.Stop()
			n.w.Close()
			trs[i].Close()
		}
	}
}

func warm(put func(ctx context.Context, client, i int) error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := put(ctx, 0, 0)
		cancel()
		if err == nil {
			return
		}
	}
	must(fmt.Errorf("no leader within 30s"))
}

func main() {
	flag.Parse()
	dir, err := os.MkdirTemp("", "consortiumbench")
	must(err)
	defer os.RemoveAll(dir)
	cput, cnodes, cstop := consortiumSide(dir)
	defer cstop()
	bput, bstop := bareSide(dir)
	defer bstop()
	eput, estop := etcdSide(dir)
	defer estop()
	warm(cput)
	warm(bput)
	warm(eput)

	sum := map[string]*result{}
	var all []result
	for r := 0; r < *rounds; r++ {
		for _, side := range []struct {
			name string
			put  func(ctx context.Context, client, i int) error
		}{{"consortium", cput}, {"bare raft", bput}, {"etcd", eput}} {
			if *cpuprof != "" && side.name == "consortium" && r == 0 {
				f, err := os.Create(*cpuprof)
				must(err)
				pprof.StartCPUProfile(f)
			}
			res := load(side.name, side.put)
			if *cpuprof != "" && side.name == "consortium" && r == 0 {
				pprof.StopCPUProfile()
			}
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

	// Receipts: generate through the API-less Go call, verify offline.
	n := cnodes[0]
	ctx := context.Background()
	var pub ed25519.PublicKey
	for _, ni := range n.Nodes() {
		if ni.ID == n.ID() {
			pub = ni.PubKey
		}
	}
	t0 := time.Now()
	var rcs []*consortium.Receipt
	for i := 0; i < *receipts; i++ {
		rc, err := n.Receipt(ctx, uint64(1+i%max(1, sum["consortium"].N)))
		must(err)
		rcs = append(rcs, rc)
	}
	genPerS := float64(len(rcs)) / time.Since(t0).Seconds()
	t0 = time.Now()
	for _, rc := range rcs {
		must(consortium.VerifyReceipt(rc, pub))
	}
	verPerS := float64(len(rcs)) / time.Since(t0).Seconds()

	c, b, et := sum["consortium"], sum["bare raft"], sum["etcd"]
	if *asJSON {
		json.NewEncoder(os.Stdout).Encode(map[string]any{"rounds": all, "consortium": c, "bare_raft": b, "etcd": et,
			"tps_ratio": c.TPS / b.TPS, "p99_ratio": b.P99ms / c.P99ms,
			"etcd_tps_ratio": c.TPS / et.TPS, "etcd_p99_ratio": et.P99ms / c.P99ms,
			"receipts_generated_per_s": genPerS, "receipts_verified_per_s": verPerS})
		return
	}
	fmt.Printf("3 nodes on loopback, %d clients, %d-byte puts, %d rounds of %s per side\n", *clients, *size, *rounds, *duration)
	fmt.Printf("etcd: 3 members of go.etcd.io/etcd/server/v3 (embed) in this process, gRPC clients, fsync on\n\n")
	fmt.Printf("%-16s %12s %12s %12s %10s %10s\n", "metric", "consortium", "etcd", "bare raft", "c/etcd", "c/bare")
	fmt.Printf("%-16s %12.0f %12.0f %12.0f %10.2f %10.2f\n", "commits/s", c.TPS, et.TPS, b.TPS, c.TPS/et.TPS, c.TPS/b.TPS)
	fmt.Printf("%-16s %12.2f %12.2f %12.2f %10.2f %10.2f\n", "p50 commit ms", c.P50ms, et.P50ms, b.P50ms, et.P50ms/c.P50ms, b.P50ms/c.P50ms)
	fmt.Printf("%-16s %12.2f %12.2f %12.2f %10.2f %10.2f\n", "p99 commit ms", c.P99ms, et.P99ms, b.P99ms, et.P99ms/c.P99ms, b.P99ms/c.P99ms)
	fmt.Printf("%-16s %12d %12d %12d\n", "failed puts", c.Errs, et.Errs, b.Errs)
	fmt.Printf("\nreceipts: %.0f generated/s (node 1, from its applied tree), %.0f verified/s\n", genPerS, verPerS)
	fmt.Println("ratios: higher is better for the consortium (throughput c/x, latency x/c); goal c/etcd >= 1")
}
