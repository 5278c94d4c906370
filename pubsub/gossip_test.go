package pubsub_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	gps "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"google.golang.org/protobuf/proto"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
)

// devChain starts a developer network whose engines are linked in a chain
// owner — alice — bob — … (each only to the next), so a message from one
// end reaches the other only if the middle nodes relay it.
func devChain(t *testing.T, names ...string) (*enginetest.Net, []*engine.Engine) {
	t.Helper()
	n := enginetest.NewDeveloper(t, names[0])
	for _, name := range names[1:] {
		n.AddUser(name, ledger.RoleGuest)
	}
	var es []*engine.Engine
	for _, name := range names {
		e := n.Start(name, enginetest.Options{Alone: true, Logf: t.Logf})
		n.Sync(e)
		if len(es) > 0 {
			prev := es[len(es)-1]
			n.Link(prev, e)
			n.Introduce(prev, e)
		}
		es = append(es, e)
	}
	for i := 1; i < len(es); i++ {
		n.WaitConnected(es[i-1], es[i])
	}
	return n, es
}

// addLinked adds a guest named name to n's network and starts its engine
// linked to to only.
func addLinked(t *testing.T, n *enginetest.Net, name string, to *engine.Engine, others ...*engine.Engine) *engine.Engine {
	t.Helper()
	n.AddUser(name, ledger.RoleGuest)
	n.Sync(append([]*engine.Engine{to}, others...)...)
	e := n.Start(name, enginetest.Options{Alone: true, Logf: t.Logf})
	n.Sync(e)
	n.Link(to, e)
	n.Introduce(to, e)
	n.WaitConnected(to, e)
	return e
}

// gossipSubscribe subscribes e to pattern and waits until e's gossip
// neighbours know it (so that what is published next can reach it).
func gossipSubscribe(t *testing.T, e *engine.Engine, pattern string, neighbours ...*engine.Engine) *pubsub.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := e.Subscribe(ctx, pattern, pubsub.SubscribeOptions{})
	if err != nil {
		t.Fatalf("Subscribe(%q): %v", pattern, err)
	}
	t.Cleanup(func() { s.Close() })
	for _, nb := range neighbours {
		waitFor(t, fmt.Sprintf("%v to see %v in the gossip topic", nb, e), func() bool {
			for _, p := range nb.PubSub().GossipPeers() {
				if p == e.PeerID() {
					return true
				}
			}
			return false
		})
	}
	return s
}

// publishUntil publishes on topic from e every 100 ms until want returns
// true for a message received on s (gossip builds its mesh in heartbeats:
// the first messages may find no route yet). It returns the messages
// received, in order.
func publishUntil(t *testing.T, e *engine.Engine, s *pubsub.Subscription, topic, data string, want func(pubsub.Message) bool) []pubsub.Message {
	t.Helper()
	var got []pubsub.Message
	deadline := time.After(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := e.Publish(context.Background(), topic, []byte(data), pubsub.PublishOptions{}); err != nil {
			t.Fatalf("Publish(%q): %v", topic, err)
		}
		select {
		case m := <-s.C():
			got = append(got, m)
			if want(m) {
				return got
			}
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no wanted message on %q after 20s; received %d others", s.Pattern(), len(got))
		}
	}
}

// TestGossipDelivery: in a developer network a message crosses nodes
// that relay it (the publisher has no connection to the subscriber, so
// direct delivery could not reach it), wildcards still select, and the
// sender is named from the subscriber's ledger.
func TestGossipDelivery(t *testing.T) {
	_, es := devChain(t, "owner", "alice", "bob", "carol")
	owner, alice, bob, carol := es[0], es[1], es[2], es[3]
	sAlice := gossipSubscribe(t, alice, "chat/#", owner, bob)
	sBob := gossipSubscribe(t, bob, "chat/+/msg", alice, carol)
	sCarol := gossipSubscribe(t, carol, "chat/room1/msg", bob)
	sOther := gossipSubscribe(t, carol, "news/#", bob)

	if owner.Node().Host().Network().Connectedness(carol.PeerID()) == network.Connected {
		t.Fatal("owner is connected to carol; the test needs a relay between them")
	}
	is := func(m pubsub.Message) bool { return string(m.Data) == "hello" }
	for _, s := range []*pubsub.Subscription{sCarol, sBob, sAlice} {
		got := publishUntil(t, owner, s, "chat/room1/msg", "hello", is)
		m := got[len(got)-1]
		if m.Topic != "chat/room1/msg" || m.From.Node != owner.PeerID() || m.From.Name != "owner" || m.From.Role != ledger.RoleOwner {
			t.Errorf("received %q from %+v, want chat/room1/msg from the owner's node", m.Topic, m.From)
		}
	}
	// Carol's gossip brings her every message of the network; her news/#
	// subscription gets none of the chat.
	select {
	case m := <-sOther.C():
		t.Fatalf("news/# received %q", m.Topic)
	default:
	}
}

