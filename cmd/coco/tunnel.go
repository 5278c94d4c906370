package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/coconet/coconet/api"
)

// allowFlag is --allow: repeatable, each value comma-separated words.
type allowFlag []string

func (a *allowFlag) String() string     { return strings.Join(*a, ",") }
func (a *allowFlag) Set(v string) error { *a = append(*a, v); return nil }

const allowUsage = "who may use it: admin, guest, device, owner or a member's name (repeatable or comma-separated; default: the owner and admins)"

func runExpose(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("tunnel expose", flag.ContinueOnError)
	var allow allowFlag
	fs.Var(&allow, "allow", allowUsage)
	pos, err := parseN(fs, args, 3, 3, "the network, a name and HOST:PORT")
	if err != nil {
		return err
	}
	ch, err := e.svc.Expose(ctx, pos[0], api.TunnelRequest{Name: pos[1], Target: pos[2], Allow: allow})
	if err != nil {
		return err
	}
	return followTunnel(ctx, e, ch, func(w io.Writer, ev api.TunnelEvent) {
		fmt.Fprintf(w, "Exposing %s as %q in %q to %s; they open it with:\n  coco tunnel open %s YOUR-NAME/%s --listen 127.0.0.1:PORT\nCtrl-C to stop.\n",
			ev.Addr, pos[1], pos[0], ev.Allowed, pos[0], pos[1])
	})
}

func runOpen(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("tunnel open", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "local address to listen on")
	pos, err := parseN(fs, args, 2, 2, "the network and MEMBER/NAME")
	if err != nil {
		return err
	}
	member, name, ok := strings.Cut(pos[1], "/")
	if !ok || member == "" || name == "" {
		return usagef("the service is MEMBER/NAME, e.g. alice/ssh")
	}
	ch, err := e.svc.OpenTunnel(ctx, pos[0], api.TunnelRequest{To: member, Name: name, Listen: *listen})
	if err != nil {
		return err
	}
	return followTunnel(ctx, e, ch, func(w io.Writer, ev api.TunnelEvent) {
		fmt.Fprintf(w, "%s/%s is on %s; Ctrl-C to close.\n", member, name, ev.Addr)
	})
}

func followTunnel(ctx context.Context, e *env, ch <-chan api.TunnelEvent, first func(io.Writer, api.TunnelEvent)) error {
	n := 0
	warned := ""
	for ev := range ch {
		if ev.Error != "" {
			return errors.New(ev.Error)
		}
		if n == 0 {
			e.output(ev, func(w io.Writer) { first(w, ev) })
		} else if e.json {
			e.output(ev, nil)
		} else {
			if ev.Warning != "" && ev.Warning != warned {
				clearLine(e)
				fmt.Fprintf(e.stderr, "a connection failed: %s\n", ev.Warning)
			}
			warned = ev.Warning
			s := ev.Stats
			liveLine(e, "%d connection(s), %d active, %s in, %s out   ", s.Conns, s.Active, size(s.BytesIn), size(s.BytesOut))
		}
		n++
	}
	clearLine(e)
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the daemon closed the tunnel")
}
