package pubsub

// Stats are a pub-sub service's queues at one moment, for metrics; Stats
// reads them under the locks that guard them, costing nothing between
// calls.
type Stats struct {
	// Subscribers is the member nodes that announced subscriptions here.
	Subscribers int
	// Queued is the messages waiting to be written to subscriber nodes;
	// Inflight the QoS 1 messages written and not yet acknowledged;
	// Outbox the QoS 1 messages kept for subscriber nodes that are away.
	Queued, Inflight, Outbox int
	// Subscriptions is this node's subscriptions, and Buffered the
	// messages delivered to them and not yet read.
	Subscriptions, Buffered int
	// Dropped counts the messages dropped, since the start, because a
	// subscription here fell behind (what Lag reports), including those a
	// publisher's full outbox dropped and reported.
	Dropped uint64
}

// Stats returns the service's queues and drops.
func (ps *PubSub) Stats() Stats {
	var st Stats
	ps.mu.Lock()
	remotes := make([]*remote, 0, len(ps.remotes))
	for _, r := range ps.remotes {
		remotes = append(remotes, r)
	}
	ps.mu.Unlock()
	for _, r := range remotes {
		r.mu.Lock()
		if len(*r.pats.Load()) > 0 {
			st.Subscribers++
		}
		st.Queued += len(r.queue)
		st.Inflight += len(r.inflight)
		st.Outbox += len(r.pending)
		r.mu.Unlock()
	}
	ps.smu.RLock()
	for _, s := range ps.subs {
		if !s.closed {
			st.Subscriptions++
			st.Buffered += len(s.ch)
		}
	}
	ps.smu.RUnlock()
	st.Dropped = ps.dropped.Load()
	return st
}
