// Command streambench measures streaming throughput between two coconet
// nodes on loopback (package stream) beside a raw go-libp2p stream between
// two plain hosts with the same transports, security and muxer, over the
// same transport, in the same run, and prints the ratios.
//
// Each transfer is one stream: the sender writes -mib MiB in 128 KiB writes
// and half-closes, the receiver reads to EOF and answers one byte; the time
// runs until that byte arrives. Rounds alternate between the sides.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/bench/internal/benchpair"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"
)

const rawProto = "/streambench/raw/1.0.0"

type config struct {
	mib     int
	rounds  int
	jsonOut bool
}

func main() {
	var cfg config
	flag.IntVar(&cfg.mib, "mib", 128, "MiB per transfer")
	flag.IntVar(&cfg.rounds, "rounds", 5, "transfers per side, alternating")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	flag.Parse()
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "streambench:", err)
		os.Exit(1)
	}
}

// side opens a stream to the receiver, who reads to EOF and answers a byte.
type side struct {
	name string
	open func(ctx context.Context) (io.ReadWriteCloser, func() error, error)
}

func sink(rw io.ReadWriter) {
	buf := make([]byte, 128<<10)
	for {
		if _, err := rw.Read(buf); err != nil {
			break
		}
	}
	rw.Write([]byte{1})
}

func run(cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	coco, transport, closeCoco, err := setupCoconet(ctx)
	if err != nil {
		return fmt.Errorf("coconet setup: %w", err)
	}
	defer closeCoco()
	raw, closeRaw, err := setupRaw(ctx, transport)
	if err != nil {
		return fmt.Errorf("raw setup: %w", err)
	}
	defer closeRaw()
	buf := make([]byte, 128<<10)
	rand.Read(buf)
	total := int64(cfg.mib) << 20
	rates := map[string][]float64{}
	for r := range max(cfg.rounds, 1) + 1 { // the first round warms up
		order := []*side{coco, raw}
		if r%2 == 1 {
			// Alternate who goes first: the side that runs second pays for
			// the first one's garbage collection and cache state.
			order = []*side{raw, coco}
		}
		for _, s := range order {
			st, closeWrite, err := s.open(ctx)
			if err != nil {
				return fmt.Errorf("%s: open: %w", s.name, err)
			}
			t0 := time.Now()
			for sent := int64(0); sent < total; sent += int64(len(buf)) {
				if _, err := st.Write(buf); err != nil {
					return fmt.Errorf("%s: write: %w", s.name, err)
				}
			}
			closeWrite()
			var ack [1]byte
			if _, err := io.ReadFull(st, ack[:]); err != nil {
				return fmt.Errorf("%s: no ack: %w", s.name, err)
			}
			d := time.Since(t0)
			st.Close()
			if r > 0 {
				rates[s.name] = append(rates[s.name], float64(total)/d.Seconds()/1e6)
			}
		}
	}
	med := func(v []float64) float64 { v = slices.Clone(v); slices.Sort(v); return v[len(v)/2] }
	best := func(v []float64) float64 { return slices.Max(v) }
	c, w := rates["coconet"], rates["raw libp2p"]
	rep := report{Transport: transport, MiB: cfg.mib, Rounds: cfg.rounds, GOMAXPROCS: runtime.GOMAXPROCS(0),
		Rows: []row{
			{"throughput, median", "MB/s", med(c), med(w), med(c) / med(w)},
			{"throughput, best", "MB/s", best(c), best(w), best(c) / best(w)},
		},
		Note: "ratio = coconet/raw: 1.00 is parity; the goal is at least 0.90"}
	if cfg.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(out, "streaming: coconet stream vs raw go-libp2p stream, both over %s on loopback,\n", transport)
	fmt.Fprintf(out, "%d MiB per transfer, %d alternating rounds, GOMAXPROCS=%d\n\n", cfg.mib, cfg.rounds, rep.GOMAXPROCS)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tcoconet\traw libp2p\tratio\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.2f\t\n", r.Metric, r.Unit, r.Coconet, r.Raw, r.Ratio)
	}
	tw.Flush()
	fmt.Fprintln(out, "\n"+rep.Note+".")
	return nil
}

type row struct {
	Metric  string  `json:"metric"`
	Unit    string  `json:"unit"`
	Coconet float64 `json:"coconet"`
	Raw     float64 `json:"raw_libp2p"`
	Ratio   float64 `json:"ratio"`
}

type report struct {
	Transport  string `json:"transport"`
	MiB        int    `json:"mib_per_transfer"`
	Rounds     int    `json:"rounds"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	Rows       []row  `json:"rows"`
	Note       string `json:"note"`
}

func setupCoconet(ctx context.Context) (_ *side, transport string, closeAll func(), err error) {
	pair, err := benchpair.Start(ctx, "streambench", nil)
	if err != nil {
		return nil, "", nil, err
	}
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		pair.Close()
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	alice, bob := pair.Alice, pair.Bob
	as, bs := alice.Streams(), bob.Streams()
	l, err := as.Listen("sink")
	if err != nil {
		return
	}
	closers = append(closers, func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); sink(c) }()
		}
	}()
	to := alice.PeerID()
	s := &side{name: "coconet", open: func(ctx context.Context) (io.ReadWriteCloser, func() error, error) {
		c, err := bs.Dial(ctx, to, "sink")
		if err != nil {
			return nil, nil, err
		}
		return c, c.CloseWrite, nil
	}}
	for deadline := time.Now().Add(20 * time.Second); ; {
		c, _, derr := s.open(ctx)
		if derr == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return nil, "", nil, derr
		}
		time.Sleep(50 * time.Millisecond)
	}
	conns := bob.Node().Host().Network().ConnsToPeer(to)
	if len(conns) == 0 {
		return nil, "", nil, fmt.Errorf("no connection")
	}
	transport = "tcp"
	if _, e := conns[0].RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1); e == nil {
		transport = "quic"
	}
	return s, transport, closeAll, nil
}

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
		libp2p.Muxer(yamux.ID, yamux.DefaultTransport),
		libp2p.DisableRelay(),
	)
}

func setupRaw(ctx context.Context, transport string) (*side, func(), error) {
	a, err := newRawHost()
	if err != nil {
		return nil, nil, err
	}
	b, err := newRawHost()
	if err != nil {
		a.Close()
		return nil, nil, err
	}
	closeAll := func() { a.Close(); b.Close() }
	b.SetStreamHandler(rawProto, func(s network.Stream) { defer s.Close(); sink(s) })
	var addrs []ma.Multiaddr
	for _, x := range b.Addrs() {
		if strings.Contains(x.String(), "/quic-v1") == (transport == "quic") {
			addrs = append(addrs, x)
		}
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: addrs}); err != nil {
		closeAll()
		return nil, nil, err
	}
	return &side{name: "raw libp2p", open: func(ctx context.Context) (io.ReadWriteCloser, func() error, error) {
		s, err := a.NewStream(ctx, b.ID(), rawProto)
		if err != nil {
			return nil, nil, err
		}
		return s, s.CloseWrite, nil
	}}, closeAll, nil
}
