// Command rpcbench measures request/reply round trips between two coconet
// nodes on loopback (package rpc) beside NATS request/reply through a
// nats-server on 127.0.0.1, in the same run, and prints the ratios.
//
// Both sides answer a small payload from a handler on the other end, one
// request at a time; the measurement is split into rounds that alternate
// between the sides so a change in the machine's load hits both alike.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/bench/internal/benchpair"
	"github.com/coconet/coconet/bench/internal/benchstat"

	"github.com/nats-io/nats.go"

	"github.com/coconet/coconet/rpc"
)

type config struct {
	size       int
	samples    int
	rounds     int
	conc       int
	warmup     int
	jsonOut    bool
	only       string
	natsServer string
	cpuprofile string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.size, "size", 16, "request and reply payload size in bytes")
	flag.IntVar(&cfg.samples, "n", 5000, "round trips per side")
	flag.IntVar(&cfg.rounds, "rounds", 5, "alternating rounds")
	flag.IntVar(&cfg.conc, "c", 16, "callers in flight for the throughput run (0 skips it)")
	flag.IntVar(&cfg.warmup, "warmup", 500, "unmeasured round trips per side first")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	flag.StringVar(&cfg.only, "only", "both", "both, coconet or nats")
	flag.StringVar(&cfg.natsServer, "nats-server", "nats-server", "path of the nats-server binary")
	flag.StringVar(&cfg.cpuprofile, "cpuprofile", "", "write a CPU profile of the measurements to this file")
	flag.Parse()
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rpcbench:", err)
		os.Exit(1)
	}
}

type side struct {
	name  string
	call  func(ctx context.Context, p []byte) ([]byte, error)
	close func()
}

