// Command controlbench measures coconet's control plane in one run:
//
//   - relay throughput: two libp2p hosts (TCP or QUIC, Noise, yamux) with
//     membership proofs send one stream of bytes through the control
//     plane's circuit relay, then over a direct connection on the same
//     transport; it prints both, their ratio, and the CPU time each side
//     spent per GB (the hosts' process and the relay's). The relay runs in
//     a child process of its own (this command with -serve), as `coco
//     control` does; -relay-inproc keeps it in this process;
//   - capacity: it registers simulated nodes (generated node keys,
//     certificates signed by the owner, signed peer records) over a few
//     connections and prints registrations per second and the control
//     plane's heap per registered node.
//
// Everything else runs in this process on 127.0.0.1. Absolute figures are
// noisy; read the ratios.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

const benchProto = "/controlbench/bulk/1.0.0"

type config struct {
	bytes    int64
	nodes    int
	networks int
	conns    int
	workers  int
	json     bool
	only     string
	cpuprof  string
	memprof  string
	// relay
	serve      bool
	inproc     bool
	relayProf  string
	relayBuf   int
	transports string
}

type throughput struct {
	Transport   string  `json:"transport"`
	Bytes       int64   `json:"bytes"`
	DirectGbps  float64 `json:"direct_gbit_s"`
	RelayedGbps float64 `json:"relayed_gbit_s"`
	Ratio       float64 `json:"relayed_over_direct"`
	// CPU seconds per GB moved: the two hosts' process, direct and
	// relayed, and the relay's (its own process, or 0 when in this one).
	RelayProcess    bool    `json:"relay_own_process"`
	DirectCPU       float64 `json:"direct_cpu_s_per_gb"`
	RelayedHostsCPU float64 `json:"relayed_hosts_cpu_s_per_gb"`
	RelayCPU        float64 `json:"relay_cpu_s_per_gb"`
}

type capacity struct {
	Nodes     int     `json:"nodes"`
	Networks  int     `json:"networks"`
	Conns     int     `json:"connections"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"registrations_per_s"`
	CPUPerReg float64 `json:"cpu_us_per_registration"`
	// Renewal: the same nodes again, same proofs, new records.
	RenewSeconds   float64 `json:"renewal_seconds"`
	RenewPerSecond float64 `json:"renewals_per_s"`
	RenewCPUPerReg float64 `json:"cpu_us_per_renewal"`
	BytesPerNode   float64 `json:"heap_bytes_per_node"`
	HeapMB         float64 `json:"heap_mb_after"`
	Registrations  int     `json:"registrations_held"`
}

func main() {
	var c config
	flag.Int64Var(&c.bytes, "bytes", 256<<20, "bytes per throughput run")
	flag.IntVar(&c.nodes, "nodes", 10000, "simulated nodes to register")
	flag.IntVar(&c.networks, "networks", 10, "networks the simulated nodes belong to")
	flag.IntVar(&c.conns, "conns", 12, "client connections for registrations")
	flag.IntVar(&c.workers, "workers", 6, "concurrent registrations per connection (below control.Limits.ControlStreamsPerPeer, 8: the control plane resets a peer's streams past it, and a closing stream still counts a moment)")
	flag.BoolVar(&c.json, "json", false, "print JSON")
	flag.StringVar(&c.only, "only", "", "run one part only: throughput or capacity")
	flag.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of the measured part(s) to this file")
	flag.StringVar(&c.memprof, "memprofile", "", "write an allocation profile to this file at the end")
	flag.StringVar(&c.transports, "transports", "tcp,quic", "transports of the throughput runs")
	flag.BoolVar(&c.serve, "serve", false, "run only a control plane (the relay's child process): print its ID and addresses, serve until stdin closes")
	flag.BoolVar(&c.inproc, "relay-inproc", false, "run the relay for the throughput runs in this process instead of a child")
	flag.StringVar(&c.relayProf, "relay-cpuprofile", "", "write a CPU profile of the relay's child process to this file")
	flag.IntVar(&c.relayBuf, "relay-buffer", 0, "the relay's copy buffer per circuit direction (0: control.RelayLimits' default)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "controlbench:", err)
		os.Exit(1)
	}
}

