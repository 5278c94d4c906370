package daemon

import (
	"context"
	"errors"

	"github.com/coconet/coconet/api"
)

var errNoPubSub = errors.New("pub-sub is not built into this coco yet")

func (d *Daemon) Publish(ctx context.Context, network string, req api.PublishRequest) error {
	return errNoPubSub
}

func (d *Daemon) Subscribe(ctx context.Context, network string, req api.SubscribeRequest) (<-chan api.PubMessage, error) {
	return nil, errNoPubSub
}
