package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/gateway"
)

func runPushServer(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("push-server", flag.ContinueOnError)
	listen := fs.String("listen", "", "TCP address devices connect to, HOST:PORT (e.g. 0.0.0.0:7000)")
	maxLine := fs.Int("max-line", gateway.DefaultMaxLine, "longest line accepted, in bytes")
	idle := fs.Duration("idle", gateway.DefaultIdleTimeout, "close a device connection that sends no line for this long")
	authTimeout := fs.Duration("auth-timeout", gateway.DefaultAuthTimeout, "close a connection that sends no valid line with a key for this long")
	maxConns := fs.Int("max-conns", 0, fmt.Sprintf("most device connections open at once (0: %d, at most a quarter of the daemon's file descriptor limit)", gateway.DefaultMaxConns))
	maxPerIP := fs.Int("max-conns-per-ip", gateway.DefaultMaxConnsPerIP, "most device connections open at once from one IP address (IPv6: one /64)")
	dialect := fs.String("dialect", "p2pcluster", "wire protocol: p2pcluster (the original server's: no terminator needed, replies without one) or coconet (newline-framed)")
	readPause := fs.Duration("read-pause", gateway.DefaultReadPause, "p2pcluster: how long bytes without a terminator wait for more before they are one command")
	smtp := fs.String("smtp", "", "p2pcluster: SMTP server HOST:PORT for TCP:EMAIL (STARTTLS when offered); none: TCP:EMAIL is refused")
	smtpUser := fs.String("smtp-user", "", "SMTP user (password from $COCO_SMTP_PASSWORD)")
	smtpFrom := fs.String("smtp-from", "", "sender address of TCP:EMAIL mails")
	pos, err := parseN(fs, args, 1, 1, "the network")
	if err != nil {
		return err
	}
	if *listen == "" {
		return usagef("give the address devices connect to with --listen HOST:PORT")
	}
	d, err := gateway.ParseDialect(*dialect)
	if err != nil {
		return usagef("--dialect: use p2pcluster or coconet")
	}
	if *smtp != "" && *smtpFrom == "" {
		return usagef("give the sender of TCP:EMAIL mails with --smtp-from ADDRESS")
	}
	ch, err := e.svc.PushServe(ctx, pos[0], api.PushServeRequest{Listen: *listen, MaxLine: *maxLine, IdleTimeout: *idle, AuthTimeout: *authTimeout, MaxConns: *maxConns, MaxConnsPerIP: *maxPerIP,
		Dialect: d.String(), ReadPause: *readPause, SMTP: *smtp, SMTPUser: *smtpUser, SMTPPassword: os.Getenv("COCO_SMTP_PASSWORD"), SMTPFrom: *smtpFrom})
	if err != nil {
		return err
	}
	n := 0
	for ev := range ch {
		if ev.Error != "" {
			return errors.New(ev.Error)
		}
		switch {
		case n == 0:
			e.output(ev, func(w io.Writer) {
				fmt.Fprintf(w, "Push server of %q listening on %s.\n", ev.Network, ev.Addr)
				fmt.Fprintf(w, "Devices (%s dialect) send commands like TCP:ID:<key>:<id>; make a key with `coco push key create %s`.\nCtrl-C to stop.\n", d, pos[0])
			})
		case e.json:
			e.output(ev, nil)
		default:
			s := ev.Stats
			liveLine(e, "%d connection(s), %d id(s), %d push(es), %d delivered here, %d by %d other server(s)   ",
				s.Conns, s.IDs, s.Pushes, s.Delivered, s.Forwarded, ev.Peers)
		}
		n++
	}
	clearLine(e)
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the daemon stopped the push server")
}

// pushFlags are the flags every push record command takes.
func pushFlags(name string) (*flag.FlagSet, *string) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	account := fs.String("account", "", "the account (default "+gateway.DefaultAccount+"; listings: every account)")
	return fs, account
}