func startServer(ctx context.Context, c config) (*control.Server, *control.Plans, error) {
	plans := control.DefaultPlans()
	plans.Plans["bench"] = control.Plan{Networks: c.networks + 10, Nodes: c.nodes + 10, Bytes: 1 << 50}
	plans.Default = "bench"
	srv, err := control.New(control.Config{
		Listen: []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"},
		Plans:  plans,
		Relay:  control.RelayLimits{BufferSize: c.relayBuf},
	})
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Start(ctx); err != nil {
		return nil, nil, err
	}
	return srv, plans, nil
}

// serve is the relay's child process: a control plane that prints its ID
// and addresses, one a line, then "ready", and serves until stdin closes;
// then it prints the CPU time it spent.
func serve(c config) error {
	srv, _, err := startServer(context.Background(), c)
	if err != nil {
		return err
	}
	defer srv.Close()
	if c.cpuprof != "" {
		f, err := os.Create(c.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	fmt.Println(srv.ID())
	for _, a := range srv.Host().Addrs() {
		fmt.Println(a)
	}
	fmt.Println("ready")
	// Each line on stdin asks for the CPU time spent so far.
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(cpuTime().Nanoseconds())
	}
	return nil
}

// relayProc is the relay's child process.
type relayProc struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
	ai  peer.AddrInfo
}

func startRelay(c config) (*relayProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", "-relay-buffer", strconv.Itoa(c.relayBuf)}
	if c.relayProf != "" {
		args = append(args, "-cpuprofile", c.relayProf)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &relayProc{cmd: cmd, in: in, out: bufio.NewScanner(stdout)}
	for r.out.Scan() {
		line := r.out.Text()
		switch {
		case line == "ready":
			return r, nil
		case r.ai.ID == "":
			if r.ai.ID, err = peer.Decode(line); err != nil {
				r.stop()
				return nil, fmt.Errorf("relay process: %q: %w", line, err)
			}
		default:
			a, err := ma.NewMultiaddr(line)
			if err != nil {
				r.stop()
				return nil, fmt.Errorf("relay process: %q: %w", line, err)
			}
			r.ai.Addrs = append(r.ai.Addrs, a)
		}
	}
	r.stop()
	return nil, errors.New("relay process ended before it was ready")
}

// cpu is the relay process's CPU time so far.
func (r *relayProc) cpu() time.Duration {
	fmt.Fprintln(r.in, "cpu")
	if !r.out.Scan() {
		return 0
	}
	n, _ := strconv.ParseInt(r.out.Text(), 10, 64)
	return time.Duration(n)
}

func (r *relayProc) stop() {
	r.in.Close()
	r.cmd.Wait()
}

func run(c config) error {
	ctx := context.Background()
	if c.serve {
		return serve(c)
	}
	srv, plans, err := startServer(ctx, c)
	if err != nil {
		return err
	}
	defer srv.Close()
	net := newNetwork()
	if c.cpuprof != "" {
		f, err := os.Create(c.cpuprof)
		if err != nil {
			return err
		}
		defer f.Close()
		// Started by the first measured phase, so that setup (generating
		// keys and certificates) stays out of it.
		startProfile = sync.OnceFunc(func() { pprof.StartCPUProfile(f) })
		defer pprof.StopCPUProfile()
	}
	if c.memprof != "" {
		runtime.MemProfileRate = 4096
		defer func() {
			if f, err := os.Create(c.memprof); err == nil {
				pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}

	var tps []throughput
	if c.only == "" || c.only == "throughput" {
		rl := relayOf{ai: peer.AddrInfo{ID: srv.ID(), Addrs: srv.Host().Addrs()}, cpu: func() time.Duration { return 0 }}
		if !c.inproc {
			rp, err := startRelay(c)
			if err != nil {
				return fmt.Errorf("relay process: %w", err)
			}
			defer rp.stop()
			rl = relayOf{ai: rp.ai, cpu: rp.cpu, own: true}
		}
		for _, tr := range strings.Split(c.transports, ",") {
			tp, err := measureThroughput(ctx, rl, net, tr, c.bytes)
			if err != nil {
				return fmt.Errorf("%s throughput: %w", tr, err)
			}
			tps = append(tps, tp)
		}
	}
	var cp capacity
	if c.only == "" || c.only == "capacity" {
		if cp, err = measureCapacity(ctx, srv, plans, c); err != nil {
			return fmt.Errorf("capacity: %w", err)
		}
	}
	if c.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"throughput": tps, "capacity": cp})
	}
	if len(tps) > 0 {
		if err := printThroughput(tps); err != nil {
			return err
		}
	}
	if c.only == "throughput" {
		return nil
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "nodes\tnetworks\tconns\tphase\tseconds\tregistrations/s\tCPU µs/registration\theap bytes/node\theap MB\t")
	fmt.Fprintf(w, "%d\t%d\t%d\tfirst\t%.2f\t%.0f\t%.0f\t%.0f\t%.1f\t\n", cp.Nodes, cp.Networks, cp.Conns, cp.Seconds, cp.PerSecond, cp.CPUPerReg, cp.BytesPerNode, cp.HeapMB)
	fmt.Fprintf(w, "%d\t%d\t%d\trenewal\t%.2f\t%.0f\t%.0f\t\t\t\n", cp.Nodes, cp.Networks, cp.Conns, cp.RenewSeconds, cp.RenewPerSecond, cp.RenewCPUPerReg)
	return w.Flush()
}

