package coconet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/ledger"
)

// TestSendWaitsForMemberNode: bob sends to alice while her node is down;
// it comes up a moment later (on the ports it had, which bob learned at
// Join), and the Send succeeds within its context instead of failing at
// once.
func TestSendWaitsForMemberNode(t *testing.T) {
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	bob.join(t, makeInvite(t, an, ledger.RoleGuest, 1))
	an.Close()
	bn := bob.start(t, "home")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- bn.Send(ctx, "alice", []byte("are you there?")) }()
	time.Sleep(500 * time.Millisecond) // alice's node starts a moment later
	an2 := alice.start(t, "home")
	if err := <-done; err != nil {
		t.Fatalf("Send(alice) while her node starts = %v, want nil", err)
	}
	expect(t, an2, "bob", "are you there?")
}

// TestSendToNonMemberFailsAtOnce: waiting is for members whose nodes are
// not reachable yet; a name that is no member fails before ctx ends, with
// the not-a-member sentence rather than an offline or deadline error.
func TestSendToNonMemberFailsAtOnce(t *testing.T) {
	alice := newUser(t, "alice")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	err := an.Send(ctx, "mallory", []byte("hi"))
	if err == nil || !strings.Contains(err.Error(), `no member "mallory"`) {
		t.Fatalf("Send(mallory) = %v, want the no-member error", err)
	}
	if _, err := an.Request(ctx, "mallory", "echo", nil); err == nil || !strings.Contains(err.Error(), `no member "mallory"`) {
		t.Fatalf("Request(mallory) = %v, want the no-member error", err)
	}
	if _, err := an.Dial(ctx, "mallory", "echo"); err == nil || !strings.Contains(err.Error(), `no member "mallory"`) {
		t.Fatalf("Dial(mallory) = %v, want the no-member error", err)
	}
}

// TestSendOfflineKeepsSentence: when ctx ends while the member's node is
// still down, Send says the member is offline, as it did before it waited —
// also when ctx ends while a dial is still under way (a QUIC handshake to a
// closed port gives up only after 5 s; CI once hit exactly that).
func TestSendOfflineKeepsSentence(t *testing.T) {
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an := alice.start(t, "home")
	bob.join(t, makeInvite(t, an, ledger.RoleGuest, 1))
	an.Close()
	bn := bob.start(t, "home")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := bn.Send(ctx, "alice", []byte("hello?"))
	if err == nil || !strings.Contains(err.Error(), "alice is offline") {
		t.Fatalf("Send(alice) with her node down = %v, want the offline sentence", err)
	}
}