// TestUserNetworkNoGossip: a user network's pub-sub runs no gossipsub.
func TestUserNetworkNoGossip(t *testing.T) {
	n := enginetest.New(t, "owner")
	e := n.Start("owner", enginetest.Options{})
	for _, p := range e.Node().Host().Mux().Protocols() {
		if p == gps.GossipSubID_v11 || p == gps.GossipSubID_v13 {
			t.Fatalf("a user network's node speaks %s", p)
		}
	}
	if e.PubSub().GossipPeers() != nil {
		t.Fatal("a user network's node has gossip peers")
	}
}

// payload is a well-formed gossip payload (pubsub's wire: version 1,
// flags 0, unix ms, topic, data).
func payload(at time.Time, topic, data string) []byte {
	b := []byte{1, 0}
	b = binary.AppendUvarint(b, uint64(at.UnixMilli()))
	b = binary.AppendUvarint(b, uint64(len(topic)))
	b = append(b, topic...)
	return append(b, data...)
}

// inject sends one gossipsub RPC publishing m from host of e to peer to:
// a modified client, speaking gossipsub's wire by hand.
func inject(t *testing.T, from *engine.Engine, to peer.ID, m *pb.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.Node().Host().NewStream(ctx, to, gps.GossipSubID_v12, gps.GossipSubID_v11)
	if err != nil {
		// In a developer network the victim's node may already have cut
		// an unverified peer (devnet's hello): refused earlier still.
		t.Logf("the injected RPC's stream was refused: %v", err)
		return
	}
	b, err := proto.Marshal(&pb.RPC{Publish: []*pb.Message{m}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...)); err != nil {
		t.Logf("the injected RPC was refused while written: %v", err)
		s.Reset()
		return
	}
	// Leave the stream open: gossipsub reads it until it closes.
	t.Cleanup(func() { s.Reset() })
}

// signed builds a gossip message of origin, signed with key (which may
// not be origin's: a forgery).
func signed(t *testing.T, origin peer.ID, key crypto.PrivKey, network ledger.NetworkID, seq uint64, data []byte) *pb.Message {
	t.Helper()
	topic := pubsub.GossipTopic(network.String())
	m := &pb.Message{From: []byte(origin), Data: data, Seqno: binary.BigEndian.AppendUint64(nil, seq), Topic: &topic}
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := key.Sign(append([]byte(gps.SignPrefix), b...))
	if err != nil {
		t.Fatal(err)
	}
	m.Signature = sig
	return m
}

func nodeKey(t *testing.T, e *engine.Engine) crypto.PrivKey {
	t.Helper()
	k := e.Node().Host().Peerstore().PrivKey(e.PeerID())
	if k == nil {
		t.Fatal("no private key in the peerstore")
	}
	return k
}

// attackThenProbe runs attack, then has probe publish "probe" until sub
// receives it, and fails if sub received anything else: what the attack
// sent before the probe's message arrived (and during a short grace
// after it) was dropped.
func attackThenProbe(t *testing.T, attack func(), probe *engine.Engine, sub *pubsub.Subscription) {
	t.Helper()
	attack()
	got := publishUntil(t, probe, sub, "chat/room1/msg", "probe", func(m pubsub.Message) bool { return string(m.Data) == "probe" })
	grace := time.After(300 * time.Millisecond)
	for {
		select {
		case m := <-sub.C():
			got = append(got, m)
			continue
		case <-grace:
		}
		break
	}
	for _, m := range got {
		if string(m.Data) != "probe" {
			t.Errorf("delivered %q=%q from %s: the attack got through", m.Topic, m.Data, m.From.Node.ShortString())
		}
	}
}

// TestGossipStrangerCannotInject: a stranger with throwaway keys, linked
// to a member node, sends it correctly signed gossip messages: dropped
// (its RPCs refused, the origin is no member node).
func TestGossipStrangerCannotInject(t *testing.T) {
	n, es := devChain(t, "owner", "alice")
	owner, alice := es[0], es[1]
	n.Stranger("mallory")
	mallory := n.Start("mallory", enginetest.Options{Alone: true, Logf: t.Logf})
	n.Link(mallory, alice)
	if err := mallory.Node().Host().Connect(context.Background(), peer.AddrInfo{ID: alice.PeerID(), Addrs: alice.Node().Host().Addrs()}); err != nil {
		t.Fatalf("stranger connects (mocknet has no gater): %v", err)
	}
	sub := gossipSubscribe(t, alice, "chat/#", owner)
	attackThenProbe(t, func() {
		for i := range 5 {
			inject(t, mallory, alice.PeerID(), signed(t, mallory.PeerID(), nodeKey(t, mallory), n.Log().Network(), uint64(i+1), payload(time.Now(), "chat/room1/msg", "from a stranger")))
		}
	}, owner, sub)
}

