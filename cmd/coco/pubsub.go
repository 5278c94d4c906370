package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
)

func runPub(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("pub", flag.ContinueOnError)
	retain := fs.Bool("retain", false, "keep as the topic's last value for new subscribers")
	qos := fs.Int("qos", 0, "0 (at most once) or 1 (at least once)")
	pos, err := parseN(fs, args, 3, -1, "the network, the topic and the message")
	if err != nil {
		return err
	}
	msg := strings.Join(pos[2:], " ")
	if err := e.svc.Publish(ctx, pos[0], api.PublishRequest{Topic: pos[1], Data: []byte(msg), Retain: *retain, QoS: *qos}); err != nil {
		return err
	}
	return e.output(struct {
		Published bool   `json:"published"`
		Topic     string `json:"topic"`
	}{true, pos[1]}, func(w io.Writer) {
		fmt.Fprintf(w, "Published on %s.\n", pos[1])
	})
}

func runSub(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("sub", flag.ContinueOnError)
	qos := fs.Int("qos", 0, "0 (at most once) or 1 (at least once)")
	pos, err := parseN(fs, args, 2, 2, "the network and a topic pattern")
	if err != nil {
		return err
	}
	ch, err := e.svc.Subscribe(ctx, pos[0], api.SubscribeRequest{Pattern: pos[1], QoS: *qos})
	if err != nil {
		return err
	}
	if !e.json {
		fmt.Fprintf(e.stderr, "Subscribed to %s in %q; Ctrl-C to stop.\n", pos[1], pos[0])
	}
	for m := range ch {
		e.output(m, func(w io.Writer) {
			switch {
			case m.Lagged > 0:
				fmt.Fprintf(e.stderr, "(fell behind: %d message(s) dropped)\n", m.Lagged)
			default:
				tag := ""
				if m.Retained {
					tag = " (retained)"
				}
				fmt.Fprintf(w, "%s  %s  %s: %s%s\n", time.Now().Format("15:04:05"), m.Topic, m.From, m.Data, tag)
			}
		})
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the daemon stopped")
}
