// Command floodbench attacks a real coco daemon's push server with idle junk
// connections and measures, before and during the flood, what must keep
// working: `coco status` (the daemon's local API) and a push between two
// registered devices.
//
// bench/pushflood.sh builds coco, starts its daemon (`coco up`) in a
// temporary home and runs this. It creates an account key with `coco push
// key create`, starts `coco push-server` (which names the node), registers
// two devices, measures, then starts -procs child processes (this program
// with -flood) that hold -conns idle connections in all, from -sources
// loopback addresses 127.0.1.x (so the per-IP cap alone cannot stop them),
// dialling again whenever the server closes or refuses one. It measures
// again during the flood and prints the figures.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/bench/internal/benchstat"
)

type config struct {
	coco      string
	home      string
	daemonPID int
	conns     int
	procs     int
	sources   int
	samples   int
	statusN   int
	hold      time.Duration
	jsonOut   bool
}

func main() {
	var cfg config
	flood := flag.Int("flood", 0, "internal: hold this many idle connections to -addr")
	addr := flag.String("addr", "", "internal: with -flood, the push server")
	srcFirst := flag.Int("src-first", 1, "internal: with -flood, the first source 127.0.1.N")
	flag.StringVar(&cfg.coco, "coco", "coco", "the coco binary")
	flag.StringVar(&cfg.home, "home", "", "the home whose daemon runs (coco up)")
	flag.IntVar(&cfg.daemonPID, "daemon-pid", 0, "the daemon's process ID, for its descriptors and memory")
	flag.IntVar(&cfg.conns, "conns", 20000, "idle junk connections held during the flood")
	flag.IntVar(&cfg.procs, "procs", 2, "flood processes (each holds conns/procs; a process's fd limit caps it)")
	flag.IntVar(&cfg.sources, "sources", 100, "source addresses 127.0.1.1… the flood spreads over")
	flag.IntVar(&cfg.samples, "samples", 200, "pushes measured in each phase")
	flag.IntVar(&cfg.statusN, "status", 20, "`coco status` runs measured in each phase")
	flag.DurationVar(&cfg.hold, "hold", 15*time.Second, "how long the flood runs before the measurements (past the push server's 10 s auth timeout, so that the server is closing and the flood redialling)")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print JSON")
	flag.Parse()
	if *flood > 0 {
		runFlood(*addr, *flood, *srcFirst, cfg.sources)
		return
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "floodbench:", err)
		os.Exit(1)
	}
}

// floodStats is what a flood process reports, one JSON line a second.
type floodStats struct {
	Open    int64 `json:"open"`    // connections open now (as far as the flood knows)
	Dials   int64 `json:"dials"`   // connections made
	Refused int64 `json:"refused"` // [FAIL:TOOMANY] read
	Closed  int64 `json:"closed"`  // closed by the server without a line (evicted, or auth timeout)
	DialErr int64 `json:"dial_errors"`
}

