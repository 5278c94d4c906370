// Command pubsubbench measures coconet pub-sub beside Mosquitto 2 (MQTT QoS
// 0) and NATS (core pub-sub) in one run on loopback, and prints the ratios.
//
// For each system: one publisher sends as fast as its client allows for
// -duration to one subscriber and to ten (separate connections; for coconet
// separate nodes, each its own libp2p host), with 16 B and 1 KiB payloads.
// The rate is messages per second delivered to every subscriber: the
// messages sent divided by the time until the slowest subscriber had them
// all. Latency is one message at a time, publish to receipt, 16 B, one
// subscriber. All clients run in this process, like the coconet nodes.
//
// bench/pubsub.sh starts the two servers and passes their addresses. Absolute
// figures are noisy on a shared machine; read the ratios.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
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
	mqttAddr string
	duration time.Duration
	latN     int
	jsonOut  bool
	verbose  bool
	cpuprof  string
}

// system is one pub-sub implementation under test.
type system interface {
	name() string
	// subscribe makes subscriber i (0..9) receive topic; onMsg runs for each message.
	subscribe(i int, topic string, onMsg func([]byte)) (unsub func(), err error)
	publish(topic string, data []byte) error
	// flush returns once everything published has left the publisher.
	flush() error
	close()
}

const maxSubs = 10

func main() {
	var cfg config
	flag.StringVar(&cfg.natsURL, "nats", "", "NATS server URL (nats://127.0.0.1:PORT); empty skips NATS")
	flag.StringVar(&cfg.mqttAddr, "mqtt", "", "Mosquitto address (tcp://127.0.0.1:PORT); empty skips Mosquitto")
	flag.DurationVar(&cfg.duration, "duration", 1500*time.Millisecond, "publishing time of each throughput run")
	flag.IntVar(&cfg.latN, "n", 2000, "latency samples per system")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print JSON instead of a table")
	flag.BoolVar(&cfg.verbose, "v", false, "log progress to stderr")
	flag.StringVar(&cfg.cpuprof, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
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
	P50    time.Duration      `json:"latency_p50_ns"`
	P99    time.Duration      `json:"latency_p99_ns"`
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
		n, err := newNATS(cfg.natsURL)
		if err != nil {
			return fmt.Errorf("nats: %w", err)
		}
		systems = append(systems, n)
	}
	if cfg.mqttAddr != "" {
		m, err := newMQTT(cfg.mqttAddr)
		if err != nil {
			return fmt.Errorf("mosquitto: %w", err)
		}
		systems = append(systems, m)
	}
	defer func() {
		for _, s := range systems {
			s.close()
		}
	}()
	var results []result
	for _, s := range systems {
		r := result{System: s.name(), Rates: map[string]float64{}, Lost: map[string]int64{}}
		for k, sc := range scenarios {
			topic := fmt.Sprintf("bench/t%d", k)
			rate, lost, err := throughput(s, topic, sc.size, sc.fan, cfg.duration)
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.name(), sc.name, err)
			}
			logf("%s %s: %.0f msg/s (lost %d)", s.name(), sc.name, rate, lost)
			r.Rates[sc.name] = rate
			if lost > 0 {
				r.Lost[sc.name] = lost
			}
		}
		lat, err := latency(s, "bench/lat", cfg.latN)
		if err != nil {
			return fmt.Errorf("%s latency: %w", s.name(), err)
		}
		r.P50, r.P99 = lat[len(lat)/2], lat[len(lat)*99/100]
		logf("%s latency p50 %v p99 %v", s.name(), r.P50, r.P99)
		results = append(results, r)
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
func throughput(s system, topic string, size, fan int, dur time.Duration) (float64, int64, error) {
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
			return 0, 0, err
		}
		unsubs = append(unsubs, u)
	}
	payload := make([]byte, size)
	start := time.Now()
	var sent int64
	for time.Since(start) < dur {
		for range 64 {
			if err := s.publish(topic, payload); err != nil {
				return 0, 0, err
			}
			sent++
		}
	}
	if err := s.flush(); err != nil {
		return 0, 0, err
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
	return float64(last) / elapsed.Seconds(), sent - last, nil
}

// latency measures publish-to-receipt of one message at a time.
func latency(s system, topic string, n int) ([]time.Duration, error) {
	got := make(chan struct{}, 1)
	u, err := s.subscribe(0, topic, func([]byte) { got <- struct{}{} })
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
		select {
		case <-got:
		case <-time.After(5 * time.Second):
			return nil, errors.New("a latency probe was not delivered within 5s")
		}
		if i >= n/10 { // the first tenth warms up
			d = append(d, time.Since(t0))
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
			m[k] = v / o.Rates[k]
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
			if l := r.Lost[sc.name]; l > 0 {
				cell += fmt.Sprintf(" (lost %d)", l)
			}
			row = append(row, cell)
		}
		for _, r := range rs[1:] {
			row = append(row, fmt.Sprintf("%.2f", rs[0].Rates[sc.name]/r.Rates[sc.name]))
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
	fmt.Fprintln(w, "ratios > 1 mean coconet delivers more messages/s; for latency < 1 means coconet is faster.")
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
	for i := range maxSubs {
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
	code, _, err := pub.Invite(engine.InviteOptions{Role: ledger.RoleGuest, Uses: maxSubs, TTL: time.Hour})
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
	s, err := c.pss[1+i].Subscribe(ctx, topic, pubsub.SubscribeOptions{Buffer: 1 << 16})
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
	pub  *nats.Conn
	subs []*nats.Conn
}

func (n *natsSys) name() string { return "NATS" }

func newNATS(url string) (*natsSys, error) {
	s := &natsSys{}
	var err error
	if s.pub, err = nats.Connect(url); err != nil {
		return nil, err
	}
	for range maxSubs {
		c, err := nats.Connect(url)
		if err != nil {
			s.close()
			return nil, err
		}
		s.subs = append(s.subs, c)
	}
	return s, nil
}

func natsSubject(topic string) string { return strings.ReplaceAll(topic, "/", ".") }

func (n *natsSys) subscribe(i int, topic string, onMsg func([]byte)) (func(), error) {
	sub, err := n.subs[i].Subscribe(natsSubject(topic), func(m *nats.Msg) { onMsg(m.Data) })
	if err != nil {
		return nil, err
	}
	sub.SetPendingLimits(-1, -1)
	if err := n.subs[i].Flush(); err != nil {
		return nil, err
	}
	return func() { sub.Unsubscribe(); n.subs[i].Flush() }, nil
}

func (n *natsSys) publish(topic string, data []byte) error {
	return n.pub.Publish(natsSubject(topic), data)
}

func (n *natsSys) flush() error { return n.pub.Flush() }

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

func (m *mqttSys) name() string { return "Mosquitto" }

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
	for i := range maxSubs {
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
	for _, c := range m.subs {
		c.Disconnect(100)
	}
}