func printThroughput(tps []throughput) error {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "transport\tMiB\tdirect Gbit/s\trelayed Gbit/s\trelayed/direct\tCPU s/GB direct\thosts relayed\trelay\t")
	for _, t := range tps {
		relay := fmt.Sprintf("%.2f", t.RelayCPU)
		if !t.RelayProcess {
			relay = "(in hosts)"
		}
		fmt.Fprintf(w, "%s\t%d\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%s\t\n", t.Transport, t.Bytes>>20, t.DirectGbps, t.RelayedGbps, t.Ratio, t.DirectCPU, t.RelayedHostsCPU, relay)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Println()
	return nil
}

// network is a generated network: its genesis and owner key.
type testNet struct {
	owner   ed25519.PrivateKey
	genesis *ledger.Op
	id      ledger.NetworkID
}

func newNetwork() *testNet {
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	nonce := make([]byte, ledger.NonceSize)
	rand.Read(nonce)
	g := &ledger.Op{V: ledger.Version, Time: time.Now().UnixMilli(), Kind: ledger.KindGenesis,
		SubjectName: "owner", Name: "bench", NetKind: "user", Nonce: nonce}
	g.Sign(owner)
	return &testNet{owner: owner, genesis: g, id: ledger.NetworkID(g.ID())}
}

// proofFor makes a guest certificate for a node key.
func (n *testNet) proofFor(pub ed25519.PublicKey) []byte {
	var k [32]byte
	copy(k[:], pub)
	_, u, _ := ed25519.GenerateKey(rand.Reader)
	user := identity.UserIDOf(u.Public().(ed25519.PublicKey))
	c := member.IssueCert(n.owner, n.id, k, user, ledger.RoleGuest, time.Now(), time.Hour)
	return (&member.Proof{Genesis: n.genesis, Cert: c}).Marshal()
}

func newHost(tr string, listen bool) (host.Host, ed25519.PrivateKey, error) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
	opts := []libp2p.Option{libp2p.Identity(k), libp2p.Security(noise.ID, noise.New), libp2p.EnableRelay(), libp2p.DisableMetrics()}
	switch tr {
	case "tcp":
		opts = append(opts, libp2p.Transport(tcp.NewTCPTransport), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	case "quic":
		opts = append(opts, libp2p.Transport(quic.NewTransport), libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))
	}
	if !listen {
		opts = append(opts, libp2p.NoListenAddrs)
	}
	h, err := libp2p.New(opts...)
	return h, priv, err
}

func serverAddrs(srv *control.Server, tr string) []ma.Multiaddr {
	return addrsFor(srv.Host().Addrs(), tr)
}

