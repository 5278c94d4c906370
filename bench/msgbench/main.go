// Command msgbench measures coconet messaging between two nodes on loopback
// beside raw go-libp2p streams doing the same work, in the same run, and
// prints the ratios.
//
// Both sides send each message on a new stream: the sender writes a
// uvarint-length frame, closes its write side, reads a small ack and closes
// the stream. Coconet does this through the public API (Node.Send and
// Node.Messages) with its JSON frames, member checks and inbox; the raw side
// does it with two plain libp2p hosts built with the same transports,
// security and muxer (TCP and QUIC, Noise, yamux), no gater, and raw bytes —
// the floor coconet's protocol runs on. The raw pair is connected over the
// same transport coconet's nodes chose (or the one forced with -transport).
//
// Absolute figures are noisy; read the ratios.
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

	"github.com/coconet/coconet/bench/internal/benchpair"
	"github.com/coconet/coconet/bench/internal/benchstat"
	"github.com/coconet/coconet/engine"

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
	flag.StringVar(&cfg.only, "only", "both", "both, coconet or raw: which side to measure (for profiling one side)")
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
	case "both", "coconet", "raw":
	default:
		return fmt.Errorf("-only %q: use both, coconet or raw", cfg.only)
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
	cocoTransport, err := coco.side.transport()
	if err != nil {
		return err
	}
	logf("coconet nodes connected over %s", cocoTransport)

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

	sides := []*side{&coco.side, &raw.side}
	if cfg.only == "coconet" {
		sides = sides[:1]
	} else if cfg.only == "raw" {
		sides = sides[1:]
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

type cocoPair struct {
	side
	alice, bob *engine.Engine
	stop       func() // ends the subscription and its reader
	cleanup    func() // removes the homes, once the nodes are closed
}

func (c *cocoPair) close() {
	c.stop()
	c.alice.Close()
	c.bob.Close()
	c.cleanup()
}

// setupCoconet does what two users would: alice creates a network and
// invites bob, bob joins, and both start their nodes on 127.0.0.1.
func setupCoconet(ctx context.Context, cfg config, logf func(string, ...any)) (_ *cocoPair, err error) {
	var nodeLog func(string, ...any)
	if cfg.verbose {
		nodeLog = logf
	}
	pair, err := benchpair.Start(ctx, "msgbench", nodeLog)
	if err != nil {
		return nil, err
	}
	cleanup := pair.Close
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	fail := func(e error) (*cocoPair, error) { return nil, e }
	alice, bob := pair.Alice, pair.Bob

	ah, bh := alice.Node().Host(), bob.Node().Host()
	connected := func() bool {
		return len(ah.Network().ConnsToPeer(bob.PeerID())) > 0 && len(bh.Network().ConnsToPeer(alice.PeerID())) > 0
	}
	// Bob's node learned alice's addresses from the join and dials her.
	if err := waitFor(ctx, "the nodes to connect", 15*time.Second, connected); err != nil {
		return fail(err)
	}
	// Bob reads his messages as an app would; the count checks that every
	// acknowledged message reached him.
	msgs, unsub := bob.Messages()
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range msgs {
			got.Add(1)
		}
	}()
	// A send also proves that each side admits the other as a member.
	if err := waitFor(ctx, "a first message", 15*time.Second, func() bool {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		return alice.Send(sctx, "bob", []byte("hello")) == nil
	}); err != nil {
		return fail(err)
	}
	if cfg.transport != "auto" {
		if err := forceTransport(ctx, ah, bh, cfg.transport); err != nil {
			return fail(fmt.Errorf("connect coconet's nodes over %s: %w", cfg.transport, err))
		}
	}

	p := &cocoPair{
		side: side{
			name:     "coconet",
			send:     func(ctx context.Context, data []byte) error { return alice.Send(ctx, "bob", data) },
			received: got.Load,
			transport: func() (string, error) {
				return connTransport(ah, bob.PeerID())
			},
		},
		alice: alice, bob: bob,
		stop:    func() { unsub(); <-done },
		cleanup: cleanup,
	}
	p.side.acked.Store(1) // the hello
	return p, nil
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

type row struct {
	Metric  string  `json:"metric"`
	Unit    string  `json:"unit"`
	Coconet float64 `json:"coconet"`
	Raw     float64 `json:"raw_libp2p"`
	// Ratio is coconet/raw for rates and raw/coconet for times and costs,
	// so 1.0 is parity and below 1 means coconet does worse.
	Ratio float64 `json:"ratio"`
}

type report struct {
	Transport  string                  `json:"transport"`
	MsgBytes   int                     `json:"msg_bytes"`
	Senders    int                     `json:"parallel_senders"`
	Rounds     int                     `json:"rounds"`
	GOMAXPROCS int                     `json:"gomaxprocs"`
	GoVersion  string                  `json:"go_version"`
	Rows       []row                   `json:"rows"`
	RTT        map[string]rttResult    `json:"rtt"`
	Throughput map[string][]tputResult `json:"throughput"`
	Note       string                  `json:"note"`
}

type sideResult struct {
	rttSamples []time.Duration
	tput       []tputResult
}

const ratioNote = "ratio = coconet/raw for throughput, raw/coconet for latency and per-message cost: 1.00 is parity, below 1 means coconet is slower or costlier"

func buildReport(cfg config, transport string, res map[string]*sideResult) report {
	empty := &sideResult{tput: make([]tputResult, 2)}
	c, r := cmp.Or(res["coconet"], empty), cmp.Or(res["raw libp2p"], empty)
	cr, rr := summarize(c.rttSamples), summarize(r.rttSamples)
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	rate := func(name, unit string, cv, rv float64) row {
		return row{Metric: name, Unit: unit, Coconet: cv, Raw: rv, Ratio: benchstat.Ratio(cv, rv)}
	}
	cost := func(name, unit string, cv, rv float64) row {
		return row{Metric: name, Unit: unit, Coconet: cv, Raw: rv, Ratio: benchstat.Ratio(rv, cv)}
	}
	rows := []row{
		cost("rtt p50", "µs", us(cr.P50), us(rr.P50)),
		cost("rtt p99", "µs", us(cr.P99), us(rr.P99)),
		cost("rtt mean", "µs", us(cr.Mean), us(rr.Mean)),
	}
	for i := range c.tput {
		ct, rt := c.tput[i], r.tput[i]
		label := fmt.Sprintf("throughput, %d sender(s)", max(ct.Senders, rt.Senders))
		rows = append(rows,
			rate(label, "msg/s", ct.msgPerS(), rt.msgPerS()),
			rate(label, "MB/s", ct.mbPerS(), rt.mbPerS()),
		)
	}
	// Per-message cost at full load: CPU (sender and receiver together)
	// and garbage.
	ct, rt := c.tput[len(c.tput)-1], r.tput[len(r.tput)-1]
	label := fmt.Sprintf(", %d sender(s)", max(ct.Senders, rt.Senders))
	rows = append(rows,
		cost("cpu per message"+label, "µs", ct.perMsg(us(ct.CPU)), rt.perMsg(us(rt.CPU))),
		cost("allocs per message"+label, "allocs", ct.perMsg(float64(ct.Mallocs)), rt.perMsg(float64(rt.Mallocs))),
		cost("bytes allocated per message"+label, "KiB", ct.perMsg(float64(ct.Alloc))/1024, rt.perMsg(float64(rt.Alloc))/1024),
	)
	return report{
		Transport:  transport,
		MsgBytes:   cfg.size,
		Senders:    cfg.conc,
		Rounds:     max(cfg.rounds, 1),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		Rows:       rows,
		RTT:        map[string]rttResult{"coconet": cr, "raw_libp2p": rr},
		Throughput: map[string][]tputResult{"coconet": c.tput, "raw_libp2p": r.tput},
		Note:       ratioNote,
	}
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "coconet vs raw go-libp2p in one run: %d-byte messages, a new stream per message, both over %s,\n", rep.MsgBytes, rep.Transport)
	fmt.Fprintf(w, "%d alternating rounds per measurement, GOMAXPROCS=%d, %s\n\n", rep.Rounds, rep.GOMAXPROCS, rep.GoVersion)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tcoconet\traw libp2p\tratio\t")
	for _, r := range rep.Rows {
		ratio := "-"
		if r.Ratio != 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", r.Metric, r.Unit, num(r.Coconet), num(r.Raw), ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, ratioNote+".")
	fmt.Fprintln(w, "MB/s counts payload bytes (10^6 per MB); cpu is the whole process (sender and receiver) per acknowledged message.")
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
