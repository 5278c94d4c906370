// Command msgbench measures coconet's acknowledged messages (package msg)
// beside rpc requests between the same two nodes and beside raw go-libp2p
// streams doing a message's work, in the same run, and prints the ratios.
//
// The three sides:
//
//   - msg: msg.Service.Send of 1 KiB to the other node, which queues it in
//     its inbox and acknowledges; a consumer drains the subscription.
//   - rpc: rpc.Service.Request of the same 1 KiB to a handler that counts it
//     and answers an empty reply, on the same nodes and the same rpc
//     service msg runs on: the ceiling msg's goal is set against (issue 18:
//     msg with 16 senders at least 0.8 of rpc's requests/s).
//   - raw libp2p: the old message protocol's floor, a new stream per
//     message on two plain libp2p hosts built with the node's transports,
//     security and muxer (TCP and QUIC, Noise, yamux), no gater: the
//     sender writes a uvarint-length frame, closes its write side and reads
//     a one-byte ack.
//
// The nodes are built below the library's face: a ledger written by the
// owner, node.Node, rpc.New and msg.New (internal/nodetest). The raw pair
// is connected over the transport the nodes chose (or the one forced with
// -transport). Absolute figures are noisy; read the ratios.
package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
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
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/bench/internal/benchstat"
	"github.com/coconet/coconet/internal/nodetest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// rawProto is the baseline's protocol; it is not coconet's.
const rawProto = "/msgbench/raw/1.0.0"

type config struct {
	size       int
	samples    int
	duration   time.Duration
	count      int
	conc       int
	warmup     int
	rounds     int
	transport  string
	jsonOut    bool
	only       string
	cpuprofile string
	memprofile string
	verbose    bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.size, "size", 1024, "message payload size in bytes")
	flag.IntVar(&cfg.samples, "n", 2000, "round-trip samples per side")
	flag.DurationVar(&cfg.duration, "duration", 3*time.Second, "length of each throughput run (ignored when -count is set)")
	flag.IntVar(&cfg.count, "count", 0, "messages per throughput run instead of a fixed duration")
	flag.IntVar(&cfg.conc, "c", 16, "concurrent senders for the parallel throughput run")
	flag.IntVar(&cfg.rounds, "rounds", 3, "split each measurement into this many rounds alternating between the sides")
	flag.IntVar(&cfg.warmup, "warmup", 200, "unmeasured messages each side sends before the measurements")
	flag.StringVar(&cfg.transport, "transport", "auto", "auto (whatever coconet's nodes pick), tcp or quic")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	flag.StringVar(&cfg.only, "only", "all", "all, msg, rpc or raw: which side to measure (for profiling one side)")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.StringVar(&cfg.memprofile, "memprofile", "", "write an allocation profile (go tool pprof -sample_index=alloc_space) to this file at the end")
	flag.BoolVar(&cfg.verbose, "v", false, "log setup steps and coconet diagnostics to stderr")
	flag.Parse()
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "msgbench:", err)
		os.Exit(1)
	}
}

// sendFunc sends one message and returns once the receiver acknowledged it.
type sendFunc func(ctx context.Context, data []byte) error

// side is one system under test.
type side struct {
	name      string
	send      sendFunc
	received  func() int64 // messages the receiver has handed to its consumer
	acked     atomic.Int64 // messages sent and acknowledged through send
	transport func() (string, error)
}

