package engine

import (
	"context"
	"errors"
	"net"
	"slices"

	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
)

// Policy narrows who may use what on a node, beyond being a member. A nil
// function admits every member. Services attached to the engine (the home
// model's device host, the OTA server) add theirs with AddPolicy; every
// policy added must admit a request, stream or subscription. Each service's
// own node.Access (given to Handle, Listen; by default the owner and
// admins) is checked after these. Messages arrive as requests to the
// service msg.ServiceName, so a Request policy sees them too.
type Policy struct {
	// Request decides a request to service; a non-nil error is the refusal
	// the caller reads.
	Request func(from node.Sender, service string) error
	// Stream decides a stream to service.
	Stream func(from node.Sender, service string) error
	// Topic decides whether sub receives the messages of topic published
	// by this node. Over gossip (developer networks) a message passes
	// through other members, so while any Topic policy is added this
	// node publishes the direct way (see UseGossip).
	Topic func(sub node.Sender, topic string) bool
	// Publish decides whether this node accepts a message of topic
	// published by pub: delivers it to its subscriptions and, over
	// gossip, relays it.
	Publish func(pub node.Sender, topic string) bool
}

// AddPolicy adds p to the policies every request, stream and subscription
// this node serves must pass. It may be called while the node runs.
func (e *Engine) AddPolicy(p Policy) {
	e.policyMu.Lock()
	defer e.policyMu.Unlock()
	ps := append(slices.Clone(e.policies.Load().list()), p)
	e.policies.Store(&policies{ps})
}

type policies struct{ ps []Policy }

func (p *policies) list() []Policy {
	if p == nil {
		return nil
	}
	return p.ps
}

// AuthorizeRequest is the request policy: every member, narrowed by the
// policies added with AddPolicy.
func (e *Engine) AuthorizeRequest(from node.Sender, service string) error {
	if err := authorize(from); err != nil {
		return err
	}
	for _, p := range e.policies.Load().list() {
		if p.Request != nil {
			if err := p.Request(from, service); err != nil {
				return err
			}
		}
	}
	return nil
}

// AuthorizeStream is the stream policy; see AuthorizeRequest.
func (e *Engine) AuthorizeStream(from node.Sender, service string) error {
	if err := authorize(from); err != nil {
		return err
	}
	for _, p := range e.policies.Load().list() {
		if p.Stream != nil {
			if err := p.Stream(from, service); err != nil {
				return err
			}
		}
	}
	return nil
}

// AuthorizeTopic is the pub-sub policy: every member receives every topic,
// narrowed by the policies added with AddPolicy.
func (e *Engine) AuthorizeTopic(sub node.Sender, topic string) bool {
	if authorize(sub) != nil {
		return false
	}
	for _, p := range e.policies.Load().list() {
		if p.Topic != nil && !p.Topic(sub, topic) {
			return false
		}
	}
	return true
}

// AuthorizePublish is the pub-sub policy for publishers: every member node
// (pubsub checks that from this node's ledger) may publish on every topic,
// narrowed by the policies added with AddPolicy. It does not ask for a
// role: in a developer network a member node is one that holds the
// network's credential (node.Node.SenderOf), whatever the ledger lists.
func (e *Engine) AuthorizePublish(pub node.Sender, topic string) bool {
	for _, p := range e.policies.Load().list() {
		if p.Publish != nil && !p.Publish(pub, topic) {
			return false
		}
	}
	return true
}

// UseGossip says whether a QoS 0 message of topic goes over gossip in a
// developer network: yes, unless a Topic policy narrows who may receive
// what this node publishes — gossip cannot keep a message from members
// that relay it, so then it goes the direct way.
func (e *Engine) UseGossip(topic string) bool {
	for _, p := range e.policies.Load().list() {
		if p.Topic != nil {
			return false
		}
	}
	return true
}

func authorize(from node.Sender) error {
	if from.Role == ledger.RoleNone {
		return errors.New("not a member")
	}
	return nil
}

// Handle serves a named request/reply service; Handle(name, nil) removes it.
// access says who may call it: by default the owner and admins only (and
// this user's own nodes); see node.Access.
func (e *Engine) Handle(service string, h rpc.Handler, access ...node.Access) {
	e.rpc.Handle(service, h, access...)
}

// Listen accepts streams for a named service from members; access as for
// Handle.
func (e *Engine) Listen(service string, access ...node.Access) (net.Listener, error) {
	return e.streams.Listen(service, access...)
}

// Publish sends data on a topic to every member node subscribed to it: in
// a user network one copy to each, in a developer network (QoS 0, no Topic
// policy) over gossipsub, relayed by the subscribed nodes (see package
// pubsub for what holds each way).
func (e *Engine) Publish(ctx context.Context, topic string, data []byte, opts pubsub.PublishOptions) error {
	return e.ps.Publish(ctx, topic, data, opts)
}

// Subscribe receives the messages whose topic matches pattern (MQTT-style
// wildcards + and #) until the subscription is closed.
func (e *Engine) Subscribe(ctx context.Context, pattern string, opts pubsub.SubscribeOptions) (*pubsub.Subscription, error) {
	return e.ps.Subscribe(ctx, pattern, opts)
}
