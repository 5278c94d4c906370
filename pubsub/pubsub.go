package pubsub

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gps "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// Options configure a PubSub. The zero value is usable.
type Options struct {
	// Authorize decides whether a subscriber may receive a topic; nil allows every member.
	// It is asked by the publisher for every delivery to another node and for
	// every retained value sent to a new subscription.
	Authorize func(sub node.Sender, topic string) bool
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
	// QueueLen bounds the messages queued for one subscriber node; while the
	// node is connected Publish waits for room. Default 1024.
	QueueLen int
	// OutboxLen bounds the unacknowledged QoS 1 messages kept for one
	// subscriber node, also while it is away. Default 10000.
	OutboxLen int

	// AuthorizePublish decides whether a message that publisher pub sent
	// on topic is accepted; nil admits every member node. It is asked by
	// every node that receives the message, direct or over gossip (where
	// a node that refuses it does not relay it either).
	AuthorizePublish func(pub node.Sender, topic string) bool
	// Gossip carries QoS 0 messages over gossipsub, on one topic per
	// network (GossipTopic), instead of one copy per subscriber node from
	// the publisher: the way for developer networks. Subscriptions also
	// announce themselves the direct way, so QoS 1, retained values and
	// publishes that UseGossip sends direct keep working.
	Gossip bool
	// UseGossip, with Gossip, is asked for each QoS 0 Publish: false sends
	// that message the direct way. nil sends every QoS 0 message over gossip.
	UseGossip func(topic string) bool
	// GossipParams tunes gossipsub (mesh degree, heartbeat); nil means
	// gossipsub's defaults.
	GossipParams *gps.GossipSubParams
}

// QoS is a delivery guarantee.
type QoS int

const (
	QoS0 QoS = 0 // at most once
	QoS1 QoS = 1 // at least once, acknowledged, redelivered after a reconnect
)

// PublishOptions shape one Publish.
type PublishOptions struct {
	QoS QoS
	// Retain keeps data as the topic's last value at this publisher, sent
	// to every new matching subscription. Empty data clears it.
	Retain bool
}

// SubscribeOptions shape a subscription.
type SubscribeOptions struct {
	QoS QoS
	// Buffer is the channel's capacity; a subscription more than Buffer
	// messages behind loses messages and gets a Lag signal. Default 1024.
	Buffer int
}

// Message is one delivered message.
type Message struct {
	Topic    string
	Data     []byte // shared with other subscriptions: read-only
	From     node.Sender
	Retained bool
	QoS      QoS
	// Seq increases with every message one publisher sends to this node (0
	// for messages of the local node's retained values).
	Seq uint64
}

// PubSub is the pub-sub service of one node.
type PubSub struct {
	n       *node.Node
	h       host.Host
	opts    Options
	session uint64
	self    node.Sender
	notif   *network.NotifyBundle
	gossip  *gossip // nil without Options.Gossip

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	gen       atomic.Uint64 // announcement generation
	nextSubID atomic.Uint64
	localSeq  atomic.Uint64
	dropped   atomic.Uint64             // messages dropped for subscriptions that fell behind (Stats)
	lastTopic atomic.Pointer[string]    // the last topic Publish found valid
	remoteSet atomic.Pointer[[]*remote] // snapshot of remotes for Publish

	smu  sync.RWMutex // guards subs
	subs []*Subscription

	mu       sync.Mutex // guards following fields
	closed   bool
	remotes  map[peer.ID]*remote
	retained map[string]retainedMsg
	incoming map[network.Stream]struct{}
	pubs     map[peer.ID]*pubState
}

type retainedMsg struct {
	m   *pubMsg
	qos QoS
}

// New starts pub-sub on a started node: it registers its protocol handlers
// on n.Host(). Close stops it.
func New(n *node.Node, opts Options) (*PubSub, error) {
	if n == nil || n.Host() == nil {
		return nil, errors.New("pubsub: the node is not started; call Start first")
	}
	if opts.QueueLen <= 0 {
		opts.QueueLen = 1024
	}
	if opts.OutboxLen <= 0 {
		opts.OutboxLen = 10000
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	var sb [8]byte
	rand.Read(sb[:])
	ps := &PubSub{
		n: n, h: n.Host(), opts: opts,
		session:  binary.LittleEndian.Uint64(sb[:]) | 1,
		remotes:  map[peer.ID]*remote{},
		retained: map[string]retainedMsg{},
		incoming: map[network.Stream]struct{}{},
		pubs:     map[peer.ID]*pubState{},
	}
	ps.self, _ = n.SenderOf(n.ID())
	ps.self.Node = n.ID()
	ps.ctx, ps.cancel = context.WithCancel(n.Context())
	ps.remoteSet.Store(&[]*remote{})
	ps.h.SetStreamHandler(ProtoSubs, ps.handleSubs)
	ps.h.SetStreamHandler(ProtoMsg, ps.handleMsg)
	ps.notif = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			p := c.RemotePeer()
			if ps.n.IsMember(p) {
				ps.goOwned(func() { ps.announceWithRetry(p) })
			}
		},
	}
	ps.h.Network().Notify(ps.notif)
	if opts.Gossip {
		if err := ps.startGossip(); err != nil {
			ps.Close()
			return nil, err
		}
	}
	n.Log().OnChange(func(*ledger.State) { ps.onLedgerChange() })
	return ps, nil
}

