package coconet

import (
	"context"

	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
)

func (n *Node) startPubSub() error {
	ps, err := pubsub.New(n.n, pubsub.Options{Authorize: n.AuthorizeTopic, Logf: n.Logf})
	if err != nil {
		return err
	}
	n.ps = ps
	return nil
}

func (n *Node) closePubSub() {
	if n.ps != nil {
		n.ps.Close()
	}
}

// Publish sends data on a topic to every member node subscribed to it,
// directly over the P2P network.
func (n *Node) Publish(ctx context.Context, topic string, data []byte, opts pubsub.PublishOptions) error {
	return n.ps.Publish(ctx, topic, data, opts)
}

// Subscribe receives the messages whose topic matches pattern (MQTT-style
// wildcards + and #) until the subscription is closed.
func (n *Node) Subscribe(ctx context.Context, pattern string, opts pubsub.SubscribeOptions) (*pubsub.Subscription, error) {
	return n.ps.Subscribe(ctx, pattern, opts)
}

// AuthorizeTopic is the pub-sub policy: every member receives every topic,
// narrowed by the policies added with AddPolicy.
func (n *Node) AuthorizeTopic(sub node.Sender, topic string) bool {
	if authorize(sub) != nil {
		return false
	}
	for _, p := range n.policies.Load().list() {
		if p.Topic != nil && !p.Topic(sub, topic) {
			return false
		}
	}
	return true
}
