// Command pubsubbench measures coconet pub-sub beside NATS (core pub-sub,
// plain and over TLS) and Mosquitto 2 (MQTT QoS 0, with a minimal fast
// client and with paho) in one run on loopback, and prints the ratios.
//
// For each system: one publisher sends as fast as its client allows for
// -duration to one subscriber, to ten and to a hundred, with 16 B and 1 KiB
// payloads. Subscribers 0..9 are each on a connection of their own (for
// coconet a node of its own, each its own libp2p host); subscriber i of a
// hundred is on connection (node) i mod 10 for coconet and NATS, which
// deliver to each subscription, and on a connection of its own for
// Mosquitto (MQTT has one subscription per topic per connection). The rate
// is messages per second delivered to every subscriber: the messages sent
// divided by the time until the slowest subscriber had them all. Each
// scenario runs -rounds times, the systems taking turns, and the median
// counts, so that load on a shared machine hits every system alike. CPU
// per delivered message adds this process's CPU time (every client and
// coconet node runs here) and the broker's (-nats-pid, -mqtt-pid, read
// from /proc), divided by the messages all subscribers received.
// Latency is one message at a time, publish to receipt (taken in the
// receiving callback), 16 B, one subscriber. All clients run in this
// process, like the coconet nodes.
//
// bench/pubsub.sh starts the servers and passes their addresses. Absolute
// figures are noisy on a shared machine; read the ratios.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/pubsub"
)

type config struct {
	natsURL  string
	natsTLS  string
	natsCA   string
	mqttAddr string
	paho     bool
	pids     map[string]int // server process per system name, for its CPU
	only     string
	rounds   int
	duration time.Duration
	latN     int
	jsonOut  bool
	verbose  bool
	cpuprof  string
}

// system is one pub-sub implementation under test.
type system interface {
	name() string
	// subscribe makes subscriber i (0..maxSubs-1) receive topic; onMsg
	// runs for each message.
	subscribe(i int, topic string, onMsg func([]byte)) (unsub func(), err error)
	publish(topic string, data []byte) error
	// flush returns once everything published has left the publisher.
	flush() error
	close()
}

// maxConns is the subscriber connections (coconet: nodes); maxSubs the
// most subscribers of a scenario.
const (
	maxConns = 10
	maxSubs  = 100
)