// runFlood holds n idle connections to addr from 127.0.1.first… (sources
// addresses, round robin), dialling again after the server closes one.
func runFlood(addr string, n, first, sources int) {
	var st floodStats
	var open, dials, refused, closed, dialErr atomic.Int64
	sem := make(chan struct{}, 256) // dials in flight
	for i := range n {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 1, byte(first+i%sources))}
		go func() {
			d := net.Dialer{LocalAddr: src, Timeout: 5 * time.Second}
			buf := make([]byte, 64)
			for {
				sem <- struct{}{}
				nc, err := d.Dial("tcp", addr)
				<-sem
				if err != nil {
					dialErr.Add(1)
					time.Sleep(500 * time.Millisecond)
					continue
				}
				dials.Add(1)
				open.Add(1)
				m, _ := io.ReadAtLeast(nc, buf, 1) // idle until the server speaks or closes
				open.Add(-1)
				nc.Close()
				if m > 0 && strings.HasPrefix(string(buf[:m]), "[FAIL:TOOMANY]") {
					refused.Add(1)
				} else {
					closed.Add(1)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	enc := json.NewEncoder(os.Stdout)
	for range time.Tick(time.Second) {
		st = floodStats{Open: open.Load(), Dials: dials.Load(), Refused: refused.Load(), Closed: closed.Load(), DialErr: dialErr.Load()}
		if enc.Encode(st) != nil {
			return // the parent is gone
		}
	}
}

// device is a registered tiny device.
type device struct {
	nc net.Conn
	r  *bufio.Reader
}

func dialDevice(addr, key, id string) (*device, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	d := &device{nc, bufio.NewReader(nc)}
	if got, err := d.do("TCP:ID:" + key + ":" + id); err != nil || got != "[OK:"+id+"]" {
		nc.Close()
		return nil, fmt.Errorf("register %s: %q, %v", id, got, err)
	}
	return d, nil
}

func (d *device) do(line string) (string, error) {
	if _, err := io.WriteString(d.nc, line+"\n"); err != nil {
		return "", err
	}
	return d.read()
}

func (d *device) read() (string, error) {
	d.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	l, err := d.r.ReadString('\n')
	return strings.TrimSuffix(l, "\n"), err
}

// phase is what one phase measured.
type phase struct {
	Status     benchstat.Latency `json:"status"`
	StatusFail int               `json:"status_failures"`
	Push       benchstat.Latency `json:"push"`
	PushFail   int               `json:"push_failures"`
	NewDevice  string            `json:"new_device"` // what a device connecting now got
	DaemonFDs  int               `json:"daemon_fds"`
	DaemonRSS  int64             `json:"daemon_rss_kib"`
	Flood      floodStats        `json:"flood"`
	ServerConn int               `json:"server_conns"`
}

type result struct {
	Conns   int   `json:"flood_conns"`
	Before  phase `json:"before"`
	During  phase `json:"during"`
	FDLimit int   `json:"daemon_fd_limit"`
}

func run(cfg config) error {
	coco := func(ctx context.Context, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, cfg.coco, append([]string{"--home", cfg.home}, args...)...)
		cmd.Stderr = os.Stderr
		return cmd.Output()
	}
	ctx := context.Background()
	out, err := coco(ctx, "push", "key", "create", "home", "--name", "flood", "--json")
	if err != nil {
		return fmt.Errorf("push key create: %w", err)
	}
	var k struct{ Key string }
	if err := json.Unmarshal(out, &k); err != nil {
		return err
	}
	// The push server: its first JSON event has the address; later ones
	// the counters.
	srvCtx, stopSrv := context.WithCancel(ctx)
	defer stopSrv()
	srv := exec.CommandContext(srvCtx, cfg.coco, "--home", cfg.home, "push-server", "home", "--listen", "127.0.0.1:0", "--dialect", "coconet", "--json")
	srv.Stderr = os.Stderr
	so, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		return err
	}
	// Stop it, then wait: the deferred stopSrv above runs after this one.
	defer func() { stopSrv(); srv.Wait() }()
	dec := json.NewDecoder(so)
	var ev struct {
		Addr  string `json:"addr"`
		Stats struct {
			Conns int `json:"conns"`
		} `json:"stats"`
	}
	if err := dec.Decode(&ev); err != nil || ev.Addr == "" {
		return fmt.Errorf("push-server did not say where it listens: %v", err)
	}
	addr := ev.Addr
	var serverConns atomic.Int64
	go func() {
		for dec.Decode(&ev) == nil {
			serverConns.Store(int64(ev.Stats.Conns))
		}
	}()
	fmt.Fprintf(os.Stderr, "push server on %s\n", addr)

	sink, err := dialDevice(addr, k.Key, "sink")
	if err != nil {
		return err
	}
	sender, err := dialDevice(addr, k.Key, "sender")
	if err != nil {
		return err
	}
	var floodMu sync.Mutex
	var flood []floodStats
	measure := func(name string) phase {
		var p phase
		var lat []time.Duration
		for i := range cfg.statusN {
			_ = i
			c, cancel := context.WithTimeout(ctx, 10*time.Second)
			t0 := time.Now()
			_, err := coco(c, "status", "--json")
			cancel()
			if err != nil {
				p.StatusFail++
				continue
			}
			lat = append(lat, time.Since(t0))
		}
		p.Status = benchstat.Summarize(lat)
		lat = lat[:0]
		for i := range cfg.samples {
			data := name + strconv.Itoa(i)
			t0 := time.Now()
			got, err := sender.do("TCP:PUSH:" + k.Key + ":RID:sink:" + data)
			if err != nil || got != "[OK:1]" {
				p.PushFail++
				continue
			}
			if got, err := sink.read(); err != nil || got != "PUSH:"+data {
				p.PushFail++
				continue
			}
			lat = append(lat, time.Since(t0))
		}
		p.Push = benchstat.Summarize(lat)
		if d, err := dialDevice(addr, k.Key, "new-"+name); err != nil {
			p.NewDevice = "refused: " + err.Error()
		} else {
			p.NewDevice = "registered"
			d.nc.Close()
		}
		p.DaemonFDs, p.DaemonRSS = procStats(cfg.daemonPID)
		floodMu.Lock()
		for _, f := range flood {
			p.Flood.Open += f.Open
			p.Flood.Dials += f.Dials
			p.Flood.Refused += f.Refused
			p.Flood.Closed += f.Closed
			p.Flood.DialErr += f.DialErr
		}
		floodMu.Unlock()
		p.ServerConn = int(serverConns.Load())
		return p
	}
	res := result{Conns: cfg.conns, FDLimit: fdLimit(cfg.daemonPID)}
	fmt.Fprintln(os.Stderr, "measuring before the flood")
	res.Before = measure("before")

	fmt.Fprintf(os.Stderr, "flooding with %d idle connections from %d processes for %v\n", cfg.conns, cfg.procs, cfg.hold)
	self, _ := os.Executable()
	flood = make([]floodStats, cfg.procs)
	floodCtx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i := range cfg.procs {
		per := cfg.conns / cfg.procs
		srcs := max(cfg.sources/cfg.procs, 1)
		cmd := exec.CommandContext(floodCtx, self, "-flood", strconv.Itoa(per), "-addr", addr,
			"-src-first", strconv.Itoa(1+i*srcs), "-sources", strconv.Itoa(srcs))
		cmd.Stderr = os.Stderr
		po, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			stopFlood()
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := json.NewDecoder(po)
			var st floodStats
			for d.Decode(&st) == nil {
				floodMu.Lock()
				flood[i] = st
				floodMu.Unlock()
			}
			cmd.Wait()
		}()
	}
	time.Sleep(cfg.hold)
	fmt.Fprintln(os.Stderr, "measuring during the flood")
	res.During = measure("during")
	stopFlood()
	wg.Wait()

	if cfg.jsonOut {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("push server flood: %d idle junk connections from %d sources in %d processes (daemon fd limit %d)\n\n", cfg.conns, cfg.sources, cfg.procs, res.FDLimit)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	ms := func(l benchstat.Latency) string {
		return fmt.Sprintf("%.1f / %.1f ms", l.P50/1e3, l.P99/1e3)
	}
	fmt.Fprintln(tw, "\tbefore\tduring\t")
	row := func(name, a, b string) { fmt.Fprintf(tw, "%s\t%s\t%s\t\n", name, a, b) }
	row("coco status p50 / p99", ms(res.Before.Status), ms(res.During.Status))
	row("coco status failures", strconv.Itoa(res.Before.StatusFail), strconv.Itoa(res.During.StatusFail))
	row("push RID p50 / p99 (registered devices)", ms(res.Before.Push), ms(res.During.Push))
	row("push failures", strconv.Itoa(res.Before.PushFail), strconv.Itoa(res.During.PushFail))
	row("a new device connecting", res.Before.NewDevice, res.During.NewDevice)
	row("push server connections", strconv.Itoa(res.Before.ServerConn), strconv.Itoa(res.During.ServerConn))
	row("daemon open fds", strconv.Itoa(res.Before.DaemonFDs), strconv.Itoa(res.During.DaemonFDs))
	row("daemon RSS", fmt.Sprintf("%d MiB", res.Before.DaemonRSS/1024), fmt.Sprintf("%d MiB", res.During.DaemonRSS/1024))
	f := res.During.Flood
	tw.Flush()
	fmt.Printf("\nflood during the measurement: %d open, %d dialled, %d refused with [FAIL:TOOMANY], %d closed by the server (evicted for a newer connection, or auth timeout), %d dial errors\n",
		f.Open, f.Dials, f.Refused, f.Closed, f.DialErr)
	return nil
}

// procStats reads a process's open descriptors and resident memory (KiB).
func procStats(pid int) (fds int, rssKiB int64) {
	if pid == 0 {
		return 0, 0
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		fds = len(ents)
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			rssKiB, _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	return fds, rssKiB
}

// fdLimit reads a process's soft limit of open files.
func fdLimit(pid int) int {
	if pid == 0 {
		return 0
	}
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max open files") {
			if f := strings.Fields(l); len(f) >= 4 {
				n, _ := strconv.Atoi(f[3])
				return n
			}
		}
	}
	return 0
}
