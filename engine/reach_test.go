package engine_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
)

func withDeadline(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func always(error) bool { return true }

// recv returns the next message of ch; the test fails if none comes
// within 10 s.
func recv(t *testing.T, ch <-chan msg.Message) msg.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return msg.Message{}
	}
}

// aloneBob starts alice and bob with no path between them and neither
// knowing the other's address: nothing connects them until the test links
// them and Reach dials.
func aloneBob(t *testing.T) (n *enginetest.Net, alice, bob *engine.Engine) {
	n = enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleGuest)
	alice = n.Start("alice", enginetest.Options{})
	bob = n.Start("bob", enginetest.Options{Alone: true})
	return n, alice, bob
}

// With a deadline, Reach waits for a path to appear (here a link made
// after the first try) and then delivers.
func TestReachWaitsWithinDeadline(t *testing.T) {
	n, alice, bob := aloneBob(t)
	msgs, cancel := bob.Messages()
	defer cancel()
	var calls atomic.Int32
	err := alice.Reach(withDeadline(t, 30*time.Second), []peer.ID{bob.PeerID()}, func(ctx context.Context, id peer.ID) error {
		err := alice.MessageService().Send(ctx, id, []byte("late"))
		if calls.Add(1) == 1 {
			if err == nil {
				t.Error("the first Send, without a link, succeeded")
			}
			n.Link(alice, bob)
		}
		return err
	}, always)
	if err != nil {
		t.Fatalf("Reach: %v", err)
	}
	if c := calls.Load(); c != 2 {
		t.Errorf("op ran %d times, want 2 (one without a path, one after the link)", c)
	}
	if m := recv(t, msgs); string(m.Data) != "late" || m.FromName != "alice" {
		t.Errorf("bob received %q from %q", m.Data, m.FromName)
	}
}

// Without a deadline Reach tries each node once: the caller did not ask to
// wait.
func TestReachDoesNotWaitWithoutDeadline(t *testing.T) {
	n, alice, bob := aloneBob(t)
	n.AddUser("carol", ledger.RoleGuest)
	var tried []peer.ID
	errNoPath := errors.New("no path")
	ids := []peer.ID{bob.PeerID(), n.NodeID("carol", "coco")}
	err := alice.Reach(context.Background(), ids, func(ctx context.Context, id peer.ID) error {
		tried = append(tried, id)
		if alice.Connected(id) {
			t.Errorf("connected to %s, which has no link", id.ShortString())
		}
		return errNoPath
	}, always)
	if !errors.Is(err, errNoPath) {
		t.Fatalf("Reach = %v, want the op's error", err)
	}
	if !slices.Equal(tried, ids) {
		t.Fatalf("tried %v, want each node once, in order: %v", tried, ids)
	}
}

// Reach stops at the first error tryNext refuses: the next node is not
// tried, and it does not wait.
func TestReachStopsOnRefusedError(t *testing.T) {
	n, alice, bob := aloneBob(t)
	n.AddUser("carol", ledger.RoleGuest)
	errFinal := errors.New("the service said no")
	var tried []peer.ID
	err := alice.Reach(withDeadline(t, 30*time.Second), []peer.ID{bob.PeerID(), n.NodeID("carol", "coco")}, func(ctx context.Context, id peer.ID) error {
		tried = append(tried, id)
		return errFinal
	}, func(err error) bool { return !errors.Is(err, errFinal) })
	if !errors.Is(err, errFinal) || !slices.Equal(tried, []peer.ID{bob.PeerID()}) {
		t.Fatalf("Reach = %v after trying %v, want errFinal after trying bob only", err, tried)
	}
}

// Reach goes on to the next node when the op's error allows it, and
// returns at the first success.
func TestReachTriesNextNode(t *testing.T) {
	n, alice, bob := aloneBob(t)
	n.AddUser("carol", ledger.RoleGuest)
	n.Link(alice, bob)
	var tried []peer.ID
	first := n.NodeID("carol", "coco") // no engine runs it
	err := alice.Reach(withDeadline(t, 30*time.Second), []peer.ID{first, bob.PeerID()}, func(ctx context.Context, id peer.ID) error {
		tried = append(tried, id)
		return alice.MessageService().Send(ctx, id, []byte("x"))
	}, always)
	if err != nil || !slices.Equal(tried, []peer.ID{first, bob.PeerID()}) {
		t.Fatalf("Reach = %v after trying %v, want success on bob after carol", err, tried)
	}
}

// Once a connection to a node was made the op may have delivered: Reach
// never runs it again, even with time left on the deadline, whether the
// connection was there before or Reach made it.
func TestReachDoesNotRepeatOnceConnected(t *testing.T) {
	for _, tc := range []struct {
		name      string
		connected bool
	}{{"connected before", true}, {"connected by Reach", false}} {
		t.Run(tc.name, func(t *testing.T) {
			n, alice, bob := aloneBob(t)
			n.Link(alice, bob)
			if tc.connected {
				n.Introduce(alice, bob)
				n.WaitConnected(alice, bob)
			}
			var calls atomic.Int32
			errLost := errors.New("the reply was lost")
			err := alice.Reach(withDeadline(t, 5*time.Second), []peer.ID{bob.PeerID()}, func(ctx context.Context, id peer.ID) error {
				calls.Add(1)
				return errLost
			}, always)
			if !errors.Is(err, errLost) {
				t.Fatalf("Reach = %v, want the op's error", err)
			}
			if c := calls.Load(); c != 1 {
				t.Fatalf("op ran %d times after a connection was made, want 1", c)
			}
		})
	}
}

// When ctx ends while Reach waits, it returns the last error an op gave,
// not the context's.
func TestReachDeadlineReturnsOpError(t *testing.T) {
	_, alice, bob := aloneBob(t)
	errNoPath := errors.New("no path")
	calls := 0
	err := alice.Reach(withDeadline(t, 300*time.Millisecond), []peer.ID{bob.PeerID()}, func(ctx context.Context, id peer.ID) error {
		calls++
		return errNoPath
	}, always)
	if !errors.Is(err, errNoPath) {
		t.Fatalf("Reach = %v, want the op's error", err)
	}
	if calls < 1 {
		t.Fatal("op never ran")
	}
}
