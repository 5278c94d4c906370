package engine_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// pair starts alice (owner) and bob (a guest) on mocknet, connected.
func pair(t *testing.T) (n *enginetest.Net, alice, bob *engine.Engine) {
	n = enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleGuest)
	alice = n.Start("alice", enginetest.Options{})
	bob = n.Start("bob", enginetest.Options{})
	n.WaitConnected(alice, bob)
	return n, alice, bob
}

// A message sent by name arrives, acknowledged, with its sender named
// from the receiver's ledger.
func TestSendMessages(t *testing.T) {
	_, alice, bob := pair(t)
	msgs, cancel := bob.Messages()
	defer cancel()
	if err := alice.Send(withDeadline(t, 10*time.Second), "bob", []byte("hello")); err != nil {
		t.Fatalf("Send: %v", err)
	}
	m := recv(t, msgs)
	if string(m.Data) != "hello" || m.FromName != "alice" || m.From != alice.User() || m.FromNode != alice.PeerID() {
		t.Fatalf("bob received %+v", m)
	}
	if err := bob.Send(withDeadline(t, 10*time.Second), alice.User().String(), []byte("back")); err != nil {
		t.Fatalf("Send by user ID: %v", err)
	}
}

// A removed member is told so when it sends, before anything is tried.
func TestSendByRemovedMember(t *testing.T) {
	n, alice, bob := pair(t)
	n.Remove("bob")
	n.Sync(bob)
	msgs, cancel := alice.Messages()
	defer cancel()
	err := bob.Send(withDeadline(t, 10*time.Second), "alice", []byte("still here?"))
	if err == nil || !strings.Contains(err.Error(), "no longer a member") || !strings.Contains(err.Error(), "removed") {
		t.Fatalf("Send by removed bob = %v, want 'you are no longer a member … removed'", err)
	}
	select {
	case m := <-msgs:
		t.Fatalf("alice received %q from removed bob", m.Data)
	default:
	}
}

// Sending to a member none of whose nodes can be reached, without a
// deadline, says at once that it is offline.
func TestSendOffline(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleGuest)
	alice := n.Start("alice", enginetest.Options{})
	err := alice.Send(context.Background(), "bob", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "bob is offline") {
		t.Fatalf("Send to offline bob = %v, want 'bob is offline'", err)
	}
	if err := alice.Send(context.Background(), "nobody", []byte("x")); err == nil || !strings.Contains(err.Error(), "members are") {
		t.Fatalf("Send to an unknown name = %v, want the list of members", err)
	}
}

// A request passes every policy added with AddPolicy before the service's
// access; a policy's refusal text reaches the caller, and the handler
// never runs.
func TestRequestPolicies(t *testing.T) {
	_, alice, bob := pair(t)
	var served atomic.Int32
	echo := func(ctx context.Context, r *rpc.Request) ([]byte, error) {
		served.Add(1)
		return append([]byte(r.From.Name+": "), r.Payload...), nil
	}
	alice.Handle("echo", echo, node.Everyone)
	alice.Handle("vault", echo, node.Everyone)
	ctx := withDeadline(t, 10*time.Second)

	reply, err := bob.Request(ctx, "alice", "echo", []byte("hi"))
	if err != nil || string(reply) != "bob: hi" {
		t.Fatalf("Request(echo) = %q, %v", reply, err)
	}

	alice.AddPolicy(engine.Policy{}) // nil functions admit every member
	alice.AddPolicy(engine.Policy{Request: func(from node.Sender, service string) error {
		if service == "vault" && from.Role < ledger.RoleAdmin {
			return errors.New("the vault is for admins")
		}
		return nil
	}})
	served.Store(0)
	_, err = bob.Request(ctx, "alice", "vault", nil)
	if !errors.Is(err, rpc.ErrNotAllowed) || !strings.Contains(err.Error(), "the vault is for admins") {
		t.Fatalf("Request(vault) by a guest = %v, want ErrNotAllowed with the policy's text", err)
	}
	if served.Load() != 0 {
		t.Fatal("the vault's handler ran for a refused request")
	}
	if reply, err := bob.Request(ctx, "alice", "echo", []byte("again")); err != nil || string(reply) != "bob: again" {
		t.Fatalf("Request(echo) beside the vault's policy = %q, %v", reply, err)
	}

	// Every policy must admit: one that refuses everything closes echo
	// too, whatever the others say.
	alice.AddPolicy(engine.Policy{Request: func(node.Sender, string) error { return errors.New("closed for maintenance") }})
	if _, err := bob.Request(ctx, "alice", "echo", nil); !errors.Is(err, rpc.ErrNotAllowed) || !strings.Contains(err.Error(), "closed for maintenance") {
		t.Fatalf("Request(echo) with a refusing policy = %v", err)
	}

	// The service's own access is checked after the policies: the
	// default access (owner and admins) refuses a guest.
	bob.Handle("private", echo)
	if _, err := alice.Request(ctx, "bob", "private", nil); err != nil {
		t.Fatalf("the owner calling a default-access service = %v", err)
	}
}

