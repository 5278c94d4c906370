package daemon

import (
	"context"
	"fmt"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/pubsub"
)

func (d *Daemon) Publish(ctx context.Context, network string, req api.PublishRequest) error {
	n, err := d.running(network, "publishing")
	if err != nil {
		return err
	}
	if req.QoS != 0 && req.QoS != 1 {
		return fmt.Errorf("qos %d is not offered; use 0 or 1", req.QoS)
	}
	return n.Publish(ctx, req.Topic, req.Data, pubsub.PublishOptions{QoS: pubsub.QoS(req.QoS), Retain: req.Retain})
}

func (d *Daemon) Subscribe(ctx context.Context, network string, req api.SubscribeRequest) (<-chan api.PubMessage, error) {
	n, err := d.running(network, "subscribing")
	if err != nil {
		return nil, err
	}
	if req.QoS != 0 && req.QoS != 1 {
		return nil, fmt.Errorf("qos %d is not offered; use 0 or 1", req.QoS)
	}
	sub, err := n.Subscribe(ctx, req.Pattern, pubsub.SubscribeOptions{QoS: pubsub.QoS(req.QoS)})
	if err != nil {
		return nil, err
	}
	out := make(chan api.PubMessage, 64)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			var m api.PubMessage
			select {
			case <-ctx.Done():
				return
			case lag := <-sub.Lag():
				m = api.PubMessage{Lagged: lag}
			case msg, ok := <-sub.C():
				if !ok {
					return
				}
				m = api.PubMessage{Topic: msg.Topic, Data: msg.Data, From: msg.From.Name, Retained: msg.Retained}
			}
			select {
			case out <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
