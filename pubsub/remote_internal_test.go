package pubsub

import (
	"testing"

	"github.com/coconet/coconet/node"
)

// TestStreamEndKeepsRetainedForLiveSubscription: when a stream to a
// subscriber ends (an earlier announcement stopped it) just after a new
// subscription queued its retained values, those values stay queued for the
// next stream; other QoS 0 messages are dropped, QoS 1 ones kept in the
// outbox, and retained values of a subscription that is gone are dropped.
func TestStreamEndKeepsRetainedForLiveSubscription(t *testing.T) {
	r := newRemote(nil, "", node.Sender{})
	r.pats.Store(&[]patSub{{id: 7, pattern: "home/#"}})
	m := &pubMsg{topic: "home/hum", data: []byte("40")}
	r.queue = []entry{
		{m: m, retained: true, sub: 7}, // for the live subscription: kept
		{m: m, retained: true, sub: 3}, // for a closed one: dropped
		{m: m},                         // live QoS 0: dropped
		{m: m, qos: QoS1},              // QoS 1: to the outbox
	}
	r.mu.Lock()
	r.endStreamLocked()
	r.mu.Unlock()
	if len(r.queue) != 1 || r.queue[0].sub != 7 || !r.queue[0].retained {
		t.Errorf("queue after the stream ended = %+v, want the retained value of subscription 7", r.queue)
	}
	if len(r.pending) != 1 || r.pending[0].qos != QoS1 {
		t.Errorf("outbox after the stream ended = %+v, want the QoS 1 message", r.pending)
	}
}

// TestStoppedWriterTakesNothing: once stop reset a stream, its writer takes
// nothing more from the queue, so the retained values a new subscription
// queued meanwhile wait for the next stream.
func TestStoppedWriterTakesNothing(t *testing.T) {
	r := newRemote(&PubSub{}, "", node.Sender{})
	r.pats.Store(&[]patSub{{id: 7, pattern: "home/#"}})
	r.stop()
	r.queue = []entry{{m: &pubMsg{topic: "home/hum"}, retained: true, sub: 7}}
	if err := r.write(nil, nil, nil); err != errStopped {
		t.Fatalf("write after stop = %v, want errStopped", err)
	}
	if len(r.queue) != 1 {
		t.Fatalf("queue = %+v, want the retained value still queued", r.queue)
	}
}
