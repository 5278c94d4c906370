package daemon

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/gateway"
	"github.com/coconet/coconet/node"
)

// The daemon's Prometheus metrics. Collector reads what the running nodes
// already hold (connections, ledgers, pub-sub queues, the push server's
// counters) at scrape time; the only counting on the way is of each
// stream's bytes by protocol (bandwidth, go-libp2p's reporter hook: one
// map read and an atomic add per read or write) and of the API's failed
// answers.

// Collector returns the daemon's metrics collector (coco_*): register it
// on a prometheus.Registry and serve that.
func (d *Daemon) Collector() prometheus.Collector { return collector{d} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descPeers        = desc("coco_peers", "Member nodes connected, by path (direct or relayed).", "network", "path")
	descPeersKnown   = desc("coco_peers_known", "Other member nodes the ledger lists.", "network")
	descBytes        = desc("coco_bytes_total", "Bytes of member streams, by libp2p protocol and direction (in, out).", "protocol", "direction")
	descControl      = desc("coco_control_planes", "Control planes, by state: connected, registered, relay (holding a relay slot).", "network", "state")
	descQueue        = desc("coco_pubsub_queue", "Pub-sub messages waiting: send (to subscriber nodes), inflight (QoS 1 unacknowledged), outbox (QoS 1 for nodes away), local (delivered here, not read).", "network", "queue")
	descSubscribers  = desc("coco_pubsub_subscribers", "Member nodes subscribed to this node's topics.", "network")
	descSubs         = desc("coco_pubsub_subscriptions", "This node's subscriptions.", "network")
	descDropped      = desc("coco_pubsub_dropped_total", "Messages dropped because a subscription here fell behind (its lag).", "network")
	descPushConns    = desc("coco_push_connections", "Device connections open to this node's push server.", "network")
	descPushIDs      = desc("coco_push_ids", "Device ids registered at this node's push server.", "network")
	descPushMsgs     = desc("coco_push_messages_total", "Pushes at this node's push server: accepted, delivered (to a device here), forwarded (delivered by another push server).", "network", "what")
	descLedgerOps    = desc("coco_ledger_ops_total", "Operations in the network's ledger.", "network")
	descLedgerMember = desc("coco_ledger_members", "Members of the network.", "network")
	descErrors       = desc("coco_errors_total", "Errors by kind: the local API's failed answers (api_bad_request, api_not_found, api_conflict, api_failed), pub-sub messages dropped for slow subscribers, push-server connections refused over a cap or evicted.", "kind")
)

type collector struct{ d *Daemon }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPeers, descPeersKnown, descBytes, descControl, descQueue, descSubscribers,
		descSubs, descDropped, descPushConns, descPushIDs, descPushMsgs, descLedgerOps, descLedgerMember, descErrors} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	d := c.d
	d.mu.Lock()
	nodes := make([]*coconet.Node, 0, len(d.nodes))
	for _, n := range d.nodes {
		nodes = append(nodes, n)
	}
	d.mu.Unlock()
	var dropped uint64
	var refused, evicted int64
	seen := map[string]bool{}
	for _, n := range nodes {
		e := partsOf(n).e
		if e == nil {
			continue
		}
		st := e.Ledger().State()
		net := st.Name
		if seen[net] { // two networks of one name: tell them apart
			net = fmt.Sprintf("%s/%.8s", net, e.NetworkID())
		}
		seen[net] = true

		direct, relayed, known := peerPaths(e)
		gauge(descPeers, float64(direct), net, "direct")
		gauge(descPeers, float64(relayed), net, "relayed")
		gauge(descPeersKnown, float64(known), net)
		counter(descLedgerOps, float64(len(e.Ledger().Ops())), net)
		gauge(descLedgerMember, float64(len(st.Members)), net)

		var conn, reg, relay int
		for _, cs := range e.ControlStatus() {
			conn += b2i(cs.Connected)
			reg += b2i(cs.Registered)
			relay += b2i(cs.Relay)
		}
		gauge(descControl, float64(conn), net, "connected")
		gauge(descControl, float64(reg), net, "registered")
		gauge(descControl, float64(relay), net, "relay")

		if ps := e.PubSub(); ps != nil {
			s := ps.Stats()
			gauge(descQueue, float64(s.Queued), net, "send")
			gauge(descQueue, float64(s.Inflight), net, "inflight")
			gauge(descQueue, float64(s.Outbox), net, "outbox")
			gauge(descQueue, float64(s.Buffered), net, "local")
			gauge(descSubscribers, float64(s.Subscribers), net)
			gauge(descSubs, float64(s.Subscriptions), net)
			counter(descDropped, float64(s.Dropped), net)
			dropped += s.Dropped
		}
		if b, ok := engine.Lookup[*gateway.Bridge](e); ok {
			s := b.Server().Stats()
			gauge(descPushConns, float64(s.Conns), net)
			gauge(descPushIDs, float64(s.IDs), net)
			counter(descPushMsgs, float64(s.Pushes), net, "accepted")
			counter(descPushMsgs, float64(s.Delivered), net, "delivered")
			counter(descPushMsgs, float64(s.Forwarded), net, "forwarded")
			refused += s.Refused
			evicted += s.Evicted
		}
	}
	d.bw.each(func(p protocol.ID, in, out int64) {
		name := string(p)
		if name == "" {
			name = "unnegotiated"
		}
		counter(descBytes, float64(in), name, "in")
		counter(descBytes, float64(out), name, "out")
	})
	counter(descErrors, float64(d.apiErrs.badRequest.Load()), "api_bad_request")
	counter(descErrors, float64(d.apiErrs.notFound.Load()), "api_not_found")
	counter(descErrors, float64(d.apiErrs.conflict.Load()), "api_conflict")
	counter(descErrors, float64(d.apiErrs.failed.Load()), "api_failed")
	counter(descErrors, float64(dropped), "pubsub_dropped")
	counter(descErrors, float64(refused), "push_refused")
	counter(descErrors, float64(evicted), "push_evicted")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// peerPaths counts e's member nodes connected directly and only through