func addrsFor(addrs []ma.Multiaddr, tr string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if _, err := a.ValueForProtocol(ma.P_QUIC_V1); (err == nil) == (tr == "quic") {
			out = append(out, a)
		}
	}
	return out
}

// relayOf is the control plane that relays: its address, whether it runs
// in a process of its own, and that process's CPU time so far.
type relayOf struct {
	ai  peer.AddrInfo
	own bool
	cpu func() time.Duration
}

func register(ctx context.Context, h host.Host, srv peer.ID, proof []byte) error {
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	env, err := record.Seal(rec, h.Peerstore().PrivKey(h.ID()))
	if err != nil {
		return err
	}
	eb, _ := env.Marshal()
	_, err = controlproto.Register(ctx, h, srv, proof, eb, time.Hour)
	return err
}

func measureThroughput(ctx context.Context, rl relayOf, net *testNet, tr string, size int64) (throughput, error) {
	out := throughput{Transport: tr, Bytes: size, RelayProcess: rl.own}
	a, ak, err := newHost(tr, true)
	if err != nil {
		return out, err
	}
	defer a.Close()
	b, bk, err := newHost(tr, true)
	if err != nil {
		return out, err
	}
	defer b.Close()
	got := make(chan int64, 1)
	b.SetStreamHandler(benchProto, func(s network.Stream) {
		n, _ := io.Copy(io.Discard, s)
		s.Write([]byte{1})
		s.Close()
		got <- n
	})
	relayInfo := peer.AddrInfo{ID: rl.ai.ID, Addrs: addrsFor(rl.ai.Addrs, tr)}
	for _, x := range []struct {
		h host.Host
		k ed25519.PrivateKey
	}{{a, ak}, {b, bk}} {
		if err := x.h.Connect(ctx, relayInfo); err != nil {
			return out, err
		}
		if err := register(ctx, x.h, rl.ai.ID, net.proofFor(x.k.Public().(ed25519.PublicKey))); err != nil {
			return out, err
		}
	}
	if _, err := client.Reserve(ctx, b, relayInfo); err != nil {
		return out, fmt.Errorf("reserve: %w", err)
	}
	var circuit []ma.Multiaddr
	for _, ra := range relayInfo.Addrs {
		circuit = append(circuit, ra.Encapsulate(ma.StringCast("/p2p/"+rl.ai.ID.String()+"/p2p-circuit")))
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: circuit}); err != nil {
		return out, fmt.Errorf("connect through relay: %w", err)
	}
	cpu0, rcpu0 := cpuTime(), rl.cpu()
	relayed, err := bulk(ctx, a, b.ID(), size, got)
	if err != nil {
		return out, fmt.Errorf("relayed: %w", err)
	}
	gb := float64(size) / 1e9
	out.RelayedHostsCPU = (cpuTime() - cpu0).Seconds() / gb
	out.RelayCPU = (rl.cpu() - rcpu0).Seconds() / gb
	a.Network().ClosePeer(b.ID())
	a.Peerstore().ClearAddrs(b.ID())
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		return out, fmt.Errorf("connect directly: %w", err)
	}
	cpu0 = cpuTime()
	direct, err := bulk(ctx, a, b.ID(), size, got)
	if err != nil {
		return out, fmt.Errorf("direct: %w", err)
	}
	out.DirectCPU = (cpuTime() - cpu0).Seconds() / gb
	out.RelayedGbps, out.DirectGbps = relayed, direct
	out.Ratio = relayed / direct
	return out, nil
}

// bulk sends size bytes on one stream and returns Gbit/s, timed until the
// receiver has read them all.
func bulk(ctx context.Context, h host.Host, to peer.ID, size int64, got chan int64) (float64, error) {
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "bench"), to, benchProto)
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 64<<10)
	rand.Read(buf)
	startProfile()
	start := time.Now()
	for sent := int64(0); sent < size; {
		n := min(int64(len(buf)), size-sent)
		if _, err := s.Write(buf[:n]); err != nil {
			return 0, err
		}
		sent += n
	}
	s.CloseWrite()
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		return 0, err
	}
	el := time.Since(start)
	s.Close()
	if n := <-got; n != size {
		return 0, fmt.Errorf("receiver got %d bytes, want %d", n, size)
	}
	return float64(size) * 8 / el.Seconds() / 1e9, nil
}

