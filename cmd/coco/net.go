package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
)

func runNetCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("net create", flag.ContinueOnError)
	kind := fs.String("kind", "user", "user, developer or consortium (its members' nodes run a consortium: coco consortium start)")
	pos, err := parseN(fs, args, 1, 1, "the network one name")
	if err != nil {
		return err
	}
	n, err := e.svc.CreateNetwork(ctx, api.CreateNetworkRequest{Name: pos[0], Kind: *kind})
	return show(e, n, err, func(w io.Writer) {
		fmt.Fprintf(w, "Created %s network %q (%s); you are its owner.\n", n.Kind, n.Name, n.ID)
		fmt.Fprintf(w, "Invite someone: coco invite %s --role guest\n", n.Name)
	})
}

func runNetList(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	nets, err := e.svc.Networks(ctx)
	return show(e, nets, err, func(w io.Writer) {
		table(w, nets, "You are in no network yet: `coco net create NAME` or `coco join CODE`.", "NAME\tKIND\tYOUR ROLE\tMEMBERS\tNODES\tID", func(tw io.Writer, n api.NetworkInfo) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\n", n.Name, n.Kind, n.Role, n.Members, n.Nodes, n.ID)
		})
	})
}

func runMembers(ctx context.Context, e *env, args []string) error {
	net := args[0]
	ms, err := e.svc.Members(ctx, net)
	return show(e, ms, err, func(w io.Writer) {
		table(w, ms, "", "NAME\tROLE\tNODES\tONLINE\tADDED BY\tUSER", func(tw io.Writer, m api.MemberInfo) {
			name := m.Name
			if m.You {
				name += " (you)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\n", name, m.Role, len(m.Nodes), m.Online, dash(m.AddedBy), m.User)
		})
	})
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runInvite(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("invite", flag.ContinueOnError)
	role := fs.String("role", "guest", "admin or guest")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the code stays valid")
	uses := fs.Int("uses", 1, "how many people may use the code")
	quiet := fs.Bool("quiet", false, "print only the code (for scripts)")
	qr := fs.Bool("qr", false, "also draw the code as a QR code, to scan with a phone")
	pos, err := parseN(fs, args, 1, 1, "the network's name")
	if err != nil {
		return err
	}
	if *ttl <= 0 || *uses <= 0 {
		return usagef("--ttl and --uses must be positive")
	}
	r, err := e.svc.Invite(ctx, pos[0], api.InviteRequest{Role: *role, TTL: *ttl, Uses: *uses})
	if err == nil && *quiet && !e.json {
		if *qr {
			writeQR(e.stdout, r.Code)
		}
		fmt.Fprintln(e.stdout, r.Code)
		return nil
	}
	return show(e, r, err, func(w io.Writer) {
		if *qr {
			if err := writeQR(w, r.Code); err != nil {
				fmt.Fprintf(w, "(%v)\n", err)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Invite to %q as %s, valid until %s for %d use(s):\n\n%s\n\n", r.Network, r.Role,
			r.Expires.Local().Format("2006-01-02 15:04 MST"), r.Uses, r.Code)
		fmt.Fprintln(w, "They run: coco join CODE   (your node must be running to let them in)")
	})
}

func runJoin(ctx context.Context, e *env, args []string) error {
	code := args[0]
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := e.svc.Join(ctx, strings.TrimSpace(code))
	return show(e, n, err, func(w io.Writer) {
		fmt.Fprintf(w, "Joined %q as %s (%d members).\n", n.Name, n.Role, n.Members)
		fmt.Fprintf(w, "Say hello: coco send %s MEMBER hello\n", n.Name)
	})
}

func runRemove(ctx context.Context, e *env, args []string) error {
	r, err := e.svc.Remove(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	keys, _ := e.svc.PushKeys(ctx, args[0]) // best effort: the removal is done
	return e.output(r, func(w io.Writer) {
		fmt.Fprintf(w, "Removed %s (%s) from %q. Online members drop their connections as the removal reaches them; old invite codes no longer let them back in.\n", r.Name, r.User.Short(), args[0])
		accounts := map[string]bool{}
		for _, k := range keys {
			if strings.Contains(k.Rotate, r.Name) {
				accounts[k.Account] = true
			}
		}
		for _, a := range slices.Sorted(maps.Keys(accounts)) {
			fmt.Fprintf(w, "%s could read the push keys of account %s: rotate them with `coco push key rotate %s %s` and give the new keys to the devices.\n", r.Name, a, args[0], a)
		}
	})
}
