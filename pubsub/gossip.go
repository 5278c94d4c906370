package pubsub

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	gps "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	_ "github.com/coconet/coconet/internal/protoconflict" // etcd and go-libp2p-pubsub both register "rpc.proto"
	"github.com/coconet/coconet/node"
)

// The gossip path (Options.Gossip): QoS 0 messages of the network travel
// on one gossipsub topic per network, signed by the publishing node's key
// (gossipsub's StrictSign: the node key is the libp2p identity), checked
// by every node that receives or relays them from its own ledger.

// gossipVersion is the first byte of a gossip payload.
const gossipVersion = 1

// MaxGossipAge is how old (or how far in the future, by the receiver's
// clock) a gossip message may be: older ones are refused, so a message
// cannot be replayed once gossipsub's seen-message cache forgot it.
const MaxGossipAge = 2 * time.Minute

// gossipSeenTTL is how long gossipsub remembers a message ID: longer than
// MaxGossipAge, so no accepted message is ever accepted twice.
const gossipSeenTTL = MaxGossipAge + 30*time.Second

// errNotMember is what the RPC inspector answers for a non-member peer.
var errNotMember = errors.New("pubsub: not a member node")

// GossipTopic is the gossipsub topic that carries the pub-sub messages
// of network (a network ID's text).
func GossipTopic(network string) string { return "/coco/pubsub/" + network }

// gossipProtocols are the stream protocols gossipsub registers.
var gossipProtocols = []protocol.ID{gps.GossipSubID_v13, gps.GossipSubID_v12, gps.GossipSubID_v11, gps.GossipSubID_v10, gps.FloodSubID}

// gossipMsg is a decoded gossip payload.
type gossipMsg struct {
	at    time.Time
	topic string
	data  []byte
}

// appendGossip encodes a gossip payload: version, flags (0), uvarint unix
// milliseconds, uvarint topic length, topic, data.
func appendGossip(dst []byte, at time.Time, topic string, data []byte) []byte {
	dst = append(dst, gossipVersion, 0)
	dst = binary.AppendUvarint(dst, uint64(at.UnixMilli()))
	dst = binary.AppendUvarint(dst, uint64(len(topic)))
	dst = append(dst, topic...)
	return append(dst, data...)
}

// parseGossip decodes a gossip payload from the network.
func parseGossip(b []byte) (m gossipMsg, err error) {
	r := reader{b: b}
	if v := r.byte(); r.err == nil && v != gossipVersion {
		return m, fmt.Errorf("pubsub: gossip message of version %d; this node reads %d", v, gossipVersion)
	}
	if f := r.byte(); r.err == nil && f != 0 {
		return m, fmt.Errorf("pubsub: gossip message: unknown flags %#x", f)
	}
	ms := r.uvarint()
	topic := r.bytes(MaxTopic)
	if r.err != nil {
		return m, fmt.Errorf("pubsub: gossip message: %w", r.err)
	}
	if ms > 1<<62 {
		return m, fmt.Errorf("pubsub: gossip message: time %d out of range", ms)
	}
	if err := ValidTopic(string(topic)); err != nil {
		return m, err
	}
	if len(r.b) > MaxMessage {
		return m, fmt.Errorf("pubsub: gossip message of %d bytes over the limit", len(r.b))
	}
	return gossipMsg{at: time.UnixMilli(int64(ms)), topic: string(topic), data: r.b}, nil
}

// gossip is a PubSub's gossipsub router and its one topic.
type gossip struct {
	ps     *PubSub
	g      *gps.PubSub
	topic  *gps.Topic
	name   string
	cancel context.CancelFunc

	mu  sync.Mutex // guards sub
	sub *gps.Subscription
}

// memberList is gossipsub's blacklist: every peer that is not a member
// node by this node's own ledger, at the moment of asking. It is asked for
// every connecting peer, every RPC's sender and every message's origin.
type memberList struct{ n *node.Node }

func (b memberList) Add(peer.ID) bool { return true }

func (b memberList) Contains(p peer.ID) bool { return p != b.n.ID() && !b.n.IsMember(p) }

// startGossip runs gossipsub on the node's host with coconet's checks.
func (ps *PubSub) startGossip() error {
	n := ps.n
	name := GossipTopic(n.Log().Network().String())
	ctx, cancel := context.WithCancel(ps.ctx)
	opts := []gps.Option{
		// Members' subscriptions to any other topic are not even kept.
		gps.WithSubscriptionFilter(gps.NewAllowlistSubscriptionFilter(name)),
		gps.WithMessageSignaturePolicy(gps.StrictSign),
		gps.WithPeerFilter(func(p peer.ID, topic string) bool { return n.IsMember(p) }),
		gps.WithBlacklist(memberList{n}),
		gps.WithAppSpecificRpcInspector(func(p peer.ID, _ *gps.RPC) error {
			if !n.IsMember(p) {
				return errNotMember
			}
			return nil
		}),
		gps.WithMaxMessageSize(maxFrame + 1024),
		gps.WithSeenMessagesTTL(gossipSeenTTL),
		gps.WithPeerExchange(false),
	}
	if p := ps.opts.GossipParams; p != nil {
		opts = append(opts, gps.WithGossipSubParams(*p))
	}
	g, err := gps.NewGossipSub(ctx, ps.h, opts...)
	if err != nil {
		cancel()
		return fmt.Errorf("pubsub: start gossipsub: %w", err)
	}
	gs := &gossip{ps: ps, g: g, name: name, cancel: cancel}
	if err := g.RegisterTopicValidator(gs.name, gs.validate, gps.WithValidatorInline(true)); err != nil {
		gs.stop()
		return fmt.Errorf("pubsub: gossip validator: %w", err)
	}
	if gs.topic, err = g.Join(gs.name); err != nil {
		gs.stop()
		return fmt.Errorf("pubsub: join gossip topic: %w", err)
	}
	ps.gossip = gs
	return nil
}