// startProfile starts the CPU profile (-cpuprofile) when a measured phase
// begins.
var startProfile = func() {}

type simNode struct {
	proof, env, renew []byte
}

func measureCapacity(ctx context.Context, srv *control.Server, plans *control.Plans, c config) (capacity, error) {
	out := capacity{Nodes: c.nodes, Networks: c.networks, Conns: c.conns}
	nets := make([]*testNet, c.networks)
	for i := range nets {
		nets[i] = newNetwork()
	}
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/198.51.100.7/udp/4242/quic-v1"), ma.StringCast("/ip4/198.51.100.7/tcp/4242")}
	sims := make([]simNode, c.nodes)
	for i := range sims {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		k, _ := crypto.UnmarshalEd25519PrivateKey(priv)
		id, _ := peer.IDFromPrivateKey(k)
		// Two records: the first registration's and a renewal's, which a
		// node signs afresh (a newer sequence number) each time.
		var envs [2][]byte
		for j := range envs {
			env, err := record.Seal(peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: id, Addrs: addrs}), k)
			if err != nil {
				return out, err
			}
			envs[j], _ = env.Marshal()
		}
		sims[i] = simNode{proof: nets[i%len(nets)].proofFor(pub), env: envs[0], renew: envs[1]}
	}
	var clients []host.Host
	for i := 0; i < c.conns; i++ {
		h, _, err := newHost("tcp", false)
		if err != nil {
			return out, err
		}
		defer h.Close()
		if err := h.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: serverAddrs(srv, "tcp")}); err != nil {
			return out, err
		}
		clients = append(clients, h)
	}
	before := srv.Registrations()
	heap0 := heap()
	startProfile()
	el, cpu, err := registerAll(ctx, srv, clients, c.workers, sims, func(n *simNode) []byte { return n.env })
	if err != nil {
		return out, err
	}
	heap1 := heap()
	out.Registrations = srv.Registrations() - before
	if out.Registrations != c.nodes {
		return out, fmt.Errorf("control plane holds %d registrations, want %d", out.Registrations, c.nodes)
	}
	out.Seconds = el.Seconds()
	out.PerSecond = float64(c.nodes) / el.Seconds()
	out.CPUPerReg = float64(cpu.Microseconds()) / float64(c.nodes)
	out.BytesPerNode = float64(int64(heap1)-int64(heap0)) / float64(c.nodes)
	out.HeapMB = float64(heap1) / (1 << 20)

	// Renewal: every node registers again with the same proof and a new
	// record, as each does every few minutes (what a control plane
	// serves all day).
	el, cpu, err = registerAll(ctx, srv, clients, c.workers, sims, func(n *simNode) []byte { return n.renew })
	if err != nil {
		return out, fmt.Errorf("renewal: %w", err)
	}
	if n := srv.Registrations() - before; n != c.nodes {
		return out, fmt.Errorf("control plane holds %d registrations after renewal, want %d", n, c.nodes)
	}
	out.RenewSeconds = el.Seconds()
	out.RenewPerSecond = float64(c.nodes) / el.Seconds()
	out.RenewCPUPerReg = float64(cpu.Microseconds()) / float64(c.nodes)
	runtime.KeepAlive(sims)
	return out, nil
}

// registerAll registers every sim node, workers at a time on each client
// connection, and returns the time it took and the CPU the process spent
// (both sides: the clients and the control plane).
func registerAll(ctx context.Context, srv *control.Server, clients []host.Host, workers int, sims []simNode, env func(*simNode) []byte) (time.Duration, time.Duration, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	cpu0 := cpuTime()
	start := time.Now()
	for _, h := range clients {
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(h host.Host) {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= int64(len(sims)) {
						return
					}
					_, err := controlproto.Register(ctx, h, srv.ID(), sims[i].proof, env(&sims[i]), time.Hour)
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
						return
					}
				}
			}(h)
		}
	}
	wg.Wait()
	return time.Since(start), cpuTime() - cpu0, firstErr
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