func run(cfg config, out io.Writer) error {
	switch cfg.transport {
	case "auto", "tcp", "quic":
	default:
		return fmt.Errorf("-transport %q: use auto, tcp or quic", cfg.transport)
	}
	switch cfg.only {
	case "all", "msg", "rpc", "raw":
	default:
		return fmt.Errorf("-only %q: use all, msg, rpc or raw", cfg.only)
	}
	if cfg.size <= 0 || cfg.samples <= 0 || cfg.conc <= 0 {
		return errors.New("-size, -n and -c must be positive")
	}
	logf := func(string, ...any) {}
	if cfg.verbose {
		logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, "msgbench: "+f+"\n", a...) }
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	coco, err := setupCoconet(ctx, cfg, logf)
	if err != nil {
		return fmt.Errorf("coconet setup: %w", err)
	}
	defer coco.close()
	cocoTransport, err := coco.msg.transport()
	if err != nil {
		return err
	}
	logf("coconet's nodes connected over %s", cocoTransport)

	raw, err := setupRaw(ctx, cfg, cocoTransport, logf)
	if err != nil {
		return fmt.Errorf("raw libp2p setup: %w", err)
	}
	defer raw.close()
	rawTransport, err := raw.side.transport()
	if err != nil {
		return err
	}
	if rawTransport != cocoTransport {
		return fmt.Errorf("raw pair connected over %s, coconet over %s", rawTransport, cocoTransport)
	}

	var sides []*side
	for _, s := range []*side{&coco.msg, &coco.rpc, &raw.side} {
		if cfg.only == "all" || cfg.only == s.name || cfg.only == "raw" && s == &raw.side {
			sides = append(sides, s)
		}
	}

	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	payload := make([]byte, cfg.size)
	rand.Read(payload)
	res := map[string]*sideResult{}
	for _, s := range sides {
		res[s.name] = &sideResult{}
		if err := warm(ctx, s, payload, cfg.warmup); err != nil {
			return err
		}
	}
	// Every measurement is split into rounds that alternate between the
	// sides, so a change in the machine's load (this machine is shared)
	// hits both sides alike and the ratios stay meaningful.
	rounds := max(cfg.rounds, 1)
	for r := range rounds {
		for _, s := range alternate(sides, r) {
			logf("%s: round trips, round %d", s.name, r+1)
			d, err := measureRTT(ctx, s, payload, share(cfg.samples, rounds, r))
			if err != nil {
				return err
			}
			res[s.name].rttSamples = append(res[s.name].rttSamples, d...)
		}
	}
	for i, conc := range []int{1, cfg.conc} {
		for r := range rounds {
			for _, s := range alternate(sides, r) {
				count := share(cfg.count, rounds, r)
				if cfg.count > 0 && count == 0 {
					continue // fewer messages than rounds
				}
				logf("%s: throughput with %d sender(s), round %d", s.name, conc, r+1)
				t, err := measureThroughput(ctx, s, payload, conc, cfg.duration/time.Duration(rounds), count)
				if err != nil {
					return err
				}
				sr := res[s.name]
				if len(sr.tput) <= i {
					sr.tput = append(sr.tput, tputResult{Senders: conc})
				}
				sr.tput[i].add(t)
			}
		}
	}
	if cfg.memprofile != "" {
		f, err := os.Create(cfg.memprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			return err
		}
	}
	// The connection must not have changed transport under us.
	for _, s := range sides {
		tr, err := s.transport()
		if err != nil {
			return err
		}
		if tr != cocoTransport {
			return fmt.Errorf("%s's connection moved from %s to %s during the run", s.name, cocoTransport, tr)
		}
	}
	rep := buildReport(cfg, cocoTransport, res)
	if cfg.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(out, rep)
	return nil
}

// sendOne sends one message and counts it if it was acknowledged.
func (s *side) sendOne(ctx context.Context, data []byte) error {
	err := s.send(ctx, data)
	if err == nil {
		s.acked.Add(1)
	}
	return err
}