// stop ends gossipsub: its loops end with ctx; its stream handlers are
// removed (it has no Close of its own).
func (gs *gossip) stop() {
	gs.cancel()
	for _, p := range gossipProtocols {
		gs.ps.h.RemoveStreamHandler(p)
	}
}

// validate is asked by gossipsub for every message of the topic, received
// or published here, after it checked the signature against the From
// field (StrictSign). It accepts a message only from a member node, of a
// member node, fresh, well-formed and that Options.AuthorizePublish admits.
func (gs *gossip) validate(_ context.Context, from peer.ID, m *gps.Message) gps.ValidationResult {
	ps := gs.ps
	origin := m.GetFrom()
	if origin.Validate() != nil {
		return gps.ValidationReject
	}
	if from != ps.n.ID() && !ps.n.IsMember(from) {
		return gps.ValidationReject
	}
	sender, ok := ps.n.SenderOf(origin)
	if !ok {
		ps.opts.Logf("pubsub: gossip message of %s, not a member node, from %s: dropped", origin.ShortString(), from.ShortString())
		return gps.ValidationReject
	}
	gm, err := parseGossip(m.GetData())
	if err != nil {
		ps.opts.Logf("pubsub: gossip message of %s: %v", origin.ShortString(), err)
		return gps.ValidationReject
	}
	if age := time.Since(gm.at); age > MaxGossipAge || age < -MaxGossipAge {
		ps.opts.Logf("pubsub: gossip message of %s dated %s: dropped (more than %s off)", origin.ShortString(), gm.at.UTC().Format(time.RFC3339), MaxGossipAge)
		return gps.ValidationReject
	}
	if a := ps.opts.AuthorizePublish; a != nil && !a(sender, gm.topic) {
		ps.opts.Logf("pubsub: %s may not publish on %q: dropped", origin.ShortString(), gm.topic)
		return gps.ValidationReject
	}
	m.ValidatorData = gossipDelivery{sender: sender, msg: gm}
	return gps.ValidationAccept
}

// gossipDelivery is what validate hands the reading loop.
type gossipDelivery struct {
	sender node.Sender
	msg    gossipMsg
}

// join subscribes this node to the gossip topic (at its first local
// subscription); it stays subscribed, and relays, until Close.
func (gs *gossip) join() error {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.sub != nil {
		return nil
	}
	sub, err := gs.topic.Subscribe(gps.WithBufferSize(4096))
	if err != nil {
		return fmt.Errorf("pubsub: subscribe to the gossip topic: %w", err)
	}
	if !gs.ps.goOwned(func() { gs.read(sub) }) {
		sub.Cancel()
		return errClosed
	}
	gs.sub = sub
	return nil
}

// read hands every accepted message of another node to the local
// subscriptions.
func (gs *gossip) read(sub *gps.Subscription) {
	self := gs.ps.n.ID()
	for {
		m, err := sub.Next(gs.ps.ctx)
		if err != nil {
			return
		}
		if m.ReceivedFrom == self {
			continue // published here: delivered by Publish
		}
		d, ok := m.ValidatorData.(gossipDelivery)
		if !ok {
			continue
		}
		var seq uint64
		if s := m.GetSeqno(); len(s) == 8 {
			seq = binary.BigEndian.Uint64(s)
		}
		data := d.msg.data
		if data == nil {
			data = []byte{}
		}
		gs.ps.deliver(Message{Topic: d.msg.topic, Data: data, From: d.sender, QoS: QoS0, Seq: seq}, 0)
	}
}

// publish sends one message on the gossip topic.
func (gs *gossip) publish(ctx context.Context, topic string, data []byte) error {
	b := appendGossip(make([]byte, 0, 16+len(topic)+len(data)), time.Now(), topic, data)
	if err := gs.topic.Publish(ctx, b); err != nil {
		return fmt.Errorf("pubsub: gossip publish: %w", err)
	}
	return nil
}

// GossipPeers lists the member nodes this node exchanges the network's
// gossip with (empty without Options.Gossip).
func (ps *PubSub) GossipPeers() []peer.ID {
	if ps.gossip == nil {
		return nil
	}
	return ps.gossip.topic.ListPeers()
}
