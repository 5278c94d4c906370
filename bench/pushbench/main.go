// Command pushbench measures the coconet push server for tiny devices
// (package gateway) beside Mosquitto 2 and plain TCP, both sides in one run,
// and prints the ratios:
//
//   - 10,000 concurrent device connections: memory per connection of the
//     push server (registered ids) and of Mosquitto (subscribed clients);
//   - PUSH RID one-to-one: messages per second and latency p50/p99 beside
//     Mosquitto QoS 0 one-to-one, on one push server and across two push
//     servers of a network (over the P2P network);
//   - the raw channel's throughput beside a plain TCP connection and a TCP
//     relay (io.Copy both ways, the same extra hop), on one push server and
//     across two (device → server A → P2P stream → server B → device).
//
// bench/push.sh starts Mosquitto and runs this. The push servers run in a
// child process (this program with -serve). Absolute figures are noisy on
// a shared machine; read the ratios.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/gateway"
)

// benchKey is the account key of the bench's devices.
const benchKey = "11FE313037C5327CD35BAC6C8D66867F"

// p2p says the push servers speak the P2Pcluster dialect (the default of
// `coco push-server`): replies and pushes have no terminator, ids are
// upper-cased. Commands end with "\n" either way, so the server never
// waits for its read pause.
var p2p = true

// pairSeq numbers the pairs of devices.
var pairSeq atomic.Int64

type config struct {
	mqtt     string // Mosquitto's host:port; "" skips it
	mqttPID  int    // Mosquitto's pid, for its RSS
	conns    int
	samples  int
	duration time.Duration
	size     int
	window   int
	rawMB    int
	rounds   int
	only     string
	jsonOut  bool
}

func main() {
	var cfg config
	serveMode := flag.String("serve", "", "internal: run the push servers (single or pair) as the child process")
	relayTo := flag.String("relay-to", "", "internal: with -serve, also relay TCP to this address")
	flag.StringVar(&cfg.mqtt, "mqtt", "", "Mosquitto's address, HOST:PORT (empty skips Mosquitto)")
	flag.IntVar(&cfg.mqttPID, "mqtt-pid", 0, "Mosquitto's process ID, to read its memory")
	flag.IntVar(&cfg.conns, "conns", 10000, "concurrent device connections")
	flag.IntVar(&cfg.samples, "n", 2000, "latency samples per system")
	flag.DurationVar(&cfg.duration, "duration", 2*time.Second, "length of each throughput run (split into rounds)")
	flag.IntVar(&cfg.size, "size", 32, "payload bytes per push")
	flag.IntVar(&cfg.window, "window", 32, "pushes in flight in the throughput runs (the push server queues 64 per device)")
	flag.IntVar(&cfg.rawMB, "raw-mb", 256, "MiB per raw-channel / TCP throughput run")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds alternating the systems")
	flag.StringVar(&cfg.only, "only", "conns,rid,p2p,raw", "which parts to run")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the report as JSON")
	dialect := flag.String("dialect", "p2pcluster", "the push servers' dialect: p2pcluster or coconet")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the push servers' process to FILE.single and FILE.pair")
	flag.Parse()
	d, err := gateway.ParseDialect(*dialect)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(2)
	}
	p2p = d == gateway.DialectP2Pcluster
	if *serveMode != "" {
		if cpuProfile != "" {
			stop, err := startCPUProfile(cpuProfile + "." + *serveMode)
			if err != nil {
				fmt.Fprintln(os.Stderr, "pushbench -serve:", err)
				os.Exit(1)
			}
			defer stop()
		}
		if err := serve(*serveMode, benchKey, *relayTo); err != nil {
			fmt.Fprintln(os.Stderr, "pushbench -serve:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pushbench:", err)
		os.Exit(1)
	}
}

// child is a push server process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	ready ready
	once  sync.Once
}

func startChild(mode, relayTo string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", mode, "-dialect", benchDialect().String()}
	if relayTo != "" {
		args = append(args, "-relay-to", relayTo)
	}
	if cpuProfile != "" {
		args = append(args, "-cpuprofile", cpuProfile)
	}
	cmd := exec.Command(exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
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
	c := &child{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	line, err := c.out.ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &c.ready)
	}
	if err != nil {
		c.close()
		return nil, fmt.Errorf("push server process (%s) did not start: %v", mode, err)
	}
	return c, nil
}