// settle waits until the receiver has handed over every acknowledged
// message: the ack leaves before the consumer has counted the message, and
// on a busy machine the consumer can lag behind by many messages.
func (s *side) settle() error {
	for wait := time.Now().Add(5 * time.Second); s.received() < s.acked.Load(); {
		if time.Now().After(wait) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if got, want := s.received(), s.acked.Load(); got != want {
		return fmt.Errorf("%s: %d messages acknowledged but %d received", s.name, want, got)
	}
	return nil
}

func warm(ctx context.Context, s *side, payload []byte, n int) error {
	for i := 0; i < n; i++ {
		if err := s.sendOne(ctx, payload); err != nil {
			return fmt.Errorf("%s: warm-up send: %w", s.name, err)
		}
	}
	return nil
}

// share splits total into rounds parts and returns part r.
func share(total, rounds, r int) int {
	return total/rounds + btoi(r < total%rounds)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

type rttResult struct {
	Samples int           `json:"samples"`
	P50     time.Duration `json:"p50_ns"`
	P99     time.Duration `json:"p99_ns"`
	Mean    time.Duration `json:"mean_ns"`
}

func summarize(d []time.Duration) rttResult {
	n := len(d)
	if n == 0 {
		return rttResult{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return rttResult{
		Samples: n,
		P50:     d[(n-1)/2],
		P99:     d[int(math.Ceil(0.99*float64(n)))-1],
		Mean:    sum / time.Duration(n),
	}
}

// measureRTT sends n messages one after another and times each.
func measureRTT(ctx context.Context, s *side, payload []byte, n int) ([]time.Duration, error) {
	d := make([]time.Duration, n)
	for i := range d {
		t0 := time.Now()
		if err := s.sendOne(ctx, payload); err != nil {
			return nil, fmt.Errorf("%s: round trip %d: %w", s.name, i, err)
		}
		d[i] = time.Since(t0)
	}
	return d, nil
}

type tputResult struct {
	Senders  int           `json:"senders"`
	Messages int64         `json:"messages"`
	Bytes    int64         `json:"payload_bytes"`
	Elapsed  time.Duration `json:"elapsed_ns"`
	CPU      time.Duration `json:"cpu_ns"` // user+system time of the whole process: sender and receiver
	Mallocs  uint64        `json:"mallocs"`
	Alloc    uint64        `json:"alloc_bytes"`
}

func (t *tputResult) add(u tputResult) {
	t.Messages += u.Messages
	t.Bytes += u.Bytes
	t.Elapsed += u.Elapsed
	t.CPU += u.CPU
	t.Mallocs += u.Mallocs
	t.Alloc += u.Alloc
}

func (t tputResult) msgPerS() float64 {
	return benchstat.Ratio(float64(t.Messages), t.Elapsed.Seconds())
}
func (t tputResult) mbPerS() float64 {
	return benchstat.Ratio(float64(t.Bytes), t.Elapsed.Seconds()) / 1e6
}
func (t tputResult) perMsg(v float64) float64 {
	if t.Messages == 0 {
		return 0
	}
	return v / float64(t.Messages)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureThroughput keeps conc sends in flight until the duration is over
// (or count messages are acknowledged) and checks that the receiver handed
// every acknowledged message to its consumer.
func measureThroughput(ctx context.Context, s *side, payload []byte, conc int, dur time.Duration, count int) (tputResult, error) {
	if err := s.settle(); err != nil {
		return tputResult{}, err
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	cpu0 := cpuTime()
	var (
		sent     atomic.Int64
		claimed  atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	deadline := start.Add(dur)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if count > 0 {
					if claimed.Add(1) > int64(count) {
						return
					}
				} else if time.Now().After(deadline) {
					return
				}
				if err := s.sendOne(ctx, payload); err != nil {
					errOnce.Do(func() { firstErr = err; cancel() })
					return
				}
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	runtime.ReadMemStats(&ms1)
	if firstErr != nil {
		return tputResult{}, fmt.Errorf("%s: send with %d senders: %w", s.name, conc, firstErr)
	}
	if err := s.settle(); err != nil {
		return tputResult{}, err
	}
	n := sent.Load()
	return tputResult{
		Senders:  conc,
		Messages: n,
		Bytes:    n * int64(len(payload)),
		Elapsed:  elapsed,
		CPU:      cpu,
		Mallocs:  ms1.Mallocs - ms0.Mallocs,
		Alloc:    ms1.TotalAlloc - ms0.TotalAlloc,
	}, nil
}

// transportOf names the transport of a connection from its remote address.
func transportOf(c network.Conn) string {
	a := c.RemoteMultiaddr()
	switch {
	case hasProto(a, ma.P_QUIC_V1):
		return "quic"
	case hasProto(a, ma.P_TCP):
		return "tcp"
	default:
		return a.String()
	}
}

func hasProto(a ma.Multiaddr, code int) bool {
	_, err := a.ValueForProtocol(code)
	return err == nil
}

// connTransport reports the transport of h's connection(s) to p; it fails
// if there is none or if they use different transports.
func connTransport(h host.Host, p peer.ID) (string, error) {
	conns := h.Network().ConnsToPeer(p)
	if len(conns) == 0 {
		return "", fmt.Errorf("no connection from %s to %s", h.ID().ShortString(), p.ShortString())
	}
	var kinds []string
	for _, c := range conns {
		if k := transportOf(c); !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) > 1 {
		return "", fmt.Errorf("%d connections to %s over %s", len(conns), p.ShortString(), strings.Join(kinds, " and "))
	}
	return kinds[0], nil
}

// onlyTransport keeps the addresses of one transport.
func onlyTransport(addrs []ma.Multiaddr, transport string) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		quic := hasProto(a, ma.P_QUIC_V1)
		if (transport == "quic") == quic && (quic || hasProto(a, ma.P_TCP)) {
			out = append(out, a)
		}
	}
	return out
}

func waitFor(ctx context.Context, what string, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out after %v waiting for %s", timeout, what)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// ---- coconet ----

// cocoPair is two member nodes with rpc and msg: alice sends, bob receives.
type cocoPair struct {
	msg, rpc side
	net      *nodetest.Net
	services []interface{ Close() error }
	stop     func() // ends the subscription and its reader
	dir      string
}

func (c *cocoPair) close() {
	if c.stop != nil {
		c.stop()
	}
	for i := len(c.services) - 1; i >= 0; i-- {
		c.services[i].Close()
	}
	if c.net != nil {
		c.net.Close()
	}
	os.RemoveAll(c.dir)
}

// benchService is the rpc service of the rpc side: it counts a request and
// answers nothing, as msg's handler does with one status byte.
const benchService = "msgbench.count"

// setupCoconet starts alice (owner) and bob (guest) on 127.0.0.1, each with
// rpc and msg, as an engine would.
func setupCoconet(ctx context.Context, cfg config, logf func(string, ...any)) (_ *cocoPair, err error) {
	var nodeLog func(string, ...any)
	if cfg.verbose {
		nodeLog = logf
	}
	dir, err := os.MkdirTemp("", "msgbench-")
	if err != nil {
		return nil, err
	}
	c := &cocoPair{dir: dir}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	c.net, err = nodetest.Start(ctx, dir, nodeLog, nodetest.User{Name: "alice"}, nodetest.User{Name: "bob", Role: ledger.RoleGuest})
	if err != nil {
		return nil, err
	}
	alice, bob := c.net.Members[0].Node, c.net.Members[1].Node
	var rs []*rpc.Service
	var ms []*msg.Service
	for _, n := range []*node.Node{alice, bob} {
		r, err := rpc.New(n, rpc.Options{Logf: nodeLog})
		if err != nil {
			return nil, err
		}
		c.services = append(c.services, r)
		m, err := msg.New(r, msg.Options{})
		if err != nil {
			return nil, err
		}
		c.services = append(c.services, m)
		rs, ms = append(rs, r), append(ms, m)
	}
	var counted atomic.Int64
	rs[1].Handle(benchService, func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		counted.Add(1)
		return nil, nil
	}, node.Everyone)

	// Bob reads his messages as an app would; the count checks that every
	// acknowledged message reached him.
	msgs, unsub := ms[1].Subscribe()
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range msgs {
			got.Add(1)
		}
	}()
	c.stop = func() { unsub(); <-done }

	ah, bh := alice.Host(), bob.Host()
	if cfg.transport != "auto" {
		if err := forceTransport(ctx, ah, bh, cfg.transport); err != nil {
			return nil, fmt.Errorf("connect coconet's nodes over %s: %w", cfg.transport, err)
		}
	}
	to := bob.ID()
	transport := func() (string, error) { return connTransport(ah, to) }
	c.msg = side{
		name:      "msg",
		send:      func(ctx context.Context, data []byte) error { return ms[0].Send(ctx, to, data) },
		received:  got.Load,
		transport: transport,
	}
	c.rpc = side{
		name: "rpc",
		send: func(ctx context.Context, data []byte) error {
			_, err := rs[0].Request(ctx, to, benchService, data)
			return err
		},
		received:  counted.Load,
		transport: transport,
	}
	return c, nil
}

// forceTransport replaces the connection between two running hosts with one
// over transport. Both sides forget the other's other addresses first, so
// that neither node's reconnect loop redials over the other transport.
func forceTransport(ctx context.Context, a, b host.Host, transport string) error {
	if tr, err := connTransport(b, a.ID()); err == nil && tr == transport {
		return nil
	}
	aAddrs := onlyTransport(a.Addrs(), transport)
	bAddrs := onlyTransport(b.Addrs(), transport)
	if len(aAddrs) == 0 || len(bAddrs) == 0 {
		return fmt.Errorf("no %s listen address", transport)
	}
	a.Peerstore().ClearAddrs(b.ID())
	b.Peerstore().ClearAddrs(a.ID())
	a.Peerstore().AddAddrs(b.ID(), bAddrs, peerstore.PermanentAddrTTL)
	b.Peerstore().AddAddrs(a.ID(), aAddrs, peerstore.PermanentAddrTTL)
	b.Network().ClosePeer(a.ID())
	a.Network().ClosePeer(b.ID())
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: aAddrs}); err != nil {
		return err
	}
	// Identify teaches each side the other's full address list again; a
	// reconnect loop only dials peers with no connection, so this is fine
	// while the connection stays up, which the run checks at the end.
	return waitFor(ctx, "a single "+transport+" connection", 5*time.Second, func() bool {
		x, err1 := connTransport(a, b.ID())
		y, err2 := connTransport(b, a.ID())
		return err1 == nil && err2 == nil && x == transport && y == transport
	})
}

// ---- raw go-libp2p ----

type rawPair struct {
	side
	a, b host.Host
}

func (r *rawPair) close() {
	r.a.Close()
	r.b.Close()
}

// newRawHost builds a host as coconet's node does (node/node.go newHost),
// minus the connection gater.
func newRawHost() (host.Host, error) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	return libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport), // coconet gets it as the default
		libp2p.DisableRelay(),
		libp2p.UserAgent("msgbench-raw"),
		libp2p.Ping(true),
	)
}