func runPushKey(ctx context.Context, e *env, args []string) error {
	fs, account := pushFlags("push key")
	name := fs.String("name", "", "create: a label for the key")
	key := fs.String("key", "", "create: use this key (one devices already have) instead of a random one")
	quiet := fs.Bool("quiet", false, "create: print only the key (for scripts)")
	pos, err := parseN(fs, args, 2, -1, "create, list, revoke or rotate, and the network")
	if err != nil {
		return err
	}
	sub, network := pos[0], pos[1]
	switch {
	case sub == "create" && len(pos) == 2:
		k, err := e.svc.PushKeyCreate(ctx, network, api.PushKeyRequest{Account: *account, Name: *name, Key: *key})
		if err != nil {
			return err
		}
		if *quiet && !e.json {
			fmt.Fprintln(e.stdout, k.Key)
			return nil
		}
		return e.output(k, func(w io.Writer) {
			fmt.Fprintf(w, "Created key %s in account %s of %q:\n\n  %s\n\n", k.ID, k.Account, network, k.Key)
			fmt.Fprintf(w, "It is shown only now (the ledger holds it sealed to the admins and the push servers). Devices register with TCP:ID:%s:<id>.\n", k.Key)
		})
	case sub == "list" && len(pos) == 2:
		ks, err := e.svc.PushKeys(ctx, network)
		if err != nil {
			return err
		}
		if *account != "" {
			var mine []api.PushKey
			for _, k := range ks {
				if k.Account == *account {
					mine = append(mine, k)
				}
			}
			ks = nonNilKeys(mine)
		}
		return e.output(ks, func(w io.Writer) {
			if len(ks) == 0 {
				fmt.Fprintf(w, "No push keys in %q; an admin makes one with `coco push key create %s`.\n", network, network)
				return
			}
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACCOUNT\tNAME\tBY\tCREATED\t")
			rotate := map[string]bool{}
			for _, k := range ks {
				mark := ""
				if k.Rotate != "" {
					mark = "should rotate: " + k.Rotate
					rotate[k.Account] = true
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Account, k.Name, k.By, k.Created.Local().Format(time.DateTime), mark)
			}
			tw.Flush()
			for _, a := range slices.Sorted(maps.Keys(rotate)) {
				fmt.Fprintf(w, "Rotate the keys of account %s with `coco push key rotate %s %s`.\n", a, network, a)
			}
		})
	case sub == "revoke" && len(pos) == 3:
		k, err := e.svc.PushKeyRevoke(ctx, network, pos[2])
		if err != nil {
			return err
		}
		return e.output(k, func(w io.Writer) {
			fmt.Fprintf(w, "Revoked key %s of account %s; push servers refuse it now.\n", k.ID, k.Account)
		})
	case sub == "rotate" && len(pos) == 3:
		ks, err := e.svc.PushKeyRotate(ctx, network, pos[2])
		if err != nil {
			return err
		}
		return e.output(ks, func(w io.Writer) {
			for _, k := range ks {
				fmt.Fprintf(w, "Key %s of account %s is now:\n\n  %s\n\n", k.ID, k.Account, k.Key)
			}
			fmt.Fprintln(w, "Shown only now. Push servers refuse the old value as soon as they have the change; give the new one to the devices.")
		})
	}
	return usagef("use create NET, list NET, revoke NET KEY or rotate NET ACCOUNT")
}