// a relay, of known ones (the ledger's other nodes).
func peerPaths(e *engine.Engine) (direct, relayed, known int) {
	h := e.Node().Host()
	if h == nil {
		return 0, 0, 0
	}
	self := e.PeerID()
	for k := range e.Ledger().State().Nodes {
		id, err := node.PeerIDOf(k)
		if err != nil || id == self {
			continue
		}
		known++
		best := ""
		for _, c := range h.Network().ConnsToPeer(id) {
			if relayedConn(c) {
				if best == "" {
					best = "relayed"
				}
			} else {
				best = "direct"
			}
		}
		switch best {
		case "direct":
			direct++
		case "relayed":
			relayed++
		}
	}
	return direct, relayed, known
}

func relayedConn(c network.Conn) bool {
	if c.Stat().Limited {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

// bandwidth counts stream bytes by protocol: a go-libp2p bandwidth
// reporter without rates or per-peer counts (no meters, no sweeper
// goroutine). Its zero value is ready.
type bandwidth struct {
	protos sync.Map // protocol.ID → *protoBytes
}

type protoBytes struct{ in, out atomic.Int64 }

var _ metrics.Reporter = (*bandwidth)(nil)

func (b *bandwidth) of(p protocol.ID) *protoBytes {
	if v, ok := b.protos.Load(p); ok {
		return v.(*protoBytes)
	}
	v, _ := b.protos.LoadOrStore(p, &protoBytes{})
	return v.(*protoBytes)
}

func (b *bandwidth) each(f func(p protocol.ID, in, out int64)) {
	b.protos.Range(func(k, v any) bool {
		pb := v.(*protoBytes)
		f(k.(protocol.ID), pb.in.Load(), pb.out.Load())
		return true
	})
}

func (b *bandwidth) LogSentMessage(int64) {}
func (b *bandwidth) LogRecvMessage(int64) {}
func (b *bandwidth) LogSentMessageStream(n int64, p protocol.ID, _ peer.ID) {
	b.of(p).out.Add(n)
}
func (b *bandwidth) LogRecvMessageStream(n int64, p protocol.ID, _ peer.ID) {
	b.of(p).in.Add(n)
}
func (b *bandwidth) GetBandwidthForPeer(peer.ID) metrics.Stats { return metrics.Stats{} }
func (b *bandwidth) GetBandwidthForProtocol(p protocol.ID) metrics.Stats {
	pb := b.of(p)
	return metrics.Stats{TotalIn: pb.in.Load(), TotalOut: pb.out.Load()}
}
func (b *bandwidth) GetBandwidthTotals() metrics.Stats {
	var s metrics.Stats
	b.each(func(_ protocol.ID, in, out int64) { s.TotalIn += in; s.TotalOut += out })
	return s
}
func (b *bandwidth) GetBandwidthByPeer() map[peer.ID]metrics.Stats {
	return map[peer.ID]metrics.Stats{}
}
func (b *bandwidth) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats {
	out := map[protocol.ID]metrics.Stats{}
	b.each(func(p protocol.ID, in, o int64) { out[p] = metrics.Stats{TotalIn: in, TotalOut: o} })
	return out
}
func (b *bandwidth) Reset()             { b.protos.Clear() }
func (b *bandwidth) TrimIdle(time.Time) {}

// apiErrors counts the local API's failed answers by kind.
type apiErrors struct{ badRequest, notFound, conflict, failed atomic.Int64 }

func (a *apiErrors) count(code int) {
	switch {
	case code == http.StatusBadRequest:
		a.badRequest.Add(1)
	case code == http.StatusNotFound:
		a.notFound.Add(1)
	case code == http.StatusConflict:
		a.conflict.Add(1)
	case code >= 400:
		a.failed.Add(1)
	}
}

// wrap counts h's failed answers.
func (a *apiErrors) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&statusWriter{ResponseWriter: w, a: a}, r)
	})
}

// statusWriter sees the status an answer starts with; streams flush
// through it.
type statusWriter struct {
	http.ResponseWriter
	a    *apiErrors
	seen bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.seen {
		w.seen = true
		w.a.count(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.seen = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