func setupRaw(ctx context.Context, cfg config, transport string, logf func(string, ...any)) (*rawPair, error) {
	a, err := newRawHost()
	if err != nil {
		return nil, err
	}
	b, err := newRawHost()
	if err != nil {
		a.Close()
		return nil, err
	}
	r := &rawPair{a: a, b: b}
	var got atomic.Int64
	maxLen := uint64(cfg.size)
	b.SetStreamHandler(rawProto, func(s network.Stream) {
		defer s.Close()
		br := bufio.NewReader(s)
		l, err := binary.ReadUvarint(br)
		if err != nil || l > maxLen {
			s.Reset()
			return
		}
		buf := make([]byte, l)
		if _, err := io.ReadFull(br, buf); err != nil {
			s.Reset()
			return
		}
		got.Add(1)
		s.Write([]byte{0})
	})
	addrs := onlyTransport(b.Addrs(), transport)
	if len(addrs) == 0 {
		r.close()
		return nil, fmt.Errorf("raw host has no %s address in %v", transport, b.Addrs())
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: addrs}); err != nil {
		r.close()
		return nil, err
	}
	logf("raw hosts connected via %v", addrs)
	target := b.ID()
	r.side = side{
		name: "raw libp2p",
		send: func(ctx context.Context, data []byte) error {
			s, err := a.NewStream(ctx, target, rawProto)
			if err != nil {
				return err
			}
			defer s.Close()
			var hdr [binary.MaxVarintLen64]byte
			n := binary.PutUvarint(hdr[:], uint64(len(data)))
			if _, err := s.Write(append(hdr[:n:n], data...)); err != nil {
				s.Reset()
				return err
			}
			s.CloseWrite()
			var ack [1]byte
			if _, err := io.ReadFull(s, ack[:]); err != nil {
				return fmt.Errorf("no ack: %w", err)
			}
			return nil
		},
		received:  got.Load,
		transport: func() (string, error) { return connTransport(a, target) },
	}
	return r, nil
}