func runPushServerNames(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("push server", flag.ContinueOnError)
	pos, err := parseN(fs, args, 2, -1, "add, remove or list, and the network")
	if err != nil {
		return err
	}
	sub, network := pos[0], pos[1]
	var ss []api.PushServer
	var msg string
	switch {
	case sub == "list" && len(pos) == 2:
		ss, err = e.svc.PushServers(ctx, network)
	case sub == "add" && len(pos) == 3:
		ss, err = e.svc.PushServerAdd(ctx, network, pos[2])
		msg = fmt.Sprintf("%s may now run a push server of %q and read the account keys.", pos[2], network)
	case sub == "remove" && len(pos) == 3:
		ss, err = e.svc.PushServerRemove(ctx, network, pos[2])
		msg = fmt.Sprintf("%s is no longer a push server of %q. It could read the account keys: `coco push key list %s` shows those to rotate.", pos[2], network, network)
	default:
		return usagef("use add NET NODE, remove NET NODE or list NET (NODE: a node ID or name)")
	}
	if err != nil {
		return err
	}
	return e.output(ss, func(w io.Writer) {
		if msg != "" {
			fmt.Fprintln(w, msg)
		}
		table(w, ss, fmt.Sprintf("No push servers in %q; an admin's `coco push-server %s` names the admin's node, `coco push server add %s NODE` any node.", network, network, network), "NODE\tNAME\tOWNER\tNAMED BY", func(tw io.Writer, s api.PushServer) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Node, s.Name, s.Owner, s.By)
		})
	})
}

func nonNilKeys(ks []api.PushKey) []api.PushKey {
	if ks == nil {
		return []api.PushKey{}
	}
	return ks
}

// pushChange applies c and prints what changed.
func pushChange(ctx context.Context, e *env, network string, c api.PushChange, done string) error {
	recs, err := e.svc.PushChange(ctx, network, c)
	return show(e, recs, err, func(w io.Writer) { fmt.Fprintln(w, done) })
}

func pushRecords(ctx context.Context, e *env, network, account string) (api.PushRecords, error) {
	return e.svc.PushRecords(ctx, network, account)
}

func runPushGroup(ctx context.Context, e *env, args []string) error {
	fs, account := pushFlags("push group")
	root := fs.Bool("root", false, "put ID at the top of the tree")
	remove := fs.Bool("remove", false, "take ID out of the tree")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && !*root && !*remove:
		recs, err := pushRecords(ctx, e, pos[0], *account)
		if err != nil {
			return err
		}
		return e.output(recs.Groups, func(w io.Writer) { printTree(w, recs.Groups) })
	case len(pos) == 3 && !*root && !*remove:
		return pushChange(ctx, e, pos[0], api.PushChange{Op: api.PushOpSetParent, Account: *account, ID: pos[1], Parent: pos[2]},
			fmt.Sprintf("%s is now a child of %s.", pos[1], pos[2]))
	case len(pos) == 2 && *root && !*remove:
		return pushChange(ctx, e, pos[0], api.PushChange{Op: api.PushOpSetParent, Account: *account, ID: pos[1]},
			fmt.Sprintf("%s is now a root.", pos[1]))
	case len(pos) == 2 && *remove && !*root:
		return pushChange(ctx, e, pos[0], api.PushChange{Op: api.PushOpUngroup, Account: *account, ID: pos[1]},
			fmt.Sprintf("%s is out of the tree.", pos[1]))
	}
	return usagef("use NET (list), NET ID PARENT, NET ID --root or NET ID --remove")
}

// printTree prints the tree of each account, children indented under
// their parent.
func printTree(w io.Writer, groups []api.PushGroup) {
	if len(groups) == 0 {
		fmt.Fprintln(w, "The push tree is empty; `coco push group NET ID PARENT` adds to it.")
		return
	}
	type key struct{ account, id string }
	children := map[key][]string{}
	has := map[key]bool{}
	var accounts []string
	for _, g := range groups {
		if !has[key{g.Account, ""}] {
			has[key{g.Account, ""}] = true
			accounts = append(accounts, g.Account)
		}
		has[key{g.Account, g.ID}] = true
		children[key{g.Account, g.Parent}] = append(children[key{g.Account, g.Parent}], g.ID)
	}
	for _, g := range groups { // parents without an entry of their own are roots too
		if g.Parent != "" && !has[key{g.Account, g.Parent}] {
			has[key{g.Account, g.Parent}] = true
			children[key{g.Account, ""}] = append(children[key{g.Account, ""}], g.Parent)
		}
	}
	for _, a := range accounts {
		fmt.Fprintf(w, "account %s:\n", a)
		seen := map[string]bool{}
		var walk func(id string, depth int)
		walk = func(id string, depth int) {
			if seen[id] {
				return
			}
			seen[id] = true
			fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", depth+1), id)
			for _, c := range children[key{a, id}] {
				walk(c, depth+1)
			}
		}
		for _, r := range children[key{a, ""}] {
			walk(r, 0)
		}
	}
}