// A stream passes the policies too; an admitted one carries bytes both
// ways.
func TestDialPolicies(t *testing.T) {
	_, alice, bob := pair(t)
	open, err := alice.Listen("open", node.Everyone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Listen("files", node.Everyone); err != nil {
		t.Fatal(err)
	}
	alice.AddPolicy(engine.Policy{Stream: func(from node.Sender, service string) error {
		if service == "files" {
			return errors.New("files are shared with admins only")
		}
		return nil
	}})
	ctx := withDeadline(t, 10*time.Second)
	if _, err := bob.Dial(ctx, "alice", "files"); !errors.Is(err, stream.ErrNotAllowed) || !strings.Contains(err.Error(), "files are shared with admins only") {
		t.Fatalf("Dial(files) = %v, want ErrNotAllowed with the policy's text", err)
	}
	if _, err := bob.Dial(ctx, "alice", "nothing-here"); !errors.Is(err, stream.ErrUnknownService) {
		t.Fatalf("Dial(nothing-here) = %v, want ErrUnknownService", err)
	}

	done := make(chan error, 1)
	go func() {
		c, err := open.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		if err == nil {
			_, err = c.Write(append([]byte("got "), b...))
		}
		done <- err
	}()
	c, err := bob.Dial(ctx, "alice", "open")
	if err != nil {
		t.Fatalf("Dial(open): %v", err)
	}
	defer c.Close()
	c.Write([]byte("data"))
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "got data" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("server side: %v", err)
	}
}

// A node the ledger does not list is refused by the services even with
// no connection gater in the way (a mock host has none): the request
// never reaches the handler, the message never reaches the inbox.
func TestStrangerRefusedByServices(t *testing.T) {
	n, alice, _ := pair(t)
	n.Stranger("eve")
	eve := n.Start("eve", enginetest.Options{})
	var served atomic.Int32
	alice.Handle("echo", func(ctx context.Context, r *rpc.Request) ([]byte, error) {
		served.Add(1)
		return nil, nil
	}, node.Everyone)
	msgs, cancel := alice.Messages()
	defer cancel()
	ctx := withDeadline(t, 10*time.Second)
	if _, err := eve.RequestNodes(ctx, []peer.ID{alice.PeerID()}, "echo", nil); err == nil {
		t.Fatal("a stranger's request succeeded")
	}
	if _, err := eve.Streams().Dial(ctx, alice.PeerID(), "echo"); err == nil {
		t.Fatal("a stranger's stream was accepted")
	}
	if err := eve.MessageService().Send(ctx, alice.PeerID(), []byte("hi")); err == nil {
		t.Fatal("a stranger's message was acknowledged")
	}
	if served.Load() != 0 {
		t.Fatal("the handler ran for a stranger")
	}
	select {
	case m := <-msgs:
		t.Fatalf("alice received %q from a stranger", m.Data)
	default:
	}
}

// A removed member's node is refused by the services on the next request,
// though its own ledger copy has not heard of the removal and no gater
// keeps it out.
func TestRemovedMemberRefusedByServices(t *testing.T) {
	n, alice, bob := pair(t)
	var served atomic.Int32
	alice.Handle("echo", func(ctx context.Context, r *rpc.Request) ([]byte, error) {
		served.Add(1)
		return nil, nil
	}, node.Everyone)
	ctx := withDeadline(t, 10*time.Second)
	if _, err := bob.Request(ctx, "alice", "echo", nil); err != nil || served.Load() != 1 {
		t.Fatalf("Request before the removal = %v (served %d)", err, served.Load())
	}
	n.Remove("bob") // in alice's ledger only
	if _, err := bob.RequestNodes(ctx, []peer.ID{alice.PeerID()}, "echo", nil); err == nil {
		t.Fatal("removed bob's request succeeded")
	}
	if _, err := bob.Streams().Dial(ctx, alice.PeerID(), "echo"); err == nil {
		t.Fatal("removed bob's stream was accepted")
	}
	if served.Load() != 1 {
		t.Fatal("the handler ran for removed bob")
	}
}