// TestGossipForgedPublisher: a member's modified client sends a message
// whose publisher field names another member (the owner), signed with its
// own key, or not signed: the signature does not match the named node,
// dropped. (The
// attacker is off the path the probe takes: a hand-made stream replaces
// its node's own gossip stream to the victim.)
func TestGossipForgedPublisher(t *testing.T) {
	n, es := devChain(t, "owner", "alice", "bob")
	owner, alice, bob := es[0], es[1], es[2]
	carol := addLinked(t, n, "carol", bob, owner, alice)
	sub := gossipSubscribe(t, bob, "chat/#", alice)
	gossipSubscribe(t, alice, "chat/#", owner, bob)
	attackThenProbe(t, func() {
		for i := range 5 {
			inject(t, carol, bob.PeerID(), signed(t, owner.PeerID(), nodeKey(t, carol), n.Log().Network(), uint64(1000+i), payload(time.Now(), "chat/room1/msg", "forged")))
		}
		// And with no signature at all.
		unsigned := signed(t, owner.PeerID(), nodeKey(t, carol), n.Log().Network(), 2000, payload(time.Now(), "chat/room1/msg", "forged, unsigned"))
		unsigned.Signature = nil
		inject(t, carol, bob.PeerID(), unsigned)
	}, owner, sub)
}

// TestGossipRemovedMember: a member removed from the ledger keeps running
// its old copy and publishes: every node that knows of the removal drops
// its messages, and a relay does not pass them on.
func TestGossipRemovedMember(t *testing.T) {
	n, es := devChain(t, "owner", "alice", "bob")
	owner, alice, bob := es[0], es[1], es[2]
	sub := gossipSubscribe(t, alice, "chat/#", owner, bob)
	gossipSubscribe(t, bob, "chat/#", alice)
	// Bob is still welcome before his removal.
	publishUntil(t, bob, sub, "chat/room1/msg", "before", func(m pubsub.Message) bool { return string(m.Data) == "before" })

	n.Remove("bob")
	n.Sync(owner, alice) // bob's own ledger does not learn it
	attackThenProbe(t, func() {
		for range 5 {
			// His own node may have learnt of the removal and refuse.
			bob.Publish(context.Background(), "chat/room1/msg", []byte("after removal"), pubsub.PublishOptions{})
		}
		// And by hand, straight to alice, in case his connection was closed.
		n.Link(bob, alice)
		bob.Node().Host().Connect(context.Background(), peer.AddrInfo{ID: alice.PeerID(), Addrs: alice.Node().Host().Addrs()})
		inject(t, bob, alice.PeerID(), signed(t, bob.PeerID(), nodeKey(t, bob), n.Log().Network(), uint64(time.Now().UnixNano()), payload(time.Now(), "chat/room1/msg", "after removal, by hand")))
	}, owner, sub)
}

// TestGossipReplayedMessage: a member replays the owner's message signed long ago
// (older than MaxGossipAge, so gossipsub's seen cache has forgotten it):
// dropped.
func TestGossipReplayedMessage(t *testing.T) {
	n, es := devChain(t, "owner", "alice", "bob")
	owner, alice, bob := es[0], es[1], es[2]
	sub := gossipSubscribe(t, alice, "chat/#", owner)
	attackThenProbe(t, func() {
		old := time.Now().Add(-pubsub.MaxGossipAge - time.Minute)
		inject(t, bob, alice.PeerID(), signed(t, owner.PeerID(), nodeKey(t, owner), n.Log().Network(), uint64(old.UnixNano()), payload(old, "chat/room1/msg", "replayed")))
	}, owner, sub)
}

// TestGossipPublishPolicy: a Publish policy on the receiving node (here:
// guests may not publish under "announce/") drops a member's message on
// every node that holds it, relays included; the owner's goes through.
func TestGossipPublishPolicy(t *testing.T) {
	_, es := devChain(t, "owner", "alice", "bob")
	owner, alice, bob := es[0], es[1], es[2]
	noGuests := engine.Policy{Publish: func(pub node.Sender, topic string) bool {
		return pub.Role != ledger.RoleGuest || len(topic) < 9 || topic[:9] != "announce/"
	}}
	for _, e := range es {
		e.AddPolicy(noGuests)
	}
	sub := gossipSubscribe(t, alice, "#", owner, bob)
	// Bob's own node refuses his publish (it checks itself too), so he
	// publishes with a modified client.
	if err := bob.Publish(context.Background(), "announce/x", []byte("guest"), pubsub.PublishOptions{}); err == nil {
		t.Error("bob's own node published a message its policy refuses")
	}
	attackThenProbe(t, func() {
		for i := range 3 {
			inject(t, bob, alice.PeerID(), signed(t, bob.PeerID(), nodeKey(t, bob), owner.NetworkID(), uint64(time.Now().UnixNano())+uint64(i), payload(time.Now(), "announce/x", "guest")))
		}
	}, owner, sub)
}

