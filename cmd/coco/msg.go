package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
)

func runSend(ctx context.Context, e *env, args []string) error {
	text := strings.Join(args[2:], " ")
	start := time.Now()
	if err := e.svc.Send(ctx, args[0], api.SendRequest{To: args[1], Data: []byte(text)}); err != nil {
		return err
	}
	took := time.Since(start)
	return e.output(struct {
		Delivered bool    `json:"delivered"`
		To        string  `json:"to"`
		TookMS    float64 `json:"took_ms"`
	}{true, args[1], float64(took.Microseconds()) / 1000}, func(w io.Writer) {
		fmt.Fprintf(w, "Delivered to %s (acknowledged in %s).\n", args[1], took.Round(100*time.Microsecond))
	})
}

func runListen(ctx context.Context, e *env, args []string) error {
	net := args[0]
	ch, err := e.svc.Listen(ctx, net)
	if err != nil {
		return err
	}
	if !e.json {
		fmt.Fprintf(e.stderr, "Listening on %q; Ctrl-C to stop.\n", net)
	}
	for m := range ch {
		e.output(m, func(w io.Writer) {
			fmt.Fprintf(w, "%s  %s: %s\n", m.Received.Local().Format("15:04:05"), m.FromName, m.Data)
		})
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("the daemon stopped")
}

func runPeers(ctx context.Context, e *env, args []string) error {
	net := args[0]
	ps, err := e.svc.Peers(ctx, net)
	return show(e, ps, err, func(w io.Writer) {
		table(w, ps, fmt.Sprintf("No other member nodes in %q yet; invite someone with `coco invite %s`.", net, net), "MEMBER\tROLE\tAPP\tSTATE\tPATH\tADDRESS\tRTT", func(tw io.Writer, p api.PeerInfo) {
			state, rtt := "offline", "-"
			if p.Connected {
				state = "connected"
				if p.RTT > 0 {
					rtt = p.RTT.Round(10 * time.Microsecond).String()
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.UserName, p.Role, p.App, state, dash(p.Path), dash(p.Addr), rtt)
		})
	})
}