func main() {
	var cfg config
	flag.StringVar(&cfg.natsURL, "nats", "", "NATS server URL (nats://127.0.0.1:PORT); empty skips NATS")
	flag.StringVar(&cfg.natsTLS, "nats-tls", "", "NATS server URL with TLS (tls://127.0.0.1:PORT); empty skips NATS+TLS")
	flag.StringVar(&cfg.natsCA, "nats-ca", "", "CA certificate (PEM) of the NATS TLS server")
	flag.StringVar(&cfg.mqttAddr, "mqtt", "", "Mosquitto address (tcp://127.0.0.1:PORT); empty skips Mosquitto")
	var natsPID, natsTLSPID, mqttPID int
	flag.IntVar(&natsPID, "nats-pid", 0, "the NATS server's process ID (its CPU counts in CPU per message)")
	flag.IntVar(&natsTLSPID, "nats-tls-pid", 0, "the NATS TLS server's process ID")
	flag.IntVar(&mqttPID, "mqtt-pid", 0, "Mosquitto's process ID")
	flag.BoolVar(&cfg.paho, "paho", true, "also measure Mosquitto with the paho client (1→1 and 1→10)")
	flag.StringVar(&cfg.only, "only", "", "run only the throughput scenarios whose name contains this (e.g. \"1KiB 1→10\")")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds of each throughput scenario (systems take turns; the median counts)")
	flag.DurationVar(&cfg.duration, "duration", time.Second, "publishing time of each throughput run")
	flag.IntVar(&cfg.latN, "n", 2000, "latency samples per system")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print JSON instead of a table")
	flag.BoolVar(&cfg.verbose, "v", false, "log progress to stderr")
	flag.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	cfg.pids = map[string]int{"NATS": natsPID, "NATS+TLS": natsTLSPID, "Mosquitto": mqttPID, pahoName: mqttPID}
	if cfg.cpuprof != "" {
		f, err := os.Create(cfg.cpuprof)
		if err != nil {
			fmt.Fprintln(os.Stderr, "pubsubbench:", err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pubsubbench:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

type result struct {
	System string             `json:"system"`
	Rates  map[string]float64 `json:"msgs_per_s"` // scenario → messages/s per subscriber
	Lost   map[string]int64   `json:"lost,omitempty"`
	// CPU per delivered message (µs): this process (publisher and
	// subscribers; for coconet every node) and the broker's process.
	CPU map[string]float64 `json:"cpu_us_per_delivery"`
	P50 time.Duration      `json:"latency_p50_ns"`
	P99 time.Duration      `json:"latency_p99_ns"`
}

var scenarios = []struct {
	name string
	size int
	fan  int
}{
	{"16B 1→1", 16, 1},
	{"16B 1→10", 16, 10},
	{"1KiB 1→1", 1024, 1},
	{"1KiB 1→10", 1024, 10},
	{"1KiB 1→100", 1024, 100},
}

func run(cfg config, out io.Writer) error {
	logf := func(f string, a ...any) {
		if cfg.verbose {
			fmt.Fprintf(os.Stderr, f+"\n", a...)
		}
	}
	var systems []system
	logf("starting coconet nodes")
	c, err := newCoco(logf)
	if err != nil {
		return fmt.Errorf("coconet: %w", err)
	}
	systems = append(systems, c)
	if cfg.natsURL != "" {
		n, err := newNATS("NATS", cfg.natsURL)
		if err != nil {
			return fmt.Errorf("nats: %w", err)
		}
		systems = append(systems, n)
	}
	if cfg.natsTLS != "" {
		n, err := newNATS("NATS+TLS", cfg.natsTLS, nats.RootCAs(cfg.natsCA))
		if err != nil {
			return fmt.Errorf("nats with TLS: %w", err)
		}
		systems = append(systems, n)
	}
	if cfg.mqttAddr != "" {
		systems = append(systems, &mqttFast{addr: cfg.mqttAddr})
		if cfg.paho {
			m, err := newMQTT(cfg.mqttAddr)
			if err != nil {
				return fmt.Errorf("mosquitto: %w", err)
			}
			systems = append(systems, m)
		}
	}
	defer func() {
		for _, s := range systems {
			s.close()
		}
	}()
	results := make([]result, len(systems))
	samples := make([]map[string][]float64, len(systems))
	cpus := make([]map[string][]float64, len(systems))
	for i, s := range systems {
		results[i] = result{System: s.name(), Rates: map[string]float64{}, Lost: map[string]int64{}, CPU: map[string]float64{}}
		samples[i] = map[string][]float64{}
		cpus[i] = map[string][]float64{}
	}
	for round := range cfg.rounds {
		for k, sc := range scenarios {
			for i, s := range systems {
				if (sc.fan > 10 && s.name() == pahoName) || !strings.Contains(sc.name, cfg.only) {
					continue
				}
				topic := fmt.Sprintf("bench/t%d/r%d", k, round)
				pid := "none"
				if p := cfg.pids[s.name()]; p != 0 {
					pid = strconv.Itoa(p)
				}
				cpu0 := cpuTime("self") + cpuTime(pid)
				rate, lost, delivered, err := throughput(s, topic, sc.size, sc.fan, cfg.duration)
				if err != nil {
					return fmt.Errorf("%s %s: %w", s.name(), sc.name, err)
				}
				if delivered > 0 {
					cpu := cpuTime("self") + cpuTime(pid) - cpu0
					cpus[i][sc.name] = append(cpus[i][sc.name], float64(cpu.Microseconds())/float64(delivered))
				}
				logf("round %d: %s %s: %.0f msg/s (lost %d)", round+1, s.name(), sc.name, rate, lost)
				samples[i][sc.name] = append(samples[i][sc.name], rate)
				results[i].Lost[sc.name] += lost
			}
		}
	}
	for i, s := range systems {
		r := &results[i]
		for name, rs := range samples[i] {
			slices.Sort(rs)
			r.Rates[name] = rs[len(rs)/2]
		}
		for name, cs := range cpus[i] {
			slices.Sort(cs)
			r.CPU[name] = cs[len(cs)/2]
		}
		for name, l := range r.Lost {
			if l == 0 {
				delete(r.Lost, name)
			}
		}
		lat, err := latency(s, "bench/lat", cfg.latN)
		if err != nil {
			return fmt.Errorf("%s latency: %w", s.name(), err)
		}
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
		logf("%s latency p50 %v p99 %v", s.name(), r.P50, r.P99)
	}
	if cfg.jsonOut {
		e := json.NewEncoder(out)
		e.SetIndent("", "  ")
		return e.Encode(map[string]any{"duration_ns": cfg.duration, "results": results, "ratios": ratios(results)})
	}
	printTable(out, results)
	return nil
}

// throughput publishes for dur and reports the per-subscriber delivery rate
// and how many messages the slowest subscriber never received.
func throughput(s system, topic string, size, fan int, dur time.Duration) (float64, int64, int64, error) {
	counts := make([]atomic.Int64, fan)
	var unsubs []func()
	defer func() {
		for _, u := range unsubs {
			u()
		}
	}()
	for i := range fan {
		u, err := s.subscribe(i, topic, func([]byte) { counts[i].Add(1) })
		if err != nil {
			return 0, 0, 0, err
		}
		unsubs = append(unsubs, u)
	}
	payload := make([]byte, size)
	start := time.Now()
	var sent int64
	for time.Since(start) < dur {
		for range 64 {
			if err := s.publish(topic, payload); err != nil {
				return 0, 0, 0, err
			}
			sent++
		}
	}
	if err := s.flush(); err != nil {
		return 0, 0, 0, err
	}
	minCount := func() int64 {
		m := counts[0].Load()
		for i := range counts {
			m = min(m, counts[i].Load())
		}
		return m
	}
	last, lastChange := minCount(), time.Now()
	for last < sent && time.Since(lastChange) < 3*time.Second {
		time.Sleep(time.Millisecond)
		if m := minCount(); m != last {
			last, lastChange = m, time.Now()
		}
	}
	elapsed := lastChange.Sub(start)
	var delivered int64
	for i := range counts {
		delivered += counts[i].Load()
	}
	return float64(last) / elapsed.Seconds(), sent - last, delivered, nil
}

// latency measures publish-to-receipt of one message at a time.
func latency(s system, topic string, n int) ([]time.Duration, error) {
	got := make(chan time.Time, 1)
	u, err := s.subscribe(0, topic, func([]byte) { got <- time.Now() })
	if err != nil {
		return nil, err
	}
	defer u()
	payload := make([]byte, 16)
	var d []time.Duration
	for i := range n + n/10 {
		t0 := time.Now()
		if err := s.publish(topic, payload); err != nil {
			return nil, err
		}
		if err := s.flush(); err != nil {
			return nil, err
		}
		var t1 time.Time
		select {
		case t1 = <-got:
		case <-time.After(5 * time.Second):
			return nil, errors.New("a latency probe was not delivered within 5s")
		}
		if i >= n/10 { // the first tenth warms up
			d = append(d, t1.Sub(t0))
		}
	}
	slices.Sort(d)
	return d, nil
}

func ratios(rs []result) map[string]map[string]float64 {
	out := map[string]map[string]float64{}
	if len(rs) == 0 {
		return out
	}
	c := rs[0]
	for _, o := range rs[1:] {
		m := map[string]float64{}
		for k, v := range c.Rates {
			if o.Rates[k] > 0 {
				m[k] = v / o.Rates[k]
			}
		}
		m["latency p50 (lower is better)"] = float64(c.P50) / float64(o.P50)
		m["latency p99 (lower is better)"] = float64(c.P99) / float64(o.P99)
		out["coconet/"+o.System] = m
	}
	return out
}

func printTable(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"messages/s per subscriber"}
	for _, r := range rs {
		head = append(head, r.System)
	}
	for _, r := range rs[1:] {
		head = append(head, "coconet/"+r.System)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, sc := range scenarios {
		row := []string{sc.name}
		for _, r := range rs {
			cell := fmt.Sprintf("%.0f", r.Rates[sc.name])
			if r.Rates[sc.name] == 0 {
				cell = "—"
			}
			if l := r.Lost[sc.name]; l > 0 {
				cell += fmt.Sprintf(" (lost %d)", l)
			}
			row = append(row, cell)
		}
		for _, r := range rs[1:] {
			if r.Rates[sc.name] == 0 {
				row = append(row, "—")
				continue
			}
			row = append(row, fmt.Sprintf("%.2f", rs[0].Rates[sc.name]/r.Rates[sc.name]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	for _, sc := range scenarios {
		if rs[0].CPU[sc.name] == 0 {
			continue
		}
		row := []string{"CPU µs/delivery " + sc.name}
		for _, r := range rs {
			cell := fmt.Sprintf("%.2f", r.CPU[sc.name])
			if r.CPU[sc.name] == 0 {
				cell = "—"
			}
			row = append(row, cell)
		}
		for _, r := range rs[1:] {
			if r.CPU[sc.name] == 0 {
				row = append(row, "—")
				continue
			}
			row = append(row, fmt.Sprintf("%.2f", r.CPU[sc.name]/rs[0].CPU[sc.name]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	for _, q := range []struct {
		name string
		get  func(result) time.Duration
	}{{"latency p50", func(r result) time.Duration { return r.P50 }}, {"latency p99", func(r result) time.Duration { return r.P99 }}} {
		row := []string{q.name}
		for _, r := range rs {
			row = append(row, q.get(r).Round(time.Microsecond).String())
		}
		for _, r := range rs[1:] {
			row = append(row, fmt.Sprintf("%.2f", float64(q.get(rs[0]))/float64(q.get(r))))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
	fmt.Fprintln(w, "ratios > 1 mean coconet delivers more messages/s, or spends less CPU per delivered message (this process and the broker's, from /proc); for latency < 1 means coconet is faster.")
}

// --- coconet ---

type coco struct {
	tmp   string
	nodes []*engine.Engine
	pss   []*pubsub.PubSub
}

func (c *coco) name() string { return "coconet" }

func newCoco(logf func(string, ...any)) (_ *coco, err error) {
	tmp, err := os.MkdirTemp("", "pubsubbench-")
	if err != nil {
		return nil, err
	}
	c := &coco{tmp: tmp}
	defer func() {
		if err != nil {
			c.close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	names := []string{"pub"}
	for i := range maxConns {
		names = append(names, fmt.Sprintf("sub%d", i))
	}
	for _, name := range names {
		if _, err := homedir.Init(tmp+"/"+name, name); err != nil {
			return nil, err
		}
	}
	if _, err := homedir.CreateNetwork(tmp+"/pub", "bench", "user", ""); err != nil {
		return nil, err
	}
	start := func(name string) (*engine.Engine, error) {
		n, err := engine.StartIn(ctx, tmp+"/"+name, "bench", engine.Config{ListenHost: "127.0.0.1"})
		if err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		ps, err := pubsub.New(n.Node(), pubsub.Options{})
		if err != nil {
			return nil, err
		}
		c.pss = append(c.pss, ps)
		return n, nil
	}
	pub, err := start("pub")
	if err != nil {
		return nil, err
	}
	code, _, err := pub.Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: maxConns, TTL: time.Hour})
	if err != nil {
		return nil, err
	}
	for _, name := range names[1:] {
		if _, _, err := homedir.Join(ctx, tmp+"/"+name, code, homedir.JoinOptions{}); err != nil {
			return nil, fmt.Errorf("join %s: %w", name, err)
		}
		if _, err := start(name); err != nil {
			return nil, err
		}
	}
	logf("coconet: %d nodes up; waiting for connections", len(c.nodes))
	for _, n := range c.nodes[1:] {
		for !pub.Node().IsMember(n.PeerID()) || !n.Node().IsMember(pub.PeerID()) ||
			len(pub.Node().Host().Network().ConnsToPeer(n.PeerID())) == 0 {
			if ctx.Err() != nil {
				return nil, errors.New("the nodes did not connect within 60s")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return c, nil
}

func (c *coco) subscribe(i int, topic string, onMsg func([]byte)) (func(), error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := c.pss[1+i%maxConns].Subscribe(ctx, topic, pubsub.SubscribeOptions{Buffer: 8192})
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range s.C() {
			onMsg(m.Data)
		}
	}()
	return func() { s.Close(); <-done }, nil
}

func (c *coco) publish(topic string, data []byte) error {
	return c.pss[0].Publish(context.Background(), topic, data, pubsub.PublishOptions{})
}

func (c *coco) flush() error { return nil } // Publish hands over to the per-subscriber writers

func (c *coco) close() {
	for _, ps := range c.pss {
		ps.Close()
	}
	for _, n := range c.nodes {
		n.Close()
	}
	os.RemoveAll(c.tmp)
}

// --- NATS ---

type natsSys struct {
	label string
	pub   *nats.Conn
	subs  []*nats.Conn
}

func (n *natsSys) name() string { return n.label }

func newNATS(label, url string, opts ...nats.Option) (*natsSys, error) {
	s := &natsSys{label: label}
	var err error
	if s.pub, err = nats.Connect(url, opts...); err != nil {
		return nil, err
	}
	for range maxConns {
		c, err := nats.Connect(url, opts...)
		if err != nil {
			s.close()
			return nil, err
		}
		s.subs = append(s.subs, c)
	}
	return s, nil
}

// natsFlush bounds a flush's round trip: nats.go's default (10 s) failed
// runs on a machine at a load average of 19.
const natsFlush = time.Minute

func natsSubject(topic string) string { return strings.ReplaceAll(topic, "/", ".") }

func (n *natsSys) subscribe(i int, topic string, onMsg func([]byte)) (func(), error) {
	c := n.subs[i%maxConns]
	sub, err := c.Subscribe(natsSubject(topic), func(m *nats.Msg) { onMsg(m.Data) })
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	if err := c.FlushTimeout(natsFlush); err != nil {
		return nil, err
	}
	return func() { sub.Unsubscribe(); c.FlushTimeout(natsFlush) }, nil
}

func (n *natsSys) publish(topic string, data []byte) error {
	return n.pub.Publish(natsSubject(topic), data)
}

func (n *natsSys) flush() error { return n.pub.FlushTimeout(natsFlush) }

func (n *natsSys) close() {
	if n.pub != nil {
		n.pub.Close()
	}
	for _, c := range n.subs {
		c.Close()
	}
}

// --- Mosquitto (MQTT 3.1.1, QoS 0) ---

type mqttSys struct {
	pub  mqtt.Client
	subs []mqtt.Client
	mu   sync.Mutex
	last mqtt.Token
}

const pahoName = "Mosquitto (paho)"

func (m *mqttSys) name() string { return pahoName }

func newMQTT(addr string) (*mqttSys, error) {
	s := &mqttSys{}
	connect := func(id string) (mqtt.Client, error) {
		o := mqtt.NewClientOptions().AddBroker(addr).SetClientID(id).SetCleanSession(true).
			SetAutoReconnect(false).SetMessageChannelDepth(1 << 16).SetWriteTimeout(10 * time.Second)
		c := mqtt.NewClient(o)
		t := c.Connect()
		if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
			return nil, fmt.Errorf("connect %s: %v", addr, t.Error())
		}
		return c, nil
	}
	var err error
	if s.pub, err = connect("bench-pub"); err != nil {
		return nil, err
	}
	for i := range maxConns {
		c, err := connect(fmt.Sprintf("bench-sub%d", i))
		if err != nil {
			s.close()
			return nil, err
		}
		s.subs = append(s.subs, c)
	}
	return s, nil
}

func (m *mqttSys) subscribe(i int, topic string, onMsg func([]byte)) (func(), error) {
	t := m.subs[i].Subscribe(topic, 0, func(_ mqtt.Client, msg mqtt.Message) { onMsg(msg.Payload()) })
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("subscribe: %v", t.Error())
	}
	return func() { m.subs[i].Unsubscribe(topic).WaitTimeout(10 * time.Second) }, nil
}

func (m *mqttSys) publish(topic string, data []byte) error {
	t := m.pub.Publish(topic, 0, false, data)
	m.last = t
	return nil
}

func (m *mqttSys) flush() error {
	if m.last != nil && (!m.last.WaitTimeout(30*time.Second) || m.last.Error() != nil) {
		return fmt.Errorf("publish: %v", m.last.Error())
	}
	return nil
}

func (m *mqttSys) close() {
	if m.pub != nil {
		m.pub.Disconnect(100)
	}
	m.pub = nil
	for _, c := range m.subs {
		c.Disconnect(100)
	}
}

// --- Mosquitto with the fast client ---

type mqttFast struct {
	addr string
	pub  *mqttConn
	subs []*mqttConn // dialled as needed: subscriber i on connection i
}

func (m *mqttFast) name() string { return "Mosquitto" }

func (m *mqttFast) subscribe(i int, topic string, onMsg func([]byte)) (func(), error) {
	for len(m.subs) <= i {
		c, err := dialMQTT(m.addr, fmt.Sprintf("fast-sub%d", len(m.subs)))
		if err != nil {
			return nil, err
		}
		m.subs = append(m.subs, c)
	}
	return m.subs[i].subscribe(topic, onMsg)
}

func (m *mqttFast) publish(topic string, data []byte) error {
	if m.pub == nil {
		c, err := dialMQTT(m.addr, "fast-pub")
		if err != nil {
			return err
		}
		m.pub = c
	}
	return m.pub.publish(topic, data)
}

func (m *mqttFast) flush() error {
	if m.pub == nil {
		return nil
	}
	return m.pub.flush()
}

func (m *mqttFast) close() {
	if m.pub != nil {
		m.pub.close()
	}
	for _, c := range m.subs {
		c.close()
	}
}

// cpuTime is the user and system CPU time so far of process pid ("self":
// this one); 0 for "none" or if it cannot be read.
func cpuTime(pid string) time.Duration {
	if pid == "none" {
		return 0
	}
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // clock ticks (USER_HZ, 100 on Linux)
}
