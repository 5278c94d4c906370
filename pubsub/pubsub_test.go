package pubsub_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
)

var (
	qos0 = pubsub.PublishOptions{}
	qos1 = pubsub.PublishOptions{QoS: pubsub.QoS1}
)

// TestRetainedLateSubscriber: retained values published before a
// subscription exists reach it (remote and local), marked Retained, before
// anything published later; an empty retained message clears the value.
func TestRetainedLateSubscriber(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob"}, nil)
	alice, bob := ms[0], ms[1]
	publish(t, alice, "home/temp", "21", pubsub.PublishOptions{Retain: true})
	publish(t, alice, "home/temp", "22", pubsub.PublishOptions{Retain: true}) // the last value wins
	publish(t, alice, "home/hum", "40", pubsub.PublishOptions{Retain: true, QoS: pubsub.QoS1})
	publish(t, alice, "home/door", "open", qos0) // not retained
	publish(t, alice, "garden/temp", "15", pubsub.PublishOptions{Retain: true})

	for _, m := range []*member{bob, alice} {
		s := subscribe(t, m, "home/+", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
		got := map[string]string{}
		for range 2 {
			msg := next(t, s)
			if !msg.Retained || msg.From.Name != "alice" {
				t.Fatalf("%s: got %+v, want a retained message from alice", m.name, msg)
			}
			got[msg.Topic] = string(msg.Data)
		}
		if want := map[string]string{"home/temp": "22", "home/hum": "40"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: retained values = %v, want %v", m.name, got, want)
		}
		publish(t, alice, "home/temp", "23", qos0)
		if msg := expectMsg(t, s, "home/temp", "23"); msg.Retained {
			t.Fatalf("%s: live message marked retained", m.name)
		}
		s.Close()
	}

	publish(t, alice, "home/temp", "", pubsub.PublishOptions{Retain: true}) // clears
	s := subscribe(t, bob, "home/#", pubsub.SubscribeOptions{})
	expectMsg(t, s, "home/hum", "40")
	publish(t, alice, "home/after", "x", qos0)
	expectMsg(t, s, "home/after", "x")
}

// TestQoS1AcrossSubscriberRestart: what a QoS 1 subscriber misses while its
// node is down arrives, complete and in order, once it is back and
// subscribes again.
func TestQoS1AcrossSubscriberRestart(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob"}, nil)
	alice, bob := ms[0], ms[1]
	s := subscribe(t, bob, "q/#", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
	for i := range 100 {
		publish(t, alice, "q/n", strconv.Itoa(i), qos1)
	}
	for i := range 100 {
		expectMsg(t, s, "q/n", strconv.Itoa(i))
	}

	bob.stop()
	waitFor(t, "alice to notice bob left", func() bool { return len(alice.n.Node().ConnectedMembers()) == 0 })
	for i := 100; i < 300; i++ {
		publish(t, alice, "q/n", strconv.Itoa(i), qos1)
	}
	publish(t, alice, "q/n", "qos0 while away", qos0) // at most once: not kept

	bob.start(t)
	waitLinked(t, bob, alice)
	waitLinked(t, alice, bob)
	s = subscribe(t, bob, "q/#", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
	var got []int
	for len(got) == 0 || got[len(got)-1] < 299 {
		m := next(t, s)
		v, err := strconv.Atoi(string(m.Data))
		if err != nil {
			t.Fatalf("unexpected message %q", m.Data)
		}
		if m.QoS != pubsub.QoS1 {
			t.Fatalf("message %d has QoS %d, want 1", v, m.QoS)
		}
		if v < 100 { // a resend of one whose ack was lost in the shutdown: allowed
			if len(got) > 0 && got[len(got)-1] >= 100 {
				t.Fatalf("old message %d after %d", v, got[len(got)-1])
			}
			continue
		}
		got = append(got, v)
	}
	for i, v := range got {
		if v != 100+i {
			t.Fatalf("after restart message #%d = %d, want %d (got %v)", i, v, 100+i, got)
		}
	}
	publish(t, alice, "q/n", "live", qos1)
	expectMsg(t, s, "q/n", "live")
}

// TestOrderPerPublisherUnderLoad: two publishers flood one subscriber; each
// publisher's messages arrive complete and in order, QoS 0 and QoS 1.
func TestOrderPerPublisherUnderLoad(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob", "carol"}, nil)
	bob := ms[1]
	const n = 5000
	for _, qos := range []pubsub.QoS{pubsub.QoS0, pubsub.QoS1} {
		s := subscribe(t, bob, "load/#", pubsub.SubscribeOptions{QoS: pubsub.QoS1, Buffer: 3 * n})
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, pub := range []*member{ms[0], ms[2]} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range n {
					if err := pub.ps.Publish(context.Background(), "load/"+pub.name, []byte(strconv.Itoa(i)), pubsub.PublishOptions{QoS: qos}); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Publish: %v", err)
		}
		nextWant := map[string]int{"alice": 0, "carol": 0}
		lastSeq := map[string]uint64{}
		for nextWant["alice"] < n || nextWant["carol"] < n {
			m := next(t, s)
			who := m.From.Name
			if m.Topic != "load/"+who {
				t.Fatalf("message on %q from %q", m.Topic, who)
			}
			if v, _ := strconv.Atoi(string(m.Data)); v != nextWant[who] {
				t.Fatalf("QoS %d: from %s got %d, want %d", qos, who, v, nextWant[who])
			}
			if m.Seq <= lastSeq[who] {
				t.Fatalf("from %s: Seq %d after %d", who, m.Seq, lastSeq[who])
			}
			lastSeq[who] = m.Seq
			nextWant[who]++
		}
		if l := s.Lagged(); l != 0 {
			t.Fatalf("Lagged() = %d, want 0", l)
		}
		s.Close()
	}
}

// TestSlowSubscriber: a subscription that never reads keeps its buffer,
// every other message is counted on Lag, and memory stays bounded.
func TestSlowSubscriber(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob"}, map[string]pubsub.Options{"alice": {QueueLen: 256}})
	alice, bob := ms[0], ms[1]
	const buf, n, size = 16, 30000, 1024
	slow := subscribe(t, bob, "flood/#", pubsub.SubscribeOptions{Buffer: buf})
	before := heapInUse()
	payload := strings.Repeat("x", size)
	var peak uint64
	for i := range n {
		publish(t, alice, "flood/x", payload, qos0)
		if i%5000 == 0 {
			peak = max(peak, heapInUse())
		}
		for _, l := range alice.ps.QueueLens() {
			if l[0] > 256 {
				t.Fatalf("alice's queue for bob holds %d messages, over QueueLen 256", l[0])
			}
		}
	}
	var lagged uint64
	for lagged < n-buf {
		select {
		case k := <-slow.Lag():
			lagged += k
		case <-time.After(20 * time.Second):
			t.Fatalf("lag signals add up to %d after 20s, want %d", lagged, n-buf)
		}
	}
	if lagged != n-buf || len(slow.C()) != buf {
		t.Fatalf("lagged %d with %d buffered, want %d with %d", lagged, len(slow.C()), n-buf, buf)
	}
	peak = max(peak, heapInUse())
	const bound = 12 << 20 // far below the 30 MB published
	if peak > before+bound {
		t.Fatalf("heap grew by %d MB while flooding a slow subscriber, want under %d MB", (peak-before)>>20, bound>>20)
	}
	// The subscription still works once read.
	for range buf {
		<-slow.C()
	}
	publish(t, alice, "flood/x", "after", qos0)
	expectMsg(t, slow, "flood/x", "after")
}

func heapInUse() uint64 {
	runtime.GC()
	var st runtime.MemStats
	runtime.ReadMemStats(&st)
	return st.HeapInuse
}

// TestOnePublisherTenSubscribers: ten subscriptions spread over three
// nodes with different patterns each receive every matching message.
func TestOnePublisherTenSubscribers(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob", "carol", "dave"}, nil)
	patterns := []string{"fan/#", "fan/+", "#", "+/data", "fan/data"}
	var subs []*pubsub.Subscription
	for i := range 10 {
		m := ms[1+i%3]
		subs = append(subs, subscribe(t, m, patterns[i%len(patterns)], pubsub.SubscribeOptions{Buffer: 2048}))
	}
	other := subscribe(t, ms[1], "other/#", pubsub.SubscribeOptions{})
	const n = 1000
	for i := range n {
		publish(t, ms[0], "fan/data", strconv.Itoa(i), qos0)
	}
	for i, s := range subs {
		for j := range n {
			m := next(t, s)
			if v, _ := strconv.Atoi(string(m.Data)); v != j || m.From.Name != "alice" {
				t.Fatalf("subscriber %d (%q): message %d = %q from %s, want %d from alice", i, s.Pattern(), j, m.Data, m.From.Name, j)
			}
		}
	}
	expectNone(t, other)
}

// TestRemovedMemberStopsReceiving: once the owner removes carol, the
// publisher forgets her subscriptions at once and she receives nothing more.
func TestRemovedMemberStopsReceiving(t *testing.T) {
	ms := cluster(t, []string{"alice", "bob", "carol"}, nil)
	alice, bob, carol := ms[0], ms[1], ms[2]
	sb := subscribe(t, bob, "news/#", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
	sc := subscribe(t, carol, "news/#", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
	publish(t, alice, "news/1", "before", qos1)
	expectMsg(t, sb, "news/1", "before")
	expectMsg(t, sc, "news/1", "before")

	if _, err := alice.n.Remove("carol"); err != nil {
		t.Fatalf("Remove(carol): %v", err)
	}
	if got := alice.ps.SubscriberNodes(); slices.Contains(got, carol.n.PeerID()) {
		t.Fatalf("after Remove, alice still keeps carol's subscriptions (%v)", got)
	}
	for i := range 20 {
		publish(t, alice, "news/2", strconv.Itoa(i), qos1)
	}
	for i := range 20 {
		expectMsg(t, sb, "news/2", strconv.Itoa(i))
	}
	expectNone(t, sc)
	// Bob, once he learns of the removal, also drops her.
	waitFor(t, "bob to forget carol", func() bool { return !bob.n.Node().IsMember(carol.n.PeerID()) })
	if got := bob.ps.SubscriberNodes(); slices.Contains(got, carol.n.PeerID()) {
		t.Fatalf("bob still keeps carol's subscriptions")
	}
	publish(t, bob, "news/3", "from bob", qos0)
	expectMsg(t, sb, "news/3", "from bob") // bob's own local subscription
	expectNone(t, sc)
}

// TestAuthorizeRefusesTopic: the publisher's Authorize hook keeps a topic
// (live and retained) from a subscriber while others still flow.
func TestAuthorizeRefusesTopic(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	auth := func(sub node.Sender, topic string) bool {
		mu.Lock()
		asked = append(asked, sub.Name+":"+topic)
		mu.Unlock()
		return !(sub.Name == "bob" && strings.HasPrefix(topic, "secret/"))
	}
	ms := cluster(t, []string{"alice", "bob", "carol"}, map[string]pubsub.Options{"alice": {Authorize: auth}})
	alice, bob, carol := ms[0], ms[1], ms[2]
	publish(t, alice, "secret/code", "1234", pubsub.PublishOptions{Retain: true})
	publish(t, alice, "public/news", "hello", pubsub.PublishOptions{Retain: true})
	sb := subscribe(t, bob, "+/#", pubsub.SubscribeOptions{})
	sc := subscribe(t, carol, "secret/#", pubsub.SubscribeOptions{})
	expectMsg(t, sb, "public/news", "hello") // the retained secret was refused
	expectMsg(t, sc, "secret/code", "1234")

	publish(t, alice, "secret/code", "5678", qos1)
	publish(t, alice, "public/news", "again", qos0)
	expectMsg(t, sb, "public/news", "again") // in order: the secret never came
	expectMsg(t, sc, "secret/code", "5678")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(asked, "bob:secret/code") || !slices.Contains(asked, "carol:secret/code") {
		t.Fatalf("Authorize was asked %v, want bob and carol for secret/code", asked)
	}
}

// TestValidation: bad topics and patterns are refused with clear errors.
func TestValidation(t *testing.T) {
	ms := cluster(t, []string{"alice"}, nil)
	ctx := context.Background()
	if err := ms[0].ps.Publish(ctx, "a/+/b", nil, qos0); err == nil || !strings.Contains(err.Error(), "wildcard") {
		t.Errorf("Publish(a/+/b) = %v, want a wildcard error", err)
	}
	if _, err := ms[0].ps.Subscribe(ctx, "a/#/b", pubsub.SubscribeOptions{}); err == nil || !strings.Contains(err.Error(), "last level") {
		t.Errorf("Subscribe(a/#/b) = %v, want a '#' must be last error", err)
	}
	if err := ms[0].ps.Publish(ctx, "big", make([]byte, pubsub.MaxMessage+1), qos0); err == nil {
		t.Errorf("Publish(over MaxMessage) = nil, want an error")
	}
	s := subscribe(t, ms[0], "a/#", pubsub.SubscribeOptions{})
	ms[0].ps.Close()
	if _, ok := <-s.C(); ok {
		t.Errorf("subscription channel open after Close")
	}
	if err := ms[0].ps.Publish(ctx, "a", nil, qos0); err == nil {
		t.Errorf("Publish after Close = nil, want an error")
	}
}

// TestPublishChecksEveryNewTopic: Publish remembers the last topic it found
// valid, and still refuses every invalid one that follows it.
func TestPublishChecksEveryNewTopic(t *testing.T) {
	ps := cluster(t, []string{"alice"}, nil)[0].ps
	ctx := context.Background()
	for _, c := range []struct {
		topic string
		ok    bool
	}{
		{"home/temp", true}, {"home/temp", true}, {"home/+", false}, {"home/temp", true},
		{"home/#", false}, {"", false}, {"home/temp\x00", false}, {"home/temp", true},
	} {
		err := ps.Publish(ctx, c.topic, []byte("x"), pubsub.PublishOptions{})
		if (err == nil) != c.ok {
			t.Errorf("Publish(%q) = %v, want ok %v", c.topic, err, c.ok)
		}
	}
}