// The policy hooks themselves: a non-member is refused whatever the
// policies say, and every policy must admit.
func TestAuthorize(t *testing.T) {
	n := enginetest.New(t, "alice")
	e := n.Start("alice", enginetest.Options{})
	guest := node.Sender{Name: "bob", Role: ledger.RoleGuest}
	none := node.Sender{Name: "eve", Role: ledger.RoleNone}
	if e.AuthorizeRequest(guest, "x") != nil || e.AuthorizeStream(guest, "x") != nil || !e.AuthorizeTopic(guest, "t") {
		t.Fatal("a member is refused with no policy")
	}
	if e.AuthorizeRequest(none, "x") == nil || e.AuthorizeStream(none, "x") == nil || e.AuthorizeTopic(none, "t") {
		t.Fatal("a non-member is admitted")
	}
	yes := engine.Policy{
		Request: func(node.Sender, string) error { return nil },
		Stream:  func(node.Sender, string) error { return nil },
		Topic:   func(node.Sender, string) bool { return true },
	}
	e.AddPolicy(yes)
	if e.AuthorizeRequest(none, "x") == nil || e.AuthorizeStream(none, "x") == nil || e.AuthorizeTopic(none, "t") {
		t.Fatal("a policy that admits all lets a non-member in")
	}
	e.AddPolicy(engine.Policy{
		Request: func(_ node.Sender, s string) error { return errIf(s == "x") },
		Stream:  func(_ node.Sender, s string) error { return errIf(s == "x") },
		Topic:   func(_ node.Sender, topic string) bool { return topic != "t" },
	})
	e.AddPolicy(yes)
	if e.AuthorizeRequest(guest, "x") == nil || e.AuthorizeStream(guest, "x") == nil || e.AuthorizeTopic(guest, "t") {
		t.Fatal("one policy's refusal is overridden by another's admission")
	}
	if e.AuthorizeRequest(guest, "y") != nil || e.AuthorizeStream(guest, "y") != nil || !e.AuthorizeTopic(guest, "u") {
		t.Fatal("what every policy admits is refused")
	}
}

func errIf(b bool) error {
	if b {
		return errors.New("refused")
	}
	return nil
}

// A request that reached a node is never sent to another of the member's
// nodes, even when it failed there; a node that cannot be reached is
// skipped for the next.
func TestRequestNotRepeated(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleGuest)
	n.AddNode("bob", "phone")
	n.AddNode("bob", "tablet") // never started: unreachable
	alice := n.Start("alice", enginetest.Options{})
	coco := n.Start("bob", enginetest.Options{})
	phone := n.Start("bob", enginetest.Options{App: "phone"})
	n.WaitConnected(alice, coco, phone)
	var calls atomic.Int32
	for _, e := range []*engine.Engine{coco, phone} {
		e.Handle("flaky", func(ctx context.Context, r *rpc.Request) ([]byte, error) {
			calls.Add(1)
			return nil, errors.New("the disk is full")
		}, node.Everyone)
		e.Handle("ok", func(ctx context.Context, r *rpc.Request) ([]byte, error) {
			calls.Add(1)
			return []byte("fine"), nil
		}, node.Everyone)
	}
	ctx := withDeadline(t, 10*time.Second)
	_, err := alice.Request(ctx, "bob", "flaky", nil)
	var re *rpc.RemoteError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "the disk is full") {
		t.Fatalf("Request(flaky) = %v, want the handler's error", err)
	}
	if c := calls.Load(); c != 1 {
		t.Fatalf("the failed request ran %d times on bob's nodes, want once", c)
	}

	// The tablet, listed but unreachable, first: the request goes on to
	// a node that answers.
	calls.Store(0)
	ids := []peer.ID{n.NodeID("bob", "tablet"), phone.PeerID()}
	if reply, err := alice.RequestNodes(ctx, ids, "ok", nil); err != nil || string(reply) != "fine" || calls.Load() != 1 {
		t.Fatalf("RequestNodes(tablet, phone) = %q, %v (ran %d times)", reply, err, calls.Load())
	}
}

// The topic policies decide which subscriber receives what this node
// publishes.
func TestTopicPolicy(t *testing.T) {
	_, alice, bob := pair(t)
	alice.AddPolicy(engine.Policy{Topic: func(sub node.Sender, topic string) bool {
		return !strings.HasPrefix(topic, "secret/") || sub.Role >= ledger.RoleAdmin
	}})
	ctx := withDeadline(t, 10*time.Second)
	sub, err := bob.Subscribe(ctx, "#", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Subscribe returned: alice, connected, knows the subscription.
	for _, topic := range []string{"secret/pin", "open/x"} {
		if err := alice.Publish(ctx, topic, []byte(topic), pubsub.PublishOptions{QoS: pubsub.QoS1}); err != nil {
			t.Fatalf("Publish(%s): %v", topic, err)
		}
	}
	// In order per publisher at QoS 1: the first message bob receives is
	// the open one, so the secret one was not sent to him.
	select {
	case m := <-sub.C():
		if m.Topic != "open/x" {
			t.Fatalf("bob (a guest) received %q", m.Topic)
		}
	case <-ctx.Done():
		t.Fatal("bob received nothing")
	}
}
