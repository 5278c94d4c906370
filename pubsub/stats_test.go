package pubsub_test

import (
	"fmt"
	"testing"

	"github.com/coconet/coconet/pubsub"
)

// Stats shows a subscriber node on the publisher, and on the subscriber
// the messages its full buffer holds and those it dropped.
func TestStats(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob"}, nil)
	alice, bob := ms[0], ms[1]
	s := subscribe(t, bob, "t/#", pubsub.SubscribeOptions{Buffer: 2})
	defer s.Close()
	waitFor(t, "alice to know bob's subscription", func() bool { return alice.ps.Stats().Subscribers == 1 })
	for i := range 5 {
		publish(t, alice, "t/x", fmt.Sprint(i), pubsub.PublishOptions{})
	}
	waitFor(t, "bob's buffer full and 3 dropped", func() bool {
		st := bob.ps.Stats()
		return st.Buffered == 2 && st.Dropped == 3
	})
	if st := bob.ps.Stats(); st.Subscriptions != 1 {
		t.Fatalf("bob's stats %+v, want 1 subscription", st)
	}
	next(t, s)
	if st := bob.ps.Stats(); st.Buffered != 1 || st.Dropped != 3 {
		t.Fatalf("after reading one: %+v, want 1 buffered, 3 dropped", st)
	}
}