// goOwned runs fn in a goroutine that Close waits for; it reports false
// after Close.
func (ps *PubSub) goOwned(fn func()) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return false
	}
	ps.wg.Add(1)
	go func() {
		defer ps.wg.Done()
		fn()
	}()
	return true
}

// Close stops pub-sub: handlers are removed, streams reset, every goroutine
// stopped and every subscription's channel closed. It is idempotent.
func (ps *PubSub) Close() error {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return nil
	}
	ps.closed = true
	ps.cancel()
	ps.mu.Unlock()
	// Not under ps.mu: the swarm holds its notifiee lock while it calls our
	// ConnectedF, which takes ps.mu (goOwned) — StopNotify under ps.mu
	// deadlocked with a connection opening at the same moment.
	ps.h.RemoveStreamHandler(ProtoSubs)
	ps.h.RemoveStreamHandler(ProtoMsg)
	ps.h.Network().StopNotify(ps.notif)
	if ps.gossip != nil {
		ps.gossip.stop()
	}
	ps.mu.Lock()
	for s := range ps.incoming {
		s.Reset()
	}
	rs := make([]*remote, 0, len(ps.remotes))
	for _, r := range ps.remotes {
		rs = append(rs, r)
	}
	ps.mu.Unlock()
	for _, r := range rs {
		r.stop()
	}
	ps.wg.Wait()
	ps.smu.Lock()
	for _, s := range ps.subs {
		s.closeLocked()
	}
	ps.subs = nil
	ps.smu.Unlock()
	return nil
}

// onLedgerChange drops every remote and incoming stream of a node that is
// no longer a member, and refreshes the others' identities.
func (ps *PubSub) onLedgerChange() {
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return
	}
	var gone []*remote
	for id, r := range ps.remotes {
		if s, ok := ps.n.SenderOf(id); ok {
			r.sender.Store(&s)
			continue
		}
		ps.opts.Logf("pubsub: %s is no longer a member; dropping its subscriptions", id.ShortString())
		delete(ps.remotes, id)
		gone = append(gone, r)
	}
	for s := range ps.incoming {
		if !ps.n.IsMember(s.Conn().RemotePeer()) {
			s.Reset()
		}
	}
	if len(gone) > 0 {
		ps.storeRemotesLocked()
	}
	ps.mu.Unlock()
	for _, r := range gone {
		r.removed.Store(true)
		r.stop()
	}
}

func (ps *PubSub) storeRemotesLocked() {
	rs := make([]*remote, 0, len(ps.remotes))
	for _, r := range ps.remotes {
		rs = append(rs, r)
	}
	ps.remoteSet.Store(&rs)
}

// Publish sends data to every subscription whose pattern matches topic: the
// local node's and those of the connected member nodes (and, for QoS 1, of
// subscriber nodes that are away). It returns once the message is queued for
// each of them; it waits (bounded by ctx) while a connected subscriber
// node's queue is full.
func (ps *PubSub) Publish(ctx context.Context, topic string, data []byte, opts PublishOptions) error {
	// A publisher mostly publishes to the topic it published to last: that
	// one was checked.
	if last := ps.lastTopic.Load(); last == nil || *last != topic {
		if err := ValidTopic(topic); err != nil {
			return err
		}
		checked := topic // a copy, so that topic itself does not escape
		ps.lastTopic.Store(&checked)
	}
	if len(data) > MaxMessage {
		return fmt.Errorf("pubsub: message of %d bytes is over the %d byte limit", len(data), MaxMessage)
	}
	if opts.QoS != QoS0 && opts.QoS != QoS1 {
		return fmt.Errorf("pubsub: QoS %d is not supported; use QoS0 or QoS1", opts.QoS)
	}
	if ps.ctx.Err() != nil {
		return errClosed
	}
	m := &pubMsg{topic: topic, data: slices.Clone(data), qos: opts.QoS}
	if m.data == nil {
		m.data = []byte{}
	}
	if opts.Retain {
		ps.mu.Lock()
		if len(data) == 0 {
			delete(ps.retained, topic)
		} else {
			ps.retained[topic] = retainedMsg{m, opts.QoS}
		}
		ps.mu.Unlock()
	}
	ps.deliver(Message{Topic: topic, Data: m.data, From: ps.self, QoS: opts.QoS, Seq: ps.localSeq.Add(1)}, 0)
	if ps.viaGossip(topic, opts.QoS) {
		return ps.gossip.publish(ctx, topic, m.data)
	}
	for _, r := range *ps.remoteSet.Load() {
		if r.removed.Load() {
			continue
		}
		matched, q, dormant := r.match(topic, opts.QoS)
		if !matched {
			continue
		}
		if a := ps.opts.Authorize; a != nil && !a(*r.sender.Load(), topic) {
			continue
		}
		if err := r.enqueue(ctx, entry{m: m, qos: q}, dormant); err != nil {
			return err
		}
	}
	return nil
}

