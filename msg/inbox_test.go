package msg

import (
	"testing"
	"time"
)

// TestInboxBacklogAndBound: the backlog holds up to its bound while nobody
// subscribes, goes to the first subscriber in order, and then messages go
// straight to subscribers.
func TestInboxBacklogAndBound(t *testing.T) {
	b := newInbox(2)
	if b.put(Message{Data: []byte("1")}) != statusOK || b.put(Message{Data: []byte("2")}) != statusOK {
		t.Fatal("put into empty backlog failed")
	}
	if st := b.put(Message{Data: []byte("3")}); st != statusFull {
		t.Fatalf("put past the bound = %d, want statusFull", st)
	}
	ch, cancel := b.subscribe()
	defer cancel()
	for _, want := range []string{"1", "2"} {
		select {
		case m := <-ch:
			if string(m.Data) != want {
				t.Fatalf("got %q, want %q", m.Data, want)
			}
		case <-time.After(time.Second):
			t.Fatal("backlog not delivered")
		}
	}
	if b.put(Message{Data: []byte("4")}) != statusOK {
		t.Fatal("put with a subscriber failed")
	}
	if m := <-ch; string(m.Data) != "4" {
		t.Fatalf("got %q, want 4", m.Data)
	}
}

// TestInboxSlowSubscriber: a subscriber that does not read loses messages
// past its buffer and the sender hears it; another subscriber still gets
// them.
func TestInboxSlowSubscriber(t *testing.T) {
	b := newInbox(1)
	slow, cancelSlow := b.subscribe()
	defer cancelSlow()
	fast, cancelFast := b.subscribe()
	defer cancelFast()
	if b.put(Message{Data: []byte("1")}) != statusOK {
		t.Fatal("first put failed")
	}
	<-fast
	if st := b.put(Message{Data: []byte("2")}); st != statusFull {
		t.Fatalf("put past the slow subscriber's buffer = %d, want statusFull", st)
	}
	if m := <-fast; string(m.Data) != "2" {
		t.Fatalf("fast subscriber got %q, want 2", m.Data)
	}
	if m := <-slow; string(m.Data) != "1" {
		t.Fatalf("slow subscriber got %q, want 1", m.Data)
	}
	cancelSlow()
	cancelSlow()
	if _, ok := <-slow; ok {
		t.Fatal("cancelled subscription still open")
	}
	b.close()
	if _, ok := <-fast; ok {
		t.Fatal("subscription open after close")
	}
	if st := b.put(Message{}); st != statusClosed {
		t.Fatalf("put after close = %d, want statusClosed", st)
	}
}
