package control

import (
	"sync"
	"sync/atomic"

	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/proto"
	"github.com/prometheus/client_golang/prometheus"
)

// The control plane's Prometheus metrics (`coco control --metrics ADDR`).
// Collector reads the server's state at scrape time; the only counting on
// the way is of answers by code (stats, one atomic add per request). No
// metric names a network: a scrape tells how busy the control plane is,
// not whose networks it serves.

// Collector returns the control plane's metrics collector
// (coco_control_*): register it on a prometheus.Registry and serve that.
func (s *Server) Collector() prometheus.Collector { return collector{s} }

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

var (
	descNetworks = desc("coco_control_networks", "Networks known (with a registration, a revocation or a proof held).")
	descRegs     = desc("coco_control_registrations", "Live registrations of member nodes, all networks.")
	descPeers    = desc("coco_control_peers", "Peers connected to the control plane.")
	descHolders  = desc("coco_control_proof_holders", "Connected peers that showed a valid membership proof.")
	descRsvps    = desc("coco_control_relay_reservations", "Relay slots held by member nodes.")
	descCircuits = desc("coco_control_relay_circuits", "Relayed connections open through the control plane.")
	descPending  = desc("coco_control_pending_streams", "Control streams of peers without a proof, waiting for their request.")
	descJoins    = desc("coco_control_join_allowances", "Join allowances of peers without a proof (bounded relay for joining).")
	descBytes    = desc("coco_control_bytes_total", "Bytes metered this month, all networks: relay (relayed data) or control (requests and answers).", "kind")
	descMessages = desc("coco_control_messages_total", "Control requests answered this month, all networks.")
	descAnswers  = desc("coco_control_answers_total", "Control requests by answer code since start: ok, bad_request, unauthorized, limit, or unreadable (no request frame: junk, a timeout, a pushed-out stranger).", "code")
)

type collector struct{ s *Server }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descNetworks, descRegs, descPeers, descHolders, descRsvps, descCircuits,
		descPending, descJoins, descBytes, descMessages, descAnswers} {
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
	s := c.s
	var nets, regs, holders, rsvps, joins int
	s.mu.Lock()
	nets, holders, joins = len(s.nets), len(s.holders), len(s.joins)
	for _, ns := range s.nets {
		regs += len(ns.regs)
	}
	for _, r := range s.rsvps {
		rsvps += len(r)
	}
	s.mu.Unlock()
	gauge(descNetworks, float64(nets))
	gauge(descRegs, float64(regs))
	gauge(descHolders, float64(holders))
	gauge(descRsvps, float64(rsvps))
	gauge(descJoins, float64(joins))
	if s.host != nil {
		circuits := 0
		conns := s.host.Network().Conns()
		for _, cn := range conns {
			for _, st := range cn.GetStreams() {
				if st.Protocol() == proto.ProtoIDv2Hop {
					circuits++ // a circuit's hop stream lasts as long as it
				}
			}
		}
		gauge(descPeers, float64(len(s.host.Network().Peers())))
		gauge(descCircuits, float64(circuits))
	}
	if s.pending != nil {
		n, _ := s.pending.len()
		gauge(descPending, float64(n))
	}
	relay, ctl, msgs := s.meter.totals()
	counter(descBytes, float64(relay), "relay")
	counter(descBytes, float64(ctl), "control")
	counter(descMessages, float64(msgs))
	s.stats.codes.Range(func(k, v any) bool {
		counter(descAnswers, float64(v.(*atomic.Int64).Load()), k.(string))
		return true
	})
}

// totals sums this month's counters over every network.
func (m *meter) totals() (relay, control, messages int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.nets {
		relay += c.Relay.Load()
		control += c.Control.Load()
		messages += c.Messages.Load()
	}
	return relay, control, messages
}

// stats counts what the control plane answered, by code.
type stats struct {
	codes sync.Map // code → *atomic.Int64
}

// answered counts one answer of code ("" is ok).
func (st *stats) answered(code string) {
	if code == "" {
		code = "ok"
	}
	v, ok := st.codes.Load(code)
	if !ok {
		v, _ = st.codes.LoadOrStore(code, new(atomic.Int64))
	}
	v.(*atomic.Int64).Add(1)
}
