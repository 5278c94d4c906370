package pubsub

import (
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// SubscriberNodes lists the nodes this publisher keeps subscriptions for.
func (ps *PubSub) SubscriberNodes() []peer.ID {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	var out []peer.ID
	for id := range ps.remotes {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// QueueLens reports, per subscriber node, the queued and the QoS 1 outbox entries.
func (ps *PubSub) QueueLens() map[peer.ID][2]int {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := map[peer.ID][2]int{}
	for id, r := range ps.remotes {
		r.mu.Lock()
		out[id] = [2]int{len(r.queue), r.n1}
		r.mu.Unlock()
	}
	return out
}