// ---- report ----

// row is one metric for the three sides. The ratios are msg/other for
// rates and other/msg for times and costs, so 1.0 is parity and below 1
// means msg does worse.
type row struct {
	Metric      string  `json:"metric"`
	Unit        string  `json:"unit"`
	Msg         float64 `json:"msg"`
	RPC         float64 `json:"rpc"`
	Raw         float64 `json:"raw_libp2p"`
	RatioMsgRPC float64 `json:"ratio_msg_rpc"`
	RatioMsgRaw float64 `json:"ratio_msg_raw"`
}

// goal is issue 18's: msg with the parallel senders at least 0.8 of rpc's
// requests/s in the same run.
type goal struct {
	Senders int     `json:"senders"`
	Ratio   float64 `json:"msg_per_rpc"`
	Want    float64 `json:"want_at_least"`
	Met     bool    `json:"met"`
}

type report struct {
	Transport  string                  `json:"transport"`
	MsgBytes   int                     `json:"msg_bytes"`
	Senders    int                     `json:"parallel_senders"`
	Rounds     int                     `json:"rounds"`
	GOMAXPROCS int                     `json:"gomaxprocs"`
	GoVersion  string                  `json:"go_version"`
	Rows       []row                   `json:"rows"`
	Goal       *goal                   `json:"goal,omitempty"`
	RTT        map[string]rttResult    `json:"rtt"`
	Throughput map[string][]tputResult `json:"throughput"`
	Note       string                  `json:"note"`
}