// Subscription is one subscription; read C until it is closed.
type Subscription struct {
	ps      *PubSub
	id      uint64
	pattern string
	qos     QoS
	ch      chan Message
	lag     chan uint64
	lagMu   sync.Mutex
	closed  bool // guarded by ps.smu
}

// Subscribe subscribes to the topics matching pattern. It returns once the
// connected member nodes know the subscription (ctx bounds the wait; a node
// that is slow to answer learns it later), so messages published after it
// returns are delivered. The local retained values that match arrive first.
func (ps *PubSub) Subscribe(ctx context.Context, pattern string, opts SubscribeOptions) (*Subscription, error) {
	if err := ValidPattern(pattern); err != nil {
		return nil, err
	}
	if opts.QoS != QoS0 && opts.QoS != QoS1 {
		return nil, fmt.Errorf("pubsub: QoS %d is not supported; use QoS0 or QoS1", opts.QoS)
	}
	if opts.Buffer <= 0 {
		opts.Buffer = 1024
	}
	s := &Subscription{
		ps: ps, id: ps.nextSubID.Add(1), pattern: pattern, qos: opts.QoS,
		ch: make(chan Message, opts.Buffer), lag: make(chan uint64, 1),
	}
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		return nil, errClosed
	}
	var ret []Message
	for t, rm := range ps.retained {
		if Match(pattern, t) {
			ret = append(ret, Message{Topic: t, Data: rm.m.data, From: ps.self, Retained: true, QoS: min(rm.qos, opts.QoS)})
		}
	}
	ps.mu.Unlock()
	slices.SortFunc(ret, func(a, b Message) int { return cmpString(a.Topic, b.Topic) })
	ps.smu.Lock()
	for _, m := range ret {
		s.send(m)
	}
	ps.subs = append(slices.Clip(ps.subs), s)
	ps.smu.Unlock()
	if ps.gossip != nil {
		if err := ps.gossip.join(); err != nil {
			s.Close()
			return nil, err
		}
	}
	ps.announceAll(ctx)
	return s, nil
}

// viaGossip reports whether a message of topic with qos goes over gossip.
func (ps *PubSub) viaGossip(topic string, qos QoS) bool {
	return ps.gossip != nil && qos == QoS0 && (ps.opts.UseGossip == nil || ps.opts.UseGossip(topic))
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// C delivers the messages.
func (s *Subscription) C() <-chan Message { return s.ch }

// Lag signals that messages were dropped because the subscription fell
// behind; the value is how many since the last signal (or Lagged call).
func (s *Subscription) Lag() <-chan uint64 { return s.lag }

// Lagged reports (and resets) how many messages were dropped for this
// subscription because it fell behind and not yet reported on Lag.
func (s *Subscription) Lagged() uint64 {
	s.lagMu.Lock()
	defer s.lagMu.Unlock()
	select {
	case n := <-s.lag:
		return n
	default:
		return 0
	}
}

// Pattern is the subscription's pattern.
func (s *Subscription) Pattern() string { return s.pattern }

func (s *Subscription) addLag(n uint64) {
	s.ps.dropped.Add(n)
	s.lagMu.Lock()
	select {
	case old := <-s.lag:
		n += old
	default:
	}
	s.lag <- n
	s.lagMu.Unlock()
}

// send delivers m without blocking; ps.smu must be held.
func (s *Subscription) send(m Message) {
	if s.closed {
		return
	}
	if s.qos < m.QoS {
		m.QoS = s.qos
	}
	select {
	case s.ch <- m:
	default:
		s.addLag(1)
	}
}

// Close ends the subscription and closes C. It is idempotent.
func (s *Subscription) Close() error {
	ps := s.ps
	ps.smu.Lock()
	if s.closed {
		ps.smu.Unlock()
		return nil
	}
	s.closeLocked()
	ps.subs = slices.DeleteFunc(slices.Clone(ps.subs), func(o *Subscription) bool { return o == s })
	ps.smu.Unlock()
	ctx, cancel := context.WithTimeout(ps.ctx, 5*time.Second)
	defer cancel()
	ps.announceAll(ctx)
	return nil
}

func (s *Subscription) closeLocked() {
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// deliver hands m to the local subscriptions that match (only subscription
// target if it is not 0).
func (ps *PubSub) deliver(m Message, target uint64) {
	ps.smu.RLock()
	for _, s := range ps.subs {
		if target != 0 && s.id != target {
			continue
		}
		if Match(s.pattern, m.Topic) {
			s.send(m)
		}
	}
	ps.smu.RUnlock()
}

// lagPattern signals n dropped messages to the subscriptions with pattern.
func (ps *PubSub) lagPattern(pattern string, n uint64) {
	ps.smu.RLock()
	for _, s := range ps.subs {
		if s.pattern == pattern && !s.closed {
			s.addLag(n)
		}
	}
	ps.smu.RUnlock()
}