func run(cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var sides []*side
	if cfg.only != "nats" {
		s, err := setupCoconet(ctx)
		if err != nil {
			return fmt.Errorf("coconet setup: %w", err)
		}
		defer s.close()
		sides = append(sides, s)
	}
	if cfg.only != "coconet" {
		s, err := setupNATS(ctx, cfg.natsServer)
		if err != nil {
			return fmt.Errorf("nats setup: %w", err)
		}
		defer s.close()
		sides = append(sides, s)
	}
	if cfg.cpuprofile != "" {
		f, err := os.Create(cfg.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	payload := make([]byte, cfg.size)
	rand.Read(payload)
	samples := map[string][]time.Duration{}
	tput := map[string]float64{}
	for _, s := range sides {
		for range cfg.warmup {
			if _, err := s.call(ctx, payload); err != nil {
				return fmt.Errorf("%s: warm-up: %w", s.name, err)
			}
		}
	}
	rounds := max(cfg.rounds, 1)
	for r := range rounds {
		for _, s := range alternate(sides, r) {
			n := cfg.samples/rounds + btoi(r < cfg.samples%rounds)
			for range n {
				t0 := time.Now()
				got, err := s.call(ctx, payload)
				d := time.Since(t0)
				if err != nil {
					return fmt.Errorf("%s: %w", s.name, err)
				}
				if len(got) != len(payload) {
					return fmt.Errorf("%s: reply of %d bytes, want %d", s.name, len(got), len(payload))
				}
				samples[s.name] = append(samples[s.name], d)
			}
		}
	}
	if cfg.conc > 0 {
		for _, s := range sides {
			n, err := throughput(ctx, s, payload, cfg.conc, 2*time.Second)
			if err != nil {
				return err
			}
			tput[s.name] = n
		}
	}
	rep := buildReport(cfg, samples, tput)
	if cfg.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(out, rep)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// throughput keeps conc calls in flight for d and returns calls per second.
func throughput(ctx context.Context, s *side, payload []byte, conc int, d time.Duration) (float64, error) {
	var (
		mu    sync.Mutex
		n     int
		first error
		wg    sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := 0
			for time.Now().Before(end) {
				if _, err := s.call(ctx, payload); err != nil {
					mu.Lock()
					first = cmpErr(first, err)
					mu.Unlock()
					return
				}
				k++
			}
			mu.Lock()
			n += k
			mu.Unlock()
		}()
	}
	wg.Wait()
	if first != nil {
		return 0, fmt.Errorf("%s: throughput: %w", s.name, first)
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// ---- coconet ----

func setupCoconet(ctx context.Context) (_ *side, err error) {
	pair, err := benchpair.Start(ctx, "rpcbench", nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			pair.Close()
		}
	}()
	alice, as, bs := pair.Alice, pair.Alice.RPC(), pair.Bob.RPC()
	as.Handle("echo", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return req.Payload, nil })
	to := alice.PeerID()
	call := func(ctx context.Context, p []byte) ([]byte, error) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return bs.Request(ctx, to, "echo", p)
	}
	// Wait until bob is connected and admitted.
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := call(ctx, []byte("hi")); err == nil {
			break
		} else if time.Now().After(deadline) {
			return nil, fmt.Errorf("first request: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return &side{name: "coconet", call: call, close: pair.Close}, nil
}

// ---- NATS ----

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func setupNATS(ctx context.Context, bin string) (_ *side, err error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("%s not found (bench/rpc.sh installs the nats-server package): %w", bin, err)
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	srv := exec.Command(path, "-a", "127.0.0.1", "-p", fmt.Sprint(port))
	if err := srv.Start(); err != nil {
		return nil, err
	}
	var closers []func()
	closers = append(closers, func() { srv.Process.Kill(); srv.Wait() })
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	var server *nats.Conn
	for deadline := time.Now().Add(10 * time.Second); ; {
		server, err = nats.Connect(url)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connect to nats-server: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	closers = append(closers, server.Close)
	if _, err := server.Subscribe("echo", func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		return nil, err
	}
	if err := server.Flush(); err != nil {
		return nil, err
	}
	client, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	closers = append(closers, client.Close)
	call := func(ctx context.Context, p []byte) ([]byte, error) {
		m, err := client.Request("echo", p, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	if _, err := call(ctx, []byte("hi")); err != nil {
		return nil, errors.New("first nats request failed: " + err.Error())
	}
	return &side{name: "nats", call: call, close: closeAll}, nil
}

// ---- report ----

type stats struct {
	benchstat.Latency
	PerSec float64 `json:"requests_per_s,omitempty"`
}

type row struct {
	Metric  string  `json:"metric"`
	Unit    string  `json:"unit"`
	Coconet float64 `json:"coconet"`
	NATS    float64 `json:"nats"`
	Ratio   float64 `json:"ratio"`
}

type report struct {
	PayloadBytes int              `json:"payload_bytes"`
	Rounds       int              `json:"rounds"`
	Callers      int              `json:"parallel_callers"`
	GOMAXPROCS   int              `json:"gomaxprocs"`
	Stats        map[string]stats `json:"stats"`
	Rows         []row            `json:"rows"`
	Note         string           `json:"note"`
}

const note = "ratio = nats/coconet for latency, coconet/nats for requests per second: 1.00 is parity, above 1 means coconet does better"

func buildReport(cfg config, samples map[string][]time.Duration, tput map[string]float64) report {
	c, n := stats{Latency: benchstat.Summarize(samples["coconet"])}, stats{Latency: benchstat.Summarize(samples["nats"])}
	c.PerSec, n.PerSec = tput["coconet"], tput["nats"]
	rows := []row{
		{"round trip p50", "µs", c.P50, n.P50, benchstat.Ratio(n.P50, c.P50)},
		{"round trip p99", "µs", c.P99, n.P99, benchstat.Ratio(n.P99, c.P99)},
		{"round trip mean", "µs", c.Mean, n.Mean, benchstat.Ratio(n.Mean, c.Mean)},
	}
	if cfg.conc > 0 {
		rows = append(rows, row{fmt.Sprintf("requests/s, %d callers", cfg.conc), "req/s", c.PerSec, n.PerSec, benchstat.Ratio(c.PerSec, n.PerSec)})
	}
	return report{PayloadBytes: cfg.size, Rounds: max(cfg.rounds, 1), Callers: cfg.conc, GOMAXPROCS: runtime.GOMAXPROCS(0),
		Stats: map[string]stats{"coconet": c, "nats": n}, Rows: rows, Note: note}
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "request/reply: coconet rpc vs NATS request/reply (nats-server on 127.0.0.1), %d-byte payloads,\n", rep.PayloadBytes)
	fmt.Fprintf(w, "one request at a time, %d alternating rounds, GOMAXPROCS=%d\n\n", rep.Rounds, rep.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tcoconet\tnats\tratio\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t%.2f\t\n", r.Metric, r.Unit, r.Coconet, r.NATS, r.Ratio)
	}
	tw.Flush()
	fmt.Fprintln(w)
	fmt.Fprintln(w, note+".")
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