func (c *child) mem() (memReport, error) {
	var m memReport
	if _, err := io.WriteString(c.stdin, "mem\n"); err != nil {
		return m, err
	}
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(line, &m)
}

// close stops the process (EOF on its stdin) and waits for it; it is
// idempotent.
func (c *child) close() {
	c.once.Do(func() {
		c.stdin.Close()
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-done
		}
	})
}

// row is one line of the report.
type row struct {
	Metric  string  `json:"metric"`
	Unit    string  `json:"unit"`
	Coconet float64 `json:"coconet"`
	Other   float64 `json:"other"`
	Vs      string  `json:"vs"`
	Ratio   float64 `json:"ratio"` // higher is better for coconet; 1 is parity
}

type report struct {
	Conns    int    `json:"conns"`
	Size     int    `json:"size"`
	Window   int    `json:"window"`
	Rows     []row  `json:"rows"`
	Note     string `json:"note"`
	NoFile   uint64 `json:"rlimit_nofile"`
	BusyRuns int    `json:"busy_replies"` // [FAIL:BUSY] replies seen in throughput runs (should be 0)
}

const note = "ratio: higher is better for coconet, 1.00 is parity (throughput: coconet/other; latency and memory: other/coconet)"

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func run(cfg config, out io.Writer) error {
	nofile, err := raiseNoFile()
	if err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	rep := report{Conns: cfg.conns, Size: cfg.size, Window: cfg.window, Note: note, NoFile: nofile}
	parts := strings.Split(cfg.only, ",")
	want := func(p string) bool { return slices.Contains(parts, p) }
	mq := cfg.mqtt
	// The 10,000 connections come last: closing them keeps Mosquitto busy
	// for a moment, which would weigh on what follows.
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer sink.Close()
	single, err := startChild("single", sink.Addr().String())
	if err != nil {
		return err
	}
	defer single.close()
	addr := single.ready.Push[0]
	if want("rid") {
		rows, busy, err := benchOneToOne(cfg, "PUSH RID 1→1, one push server", func() (oneToOne, error) { return newLinePair(addr, addr, "s", cfg.size) }, mq)
		if err != nil {
			return fmt.Errorf("rid: %w", err)
		}
		rep.BusyRuns += busy
		rep.Rows = append(rep.Rows, rows...)
	}
	var pair []string // the two bridged push servers, for p2p and raw
	closePair := func() {}
	if want("p2p") || want("raw") {
		ch, err := startChild("pair", "")
		if err != nil {
			return err
		}
		defer ch.close() // on errors; at once after the raw part otherwise
		pair, closePair = ch.ready.Push, ch.close
	}
	if want("p2p") {
		a, b := pair[0], pair[1]
		rows, busy, err := benchOneToOne(cfg, "PUSH RID 1→1, across two push servers (P2P)", func() (oneToOne, error) { return newLinePair(a, b, "p", cfg.size) }, mq)
		if err != nil {
			return fmt.Errorf("p2p: %w", err)
		}
		rep.BusyRuns += busy
		rep.Rows = append(rep.Rows, rows...)
	}
	if want("raw") {
		rows, err := benchRaw(cfg, addr, pair, single.ready.Relay, sink)
		if err != nil {
			return fmt.Errorf("raw: %w", err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	closePair()
	if want("conns") {
		rows, err := benchConns(cfg, single, addr)
		if err != nil {
			return fmt.Errorf("connections: %w", err)
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	if cfg.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(out, rep)
	return nil
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "push server bench: %d connections, %d-byte pushes, %d in flight, RLIMIT_NOFILE %d\n\n", rep.Conns, rep.Size, rep.Window, rep.NoFile)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tcoconet\tother\tvs\tratio\t")
	for _, r := range rep.Rows {
		other, rat := "-", "-"
		if r.Vs != "" {
			other, rat = num(r.Other), fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Metric, r.Unit, num(r.Coconet), other, r.Vs, rat)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n"+note+".")
	if rep.BusyRuns > 0 {
		fmt.Fprintf(w, "%d pushes got [FAIL:BUSY] (the receiver's queue was full).\n", rep.BusyRuns)
	}
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

// --- 10,000 connections ---

const connBatch = 50 // Mosquitto listens with a backlog of 100: more SYNs at once are dropped and retried a second later

// benchConns connects cfg.conns devices to the push server, each
// registering an id, and as many MQTT clients to Mosquitto, each
// subscribing to its own topic; it reports the memory each system grew by
// per connection.
func benchConns(cfg config, ch *child, addr string) ([]row, error) {
	before, err := ch.mem()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	conns := make([]net.Conn, 0, cfg.conns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	buf := make([]byte, 64)
	for i := 0; i < cfg.conns; i += connBatch {
		first := len(conns)
		for j := i; j < min(i+connBatch, cfg.conns); j++ {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return nil, fmt.Errorf("device %d: %w", j, err)
			}
			conns = append(conns, c)
			if _, err := fmt.Fprintf(c, "TCP:ID:%s:dev%d\n", benchKey, j); err != nil {
				return nil, err
			}
		}
		for k, c := range conns[first:] {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := c.Read(buf)
			if err != nil || !strings.HasPrefix(strings.ToUpper(string(buf[:n])), "[OK:DEV") {
				return nil, fmt.Errorf("device %d registered: %q, %v", i+k, buf[:n], err)
			}
		}
	}
	took := time.Since(start)
	after, err := ch.mem()
	if err != nil {
		return nil, err
	}
	n := float64(cfg.conns)
	kib := func(b int64) float64 { return float64(b) / 1024 / n }
	rss := kib(after.RSS - before.RSS)
	heap := kib(after.Heap - before.Heap)
	stack := kib(after.Stack - before.Stack)
	rows := []row{
		{Metric: fmt.Sprintf("%d connections: RSS per connection", cfg.conns), Unit: "KiB", Coconet: rss},
		{Metric: "  Go heap per connection", Unit: "KiB", Coconet: heap},
		{Metric: "  goroutine stacks per connection", Unit: "KiB", Coconet: stack},
		{Metric: "  goroutines per connection", Unit: "", Coconet: float64(after.Goroutines-before.Goroutines) / n},
		{Metric: "  connect+register rate", Unit: "conn/s", Coconet: n / took.Seconds()},
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	if cfg.mqtt == "" || cfg.mqttPID == 0 {
		return rows, nil
	}
	mrss, mrate, err := mqttConns(cfg)
	if err != nil {
		return nil, fmt.Errorf("mosquitto: %w", err)
	}
	rows[0].Other, rows[0].Vs, rows[0].Ratio = mrss, "Mosquitto", ratio(mrss, rss)
	rows[4].Other, rows[4].Vs, rows[4].Ratio = mrate, "Mosquitto", ratio(rows[4].Coconet, mrate)
	return rows, nil
}

func mqttConns(cfg config) (rssPerConn, rate float64, err error) {
	before, err := rssOf(cfg.mqttPID)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	conns := make([]*mqttConn, 0, cfg.conns)
	defer func() {
		for _, c := range conns {
			c.nc.Close()
		}
	}()
	for i := 0; i < cfg.conns; i += connBatch {
		first := len(conns)
		for j := i; j < min(i+connBatch, cfg.conns); j++ {
			c, err := startConnect(cfg.mqtt, "dev"+strconv.Itoa(j), "d/dev"+strconv.Itoa(j))
			if err != nil {
				return 0, 0, fmt.Errorf("client %d: %w", j, err)
			}
			conns = append(conns, c)
		}
		for k, c := range conns[first:] {
			c.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err := c.finishConnect(); err != nil {
				return 0, 0, fmt.Errorf("client %d: %w", i+k, err)
			}
		}
	}
	took := time.Since(start)
	time.Sleep(200 * time.Millisecond) // let it settle, as the push server's GC does
	after, err := rssOf(cfg.mqttPID)
	if err != nil {
		return 0, 0, err
	}
	n := float64(cfg.conns)
	return float64(after-before) / 1024 / n, n / took.Seconds(), nil
}

// --- one-to-one pushes ---

// oneToOne is a sender and a receiver on one system.
type oneToOne interface {
	send(payload []byte) error // queue a push
	flush() error
	recv() ([]byte, error) // the receiver's next push
	busy() int             // pushes refused as BUSY so far
	close()
}

// linePair is a sender device and a receiver device of push servers (the
// same or two of a network).
type linePair struct {
	snd, rcv  net.Conn
	w         *bufio.Writer
	r         *bufio.Reader
	prefix    []byte
	size      int // payload bytes
	busyCount atomic.Int64
	wg        sync.WaitGroup
}

// benchDialect is the dialect the bench's push servers speak.
func benchDialect() gateway.Dialect {
	if p2p {
		return gateway.DialectP2Pcluster
	}
	return gateway.DialectCoconet
}

// reply reads the next reply: a line, or up to ']' in the P2Pcluster
// dialect; returned as the coconet form ("[OK:x]", no terminator).
func reply(r *bufio.Reader) (string, error) {
	if p2p {
		b, err := r.ReadSlice(']')
		return string(b), err
	}
	b, err := r.ReadSlice('\n')
	return strings.TrimSuffix(string(b), "\n"), err
}

// registerID registers c as id.
func registerID(c net.Conn, r *bufio.Reader, id string) error {
	if _, err := fmt.Fprintf(c, "TCP:ID:%s:%s\n", benchKey, id); err != nil {
		return err
	}
	want := "[OK:" + id + "]"
	if p2p {
		want = "[OK:" + strings.ToUpper(id) + "]"
	}
	if got, err := reply(r); err != nil || got != want {
		return fmt.Errorf("register %s: %q, %v", id, got, err)
	}
	return nil
}

// expectRead reads exactly want (a push or raw notice without a
// terminator in the P2Pcluster dialect, a line in coconet's).
func expectRead(r *bufio.Reader, want string) error {
	if !p2p {
		want += "\n"
	}
	b := make([]byte, len(want))
	if _, err := io.ReadFull(r, b); err != nil || string(b) != want {
		return fmt.Errorf("got %q, want %q (%v)", b, want, err)
	}
	return nil
}

func newLinePair(sendAddr, recvAddr, tag string, size int) (*linePair, error) {
	rcv, err := net.Dial("tcp", recvAddr)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(rcv, 64<<10)
	// A fresh id for each pair: the P2Pcluster dialect keeps an id for its
	// first connection until the server has seen it close.
	tag += "-" + strconv.FormatInt(pairSeq.Add(1), 10)
	id := "recv-" + tag
	if err := registerID(rcv, r, id); err != nil {
		rcv.Close()
		return nil, err
	}
	snd, err := net.Dial("tcp", sendAddr)
	if err != nil {
		rcv.Close()
		return nil, err
	}
	sr := bufio.NewReaderSize(snd, 64<<10)
	if p2p { // the original's PUSH needs an id
		if err := registerID(snd, sr, "send-"+tag); err != nil {
			snd.Close()
			rcv.Close()
			return nil, err
		}
	}
	p := &linePair{snd: snd, rcv: rcv, w: bufio.NewWriterSize(snd, 64<<10), r: r,
		prefix: []byte("TCP:PUSH:" + benchKey + ":RID:" + id + ":"), size: max(size, 12)}
	// The sender's replies: [OK:1], or [FAIL:BUSY] when the receiver's
	// queue is full; anything else is an error of the bench.
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			line, err := reply(sr)
			if err != nil {
				return
			}
			switch line {
			case "[OK:1]", "[OK:DATA_SENT]":
			case "[FAIL:BUSY]", "[FAIL:REM_LINK]":
				p.busyCount.Add(1)
			default:
				fmt.Fprintf(os.Stderr, "pushbench: sender got %q\n", line)
			}
		}
	}()
	return p, nil
}

func (p *linePair) send(payload []byte) error {
	p.w.Write(p.prefix)
	p.w.Write(payload)
	return p.w.WriteByte('\n')
}

func (p *linePair) flush() error { return p.w.Flush() }

func (p *linePair) recv() ([]byte, error) {
	if p2p { // "PUSH:<payload>": payloads have a fixed size
		b := make([]byte, 5+p.size)
		if _, err := io.ReadFull(p.r, b); err != nil {
			return nil, err
		}
		if string(b[:5]) != "PUSH:" {
			return nil, fmt.Errorf("receiver got %q", b)
		}
		return b[5:], nil
	}
	line, err := p.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(string(line[:min(5, len(line))]), "PUSH:") {
		return nil, fmt.Errorf("receiver got %q", line)
	}
	return line[5 : len(line)-1], nil
}

func (p *linePair) busy() int { return int(p.busyCount.Load()) }

func (p *linePair) close() {
	p.snd.Close()
	p.rcv.Close()
	p.wg.Wait()
}

// mqttPair is a publisher and a subscriber of one topic on Mosquitto.
type mqttPair struct {
	pub, sub *mqttConn
	topic    string
}

func newMQTTPair(addr string) (*mqttPair, error) {
	sub, err := dialMQTT(addr, "bench-sub", 64<<10)
	if err != nil {
		return nil, err
	}
	topic := "bench/recv"
	if err := sub.subscribe(topic); err != nil {
		sub.nc.Close()
		return nil, err
	}
	pub, err := dialMQTT(addr, "bench-pub", 64<<10)
	if err != nil {
		sub.nc.Close()
		return nil, err
	}
	return &mqttPair{pub: pub, sub: sub, topic: topic}, nil
}

func (m *mqttPair) send(payload []byte) error { return m.pub.publish(m.topic, payload) }
func (m *mqttPair) flush() error              { return m.pub.flush() }
func (m *mqttPair) recv() ([]byte, error)     { return m.sub.next() }
func (m *mqttPair) busy() int                 { return 0 }
func (m *mqttPair) close()                    { m.pub.close(); m.sub.close() }

// payload is a printable payload of size bytes (at least 12) that starts
// with seq.
func payload(seq, size int) []byte {
	b := make([]byte, max(size, 12))
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	copy(b, fmt.Sprintf("%012d", seq))
	return b
}

func seqOf(b []byte) int {
	if len(b) < 12 {
		return -1
	}
	n, err := strconv.Atoi(string(b[:12]))
	if err != nil {
		return -1
	}
	return n
}

type tput struct {
	msgs    int
	elapsed time.Duration
}

// benchOneToOne measures latency (one push at a time) and throughput
// (cfg.window in flight) of a coconet pair and of Mosquitto, alternating
// the systems round by round.
func benchOneToOne(cfg config, what string, newPair func() (oneToOne, error), mqttAddr string) ([]row, int, error) {
	type system struct {
		name string
		make func() (oneToOne, error)
		lat  []time.Duration
		tp   tput
	}
	systems := []*system{{name: "coconet", make: newPair}}
	if mqttAddr != "" {
		systems = append(systems, &system{name: "Mosquitto", make: func() (oneToOne, error) { return newMQTTPair(mqttAddr) }})
	}
	busy := 0
	for round := range cfg.rounds {
		order := systems
		if round%2 == 1 {
			order = slices.Clone(systems)
			slices.Reverse(order)
		}
		pairs := make([]oneToOne, len(order))
		defer func() {
			for _, p := range pairs {
				if p != nil {
					p.close()
				}
			}
		}()
		for i, s := range order {
			p, err := s.make()
			if err != nil {
				return nil, 0, fmt.Errorf("%s: %w", s.name, err)
			}
			pairs[i] = p
			if _, err := latency(p, cfg.size, 0, 50); err != nil { // warm up
				return nil, 0, fmt.Errorf("%s latency: %w", s.name, err)
			}
		}
		// Latency samples alternate between the systems in small batches,
		// so that a burst of load on the machine hits both alike.
		n := cfg.samples / cfg.rounds
		for done := 0; done < n; done += latBatch {
			for i, s := range order {
				lat, err := latency(pairs[i], cfg.size, 0, min(latBatch, n-done))
				if err != nil {
					return nil, 0, fmt.Errorf("%s latency: %w", s.name, err)
				}
				s.lat = append(s.lat, lat...)
			}
		}
		for i, s := range order {
			tp, err := throughput(pairs[i], cfg.size, cfg.window, cfg.duration/time.Duration(cfg.rounds))
			busy += pairs[i].busy()
			pairs[i].close()
			pairs[i] = nil
			if err != nil {
				return nil, 0, fmt.Errorf("%s throughput: %w", s.name, err)
			}
			s.tp.msgs += tp.msgs
			s.tp.elapsed += tp.elapsed
		}
	}
	c := systems[0]
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	cp50, cp99 := percentile(c.lat, 50), percentile(c.lat, 99)
	rows := []row{
		{Metric: what + ": throughput", Unit: "msg/s", Coconet: float64(c.tp.msgs) / c.tp.elapsed.Seconds()},
		{Metric: "  latency p50", Unit: "µs", Coconet: us(cp50)},
		{Metric: "  latency p99", Unit: "µs", Coconet: us(cp99)},
	}
	if len(systems) > 1 {
		m := systems[1]
		mt := float64(m.tp.msgs) / m.tp.elapsed.Seconds()
		mp50, mp99 := us(percentile(m.lat, 50)), us(percentile(m.lat, 99))
		rows[0].Other, rows[0].Vs, rows[0].Ratio = mt, "Mosquitto QoS 0", ratio(rows[0].Coconet, mt)
		rows[1].Other, rows[1].Vs, rows[1].Ratio = mp50, "Mosquitto QoS 0", ratio(mp50, rows[1].Coconet)
		rows[2].Other, rows[2].Vs, rows[2].Ratio = mp99, "Mosquitto QoS 0", ratio(mp99, rows[2].Coconet)
	}
	return rows, busy, nil
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

// latBatch is how many latency samples a system takes before the other's
// turn.
const latBatch = 20

// latency sends one push at a time and times its arrival, after warm
// unmeasured ones.
func latency(p oneToOne, size, warm, n int) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for i := range warm + n {
		start := time.Now()
		if err := p.send(payload(i, size)); err != nil {
			return nil, err
		}
		if err := p.flush(); err != nil {
			return nil, err
		}
		b, err := p.recv()
		if err != nil {
			return nil, err
		}
		if seqOf(b) != i {
			return nil, fmt.Errorf("received push %d, want %d", seqOf(b), i)
		}
		if i >= warm {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// throughput keeps window pushes in flight for dur and counts what the
// receiver got, until the last one arrived. A push lost (QoS 0, or BUSY)
// ends the run with an error rather than a wrong figure.
func throughput(p oneToOne, size, window int, dur time.Duration) (tput, error) {
	slots := make(chan struct{}, window)
	var got atomic.Int64
	go func() { // ends when the caller closes p
		for {
			if _, err := p.recv(); err != nil {
				return
			}
			got.Add(1)
			<-slots
		}
	}()
	start := time.Now()
	pl := payload(0, size)
	sent := 0
	for time.Since(start) < dur {
		select {
		case slots <- struct{}{}:
		default:
			if err := p.flush(); err != nil {
				return tput{}, err
			}
			select {
			case slots <- struct{}{}:
			case <-time.After(5 * time.Second):
				return tput{}, fmt.Errorf("no push arrived for 5s (%d sent, %d received, %d BUSY)", sent, got.Load(), p.busy())
			}
		}
		if err := p.send(pl); err != nil {
			return tput{}, err
		}
		sent++
	}
	if err := p.flush(); err != nil {
		return tput{}, err
	}
	deadline := time.Now().Add(5 * time.Second)
	for got.Load() < int64(sent) {
		if time.Now().After(deadline) {
			return tput{}, fmt.Errorf("%d of %d pushes arrived (%d BUSY)", got.Load(), sent, p.busy())
		}
		time.Sleep(50 * time.Microsecond)
	}
	return tput{msgs: sent, elapsed: time.Since(start)}, nil
}

// --- raw channel ---

// benchRaw times -raw-mb MiB one way through a raw channel on one push
// server (addr), through one across the two push servers of pair (a
// device on each), over plain TCP and through a TCP relay, the systems
// taking turns round by round.
func benchRaw(cfg config, addr string, pair []string, relayAddr string, sink net.Listener) ([]row, error) {
	size := int64(cfg.rawMB) << 20
	type system struct {
		name  string
		run   func() (time.Duration, error)
		total time.Duration
	}
	viaSink := func(dialAddr string) func() (time.Duration, error) {
		return func() (time.Duration, error) { return sinkCopy(dialAddr, sink, size) }
	}
	systems := []*system{
		{name: "raw channel", run: func() (time.Duration, error) { return rawCopy(addr, addr, size) }},
		{name: "plain TCP", run: viaSink(sink.Addr().String())},
		{name: "TCP relay", run: viaSink(relayAddr)},
		{name: "raw channel across two push servers", run: func() (time.Duration, error) { return rawCopy(pair[0], pair[1], size) }},
	}
	for round := range cfg.rounds {
		order := slices.Clone(systems)
		for i := 0; i < round%len(order); i++ {
			order = append(order[1:], order[0])
		}
		for _, s := range order {
			d, err := s.run()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.name, err)
			}
			s.total += d
		}
	}
	mbps := func(s *system) float64 { return float64(size) * float64(cfg.rounds) / s.total.Seconds() / 1e6 }
	raw, plain, rel, far := mbps(systems[0]), mbps(systems[1]), mbps(systems[2]), mbps(systems[3])
	return []row{
		{Metric: "raw channel throughput, one push server", Unit: "MB/s", Coconet: raw, Other: plain, Vs: "plain TCP", Ratio: ratio(raw, plain)},
		{Metric: "  (same extra hop)", Unit: "MB/s", Coconet: raw, Other: rel, Vs: "TCP relay (io.Copy)", Ratio: ratio(raw, rel)},
		{Metric: "raw channel across two push servers (P2P)", Unit: "MB/s", Coconet: far, Other: plain, Vs: "plain TCP", Ratio: ratio(far, plain)},
		{Metric: "  (beside one push server)", Unit: "MB/s", Coconet: far, Other: raw, Vs: "raw channel, one server", Ratio: ratio(far, raw)},
	}, nil
}

// rawCopy pairs a device of the push server at addrA and one of addrB (the
// same server or another of the network) on a raw channel and times size
// bytes from the first to the second.
func rawCopy(addrA, addrB string, size int64) (time.Duration, error) {
	dev := func(addr, id string) (net.Conn, *bufio.Reader, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		r := bufio.NewReaderSize(c, 64<<10)
		if err := registerID(c, r, id); err != nil {
			c.Close()
			return nil, nil, err
		}
		return c, r, nil
	}
	a, ar, err := dev(addrA, "raw-a")
	if err != nil {
		return 0, err
	}
	defer a.Close()
	b, br, err := dev(addrB, "raw-b")
	if err != nil {
		return 0, err
	}
	defer b.Close()
	step := func(c net.Conn, r *bufio.Reader, line, want string) error {
		if line != "" {
			if _, err := io.WriteString(c, line+"\n"); err != nil {
				return err
			}
		}
		if err := expectRead(r, want); err != nil {
			return fmt.Errorf("%s: %w", line, err)
		}
		return nil
	}
	if p2p {
		if err := step(a, ar, "TCP:PUSH:"+benchKey+":RAW:raw-b", "[OK:LINK_SYNC]"); err != nil {
			return 0, err
		}
		if err := step(b, br, "", "PUSHRAW:"); err != nil {
			return 0, err
		}
		if err := step(b, br, "TCP:PUSH:"+benchKey+":RAW:raw-a", "[OK:LINK_SYNC]"); err != nil {
			return 0, err
		}
		return timeCopy(a, br, size)
	}
	if err := step(a, ar, "TCP:RAW:"+benchKey+":raw-b", "[OK:WAIT:raw-b]"); err != nil {
		return 0, err
	}
	if err := step(b, br, "", "RAW:raw-a"); err != nil {
		return 0, err
	}
	if err := step(b, br, "TCP:RAW:"+benchKey+":raw-a", "[OK:RAW:raw-a]"); err != nil {
		return 0, err
	}
	if err := step(a, ar, "", "[OK:RAW:raw-b]"); err != nil {
		return 0, err
	}
	return timeCopy(a, br, size)
}

// sinkCopy times size bytes over a connection to dialAddr that ends at the
// sink listener (directly or through the relay).
func sinkCopy(dialAddr string, sink net.Listener, size int64) (time.Duration, error) {
	type acc struct {
		c   net.Conn
		err error
	}
	ac := make(chan acc, 1)
	go func() { c, err := sink.Accept(); ac <- acc{c, err} }()
	c, err := net.Dial("tcp", dialAddr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	a := <-ac
	if a.err != nil {
		return 0, a.err
	}
	defer a.c.Close()
	return timeCopy(c, a.c, size)
}

// timeCopy writes size bytes to w and times until r has read them all.
func timeCopy(w net.Conn, r io.Reader, size int64) (time.Duration, error) {
	buf := make([]byte, 64<<10)
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		var err error
		for left := size; left > 0 && err == nil; {
			n := int64(len(buf))
			if left < n {
				n = left
			}
			_, err = w.Write(buf[:n])
			left -= n
		}
		errc <- err
	}()
	rb := make([]byte, 64<<10)
	if n, err := io.CopyBuffer(io.Discard, io.LimitReader(r, size), rb); err != nil || n != size {
		return 0, fmt.Errorf("read %d of %d bytes: %v", n, size, err)
	}
	d := time.Since(start)
	if err := <-errc; err != nil {
		return 0, err
	}
	return d, nil
}

// cpuProfile (-cpuprofile) is where the push servers' process writes its
// CPU profile.
var cpuProfile string

// startCPUProfile profiles the process into file until stop.
func startCPUProfile(file string) (stop func(), err error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