func runPushRouter(ctx context.Context, e *env, args []string) error {
	fs, account := pushFlags("push router")
	pos, err := parseN(fs, args, 2, -1, "add, attach, detach, remove or list, and the network")
	if err != nil {
		return err
	}
	sub, network := pos[0], pos[1]
	switch {
	case sub == "list" && len(pos) == 2:
		recs, err := pushRecords(ctx, e, network, *account)
		if err != nil {
			return err
		}
		return e.output(recs.Routers, func(w io.Writer) {
			if len(recs.Routers) == 0 {
				fmt.Fprintf(w, "No mesh routers; `coco push router add %s NAME` makes one.\n", network)
				return
			}
			table(w, recs.Routers, "", "ACCOUNT\tROUTER\tIDS", func(tw io.Writer, r api.PushRouter) {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Account, r.Name, strings.Join(r.IDs, " "))
			})
		})
	case sub == "add" && len(pos) == 3:
		return pushChange(ctx, e, network, api.PushChange{Op: api.PushOpAddRouter, Account: *account, Name: pos[2]},
			fmt.Sprintf("Added router %s; attach ids with `coco push router attach %s %s ID`.", pos[2], network, pos[2]))
	case sub == "remove" && len(pos) == 3:
		return pushChange(ctx, e, network, api.PushChange{Op: api.PushOpRemoveRouter, Account: *account, Name: pos[2]},
			fmt.Sprintf("Removed router %s.", pos[2]))
	case sub == "attach" && len(pos) == 4:
		return pushChange(ctx, e, network, api.PushChange{Op: api.PushOpAttach, Account: *account, Name: pos[2], ID: pos[3]},
			fmt.Sprintf("Attached %s to router %s.", pos[3], pos[2]))
	case sub == "detach" && len(pos) == 4:
		return pushChange(ctx, e, network, api.PushChange{Op: api.PushOpDetach, Account: *account, Name: pos[2], ID: pos[3]},
			fmt.Sprintf("Detached %s from router %s.", pos[3], pos[2]))
	}
	return usagef("use add NET NAME, attach NET NAME ID, detach NET NAME ID, remove NET NAME or list NET")
}

func runPushAlias(ctx context.Context, e *env, args []string) error {
	fs, account := pushFlags("push alias")
	remove := fs.Bool("remove", false, "remove ALIAS")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && !*remove:
		recs, err := pushRecords(ctx, e, pos[0], *account)
		if err != nil {
			return err
		}
		return e.output(recs.Aliases, func(w io.Writer) {
			if len(recs.Aliases) == 0 {
				fmt.Fprintf(w, "No aliases; `coco push alias %s ALIAS ID` makes one.\n", pos[0])
				return
			}
			table(w, recs.Aliases, "", "ACCOUNT\tALIAS\tID", func(tw io.Writer, a api.PushAlias) {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Account, a.Alias, a.ID)
			})
		})
	case len(pos) == 3 && !*remove:
		return pushChange(ctx, e, pos[0], api.PushChange{Op: api.PushOpSetAlias, Account: *account, Name: pos[1], ID: pos[2]},
			fmt.Sprintf("%s now names %s.", pos[1], pos[2]))
	case len(pos) == 2 && *remove:
		return pushChange(ctx, e, pos[0], api.PushChange{Op: api.PushOpRemoveAlias, Account: *account, Name: pos[1]},
			fmt.Sprintf("Removed alias %s.", pos[1]))
	}
	return usagef("use NET (list), NET ALIAS ID or NET ALIAS --remove")
}