type sideResult struct {
	rttSamples []time.Duration
	tput       []tputResult
}

const ratioNote = "ratios = msg/rpc and msg/raw for throughput, rpc/msg and raw/msg for latency and per-message cost: 1.00 is parity, below 1 means msg is slower or costlier"

// goalRatio is the share of rpc's requests/s msg must reach with the
// parallel senders.
const goalRatio = 0.8

func buildReport(cfg config, transport string, res map[string]*sideResult) report {
	empty := &sideResult{tput: make([]tputResult, 2)}
	m, r, w := cmp.Or(res["msg"], empty), cmp.Or(res["rpc"], empty), cmp.Or(res["raw libp2p"], empty)
	mr, rr, wr := summarize(m.rttSamples), summarize(r.rttSamples), summarize(w.rttSamples)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	rate := func(name, unit string, mv, rv, wv float64) row {
		return row{Metric: name, Unit: unit, Msg: mv, RPC: rv, Raw: wv, RatioMsgRPC: benchstat.Ratio(mv, rv), RatioMsgRaw: benchstat.Ratio(mv, wv)}
	}
	cost := func(name, unit string, mv, rv, wv float64) row {
		return row{Metric: name, Unit: unit, Msg: mv, RPC: rv, Raw: wv, RatioMsgRPC: benchstat.Ratio(rv, mv), RatioMsgRaw: benchstat.Ratio(wv, mv)}
	}
	rows := []row{
		cost("rtt p50", "µs", us(mr.P50), us(rr.P50), us(wr.P50)),
		cost("rtt p99", "µs", us(mr.P99), us(rr.P99), us(wr.P99)),
		cost("rtt mean", "µs", us(mr.Mean), us(rr.Mean), us(wr.Mean)),
	}
	senders := func(i int) int { return max(m.tput[i].Senders, r.tput[i].Senders, w.tput[i].Senders) }
	for i := range 2 {
		mt, rt, wt := m.tput[i], r.tput[i], w.tput[i]
		label := fmt.Sprintf("throughput, %d sender(s)", senders(i))
		rows = append(rows,
			rate(label, "msg/s", mt.msgPerS(), rt.msgPerS(), wt.msgPerS()),
			rate(label, "MB/s", mt.mbPerS(), rt.mbPerS(), wt.mbPerS()),
		)
	}
	// Per-message cost at full load: CPU (sender and receiver together)
	// and garbage.
	mt, rt, wt := m.tput[1], r.tput[1], w.tput[1]
	label := fmt.Sprintf(", %d sender(s)", senders(1))
	rows = append(rows,
		cost("cpu per message"+label, "µs", mt.perMsg(us(mt.CPU)), rt.perMsg(us(rt.CPU)), wt.perMsg(us(wt.CPU))),
		cost("allocs per message"+label, "allocs", mt.perMsg(float64(mt.Mallocs)), rt.perMsg(float64(rt.Mallocs)), wt.perMsg(float64(wt.Mallocs))),
		cost("bytes allocated per message"+label, "KiB", mt.perMsg(float64(mt.Alloc))/1024, rt.perMsg(float64(rt.Alloc))/1024, wt.perMsg(float64(wt.Alloc))/1024),
	)
	rep := report{
		Transport:  transport,
		MsgBytes:   cfg.size,
		Senders:    cfg.conc,
		Rounds:     max(cfg.rounds, 1),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		Rows:       rows,
		RTT:        map[string]rttResult{"msg": mr, "rpc": rr, "raw_libp2p": wr},
		Throughput: map[string][]tputResult{"msg": m.tput, "rpc": r.tput, "raw_libp2p": w.tput},
		Note:       ratioNote,
	}
	if res["msg"] != nil && res["rpc"] != nil {
		ratio := benchstat.Ratio(mt.msgPerS(), rt.msgPerS())
		rep.Goal = &goal{Senders: senders(1), Ratio: ratio, Want: goalRatio, Met: ratio >= goalRatio}
	}
	return rep
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "acknowledged %d-byte messages (msg) vs rpc requests of the same size between the same two nodes,\n", rep.MsgBytes)
	fmt.Fprintf(w, "and raw go-libp2p with a new stream per message, all over %s,\n", rep.Transport)
	fmt.Fprintf(w, "%d alternating rounds per measurement, GOMAXPROCS=%d, %s\n\n", rep.Rounds, rep.GOMAXPROCS, rep.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tmsg\trpc\traw libp2p\tmsg/rpc\tmsg/raw\t")
	ratio := func(v float64) string {
		if v == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v)
	}
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Metric, r.Unit, num(r.Msg), num(r.RPC), num(r.Raw), ratio(r.RatioMsgRPC), ratio(r.RatioMsgRaw))
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, ratioNote+".")
	fmt.Fprintln(w, "MB/s counts payload bytes (10^6 per MB); cpu is the whole process (sender and receiver) per acknowledged message.")
	if g := rep.Goal; g != nil {
		verdict := "met"
		if !g.Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(w, "goal (issue 18): msg with %d senders >= %.1fx rpc requests/s: %.2f, %s.\n", g.Senders, g.Want, g.Ratio, verdict)
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

// alternate rotates the order of the sides by round, so that no side always
// runs right after another one (and pays for its garbage and cache state).
func alternate[T any](xs []T, round int) []T {
	out := make([]T, 0, len(xs))
	for i := range xs {
		out = append(out, xs[(i+round)%len(xs)])
	}
	return out
}