// TestGossipTopicPolicyGoesDirect: in a developer network a node whose
// engine has a Topic policy (who may receive what it publishes) publishes
// the direct way, so the policy holds: gossip would hand the message to
// every member that relays it.
func TestGossipTopicPolicyGoesDirect(t *testing.T) {
	n := enginetest.NewDeveloper(t, "owner")
	n.AddUser("alice", ledger.RoleGuest)
	n.AddUser("bob", ledger.RoleGuest)
	owner := n.Start("owner", enginetest.Options{Logf: t.Logf})
	alice := n.Start("alice", enginetest.Options{Logf: t.Logf})
	bob := n.Start("bob", enginetest.Options{Logf: t.Logf})
	n.Sync(alice, bob)
	n.WaitConnected(owner, alice, bob)
	owner.AddPolicy(engine.Policy{Topic: func(sub node.Sender, topic string) bool {
		return sub.Name != "alice" || topic != "secret/x"
	}})
	sAlice := gossipSubscribe(t, alice, "#", owner, bob)
	sBob := gossipSubscribe(t, bob, "#", owner, alice)
	publishUntil(t, owner, sBob, "secret/x", "s", func(m pubsub.Message) bool { return m.Topic == "secret/x" })
	// Then something alice may read, from the same publisher, after it.
	got := publishUntil(t, owner, sAlice, "open/x", "o", func(m pubsub.Message) bool { return m.Topic == "open/x" })
	for _, m := range got {
		if m.Topic == "secret/x" {
			t.Fatalf("alice received secret/x, which the publisher's policy refuses her")
		}
	}
}

// TestDeveloperNetworkQoS1AndRetained: QoS 1 and retained values keep
// their promises in a developer network (they go the direct way).
func TestDeveloperNetworkQoS1AndRetained(t *testing.T) {
	_, es := devChain(t, "owner", "alice")
	owner, alice := es[0], es[1]
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := owner.Publish(ctx, "state/door", []byte("open"), pubsub.PublishOptions{Retain: true}); err != nil {
		t.Fatal(err)
	}
	s, err := alice.Subscribe(ctx, "state/#", pubsub.SubscribeOptions{QoS: pubsub.QoS1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m := next(t, s); m.Topic != "state/door" || string(m.Data) != "open" || !m.Retained {
		t.Fatalf("first message %q=%q retained=%v, want the retained state/door=open", m.Topic, m.Data, m.Retained)
	}
	if err := owner.Publish(ctx, "state/door", []byte("closed"), pubsub.PublishOptions{QoS: pubsub.QoS1}); err != nil {
		t.Fatal(err)
	}
	if m := next(t, s); m.Topic != "state/door" || string(m.Data) != "closed" || m.QoS != pubsub.QoS1 {
		t.Fatalf("received %q=%q QoS %d, want state/door=closed at QoS 1", m.Topic, m.Data, m.QoS)
	}
}

// TestPublishPolicyDirect: the receiving node's Publish policy also holds
// on the direct way (a user network): a refused publisher's messages are
// acknowledged but not delivered.
func TestPublishPolicyDirect(t *testing.T) {
	n := enginetest.New(t, "owner")
	n.AddUser("alice", ledger.RoleGuest)
	owner := n.Start("owner", enginetest.Options{Logf: t.Logf})
	alice := n.Start("alice", enginetest.Options{Logf: t.Logf})
	n.Sync(alice)
	n.WaitConnected(owner, alice)
	owner.AddPolicy(engine.Policy{Publish: func(pub node.Sender, topic string) bool { return topic != "announce/x" }})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := owner.Subscribe(ctx, "#", pubsub.SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, topic := range []string{"announce/x", "chat/x"} {
		if err := alice.Publish(ctx, topic, []byte("hi"), pubsub.PublishOptions{QoS: pubsub.QoS1}); err != nil {
			t.Fatal(err)
		}
	}
	if m := next(t, s); m.Topic != "chat/x" {
		t.Fatalf("received %q, want chat/x only (announce/x refused)", m.Topic)
	}
}
