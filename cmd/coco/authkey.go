package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/coconet/coconet/api"
)

func runAuthKeyCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("net authkey create", flag.ContinueOnError)
	reusable := fs.Bool("reusable", false, "enrol any number of nodes (default: one)")
	ephemeral := fs.Bool("ephemeral", false, "its nodes vanish from listings once offline")
	expiry := fs.Duration("expiry", 24*time.Hour, "how long the key enrols nodes")
	nodeValidity := fs.Duration("node-validity", 90*24*time.Hour, "how long past --expiry its nodes' credentials last at most")
	var tags, controls listFlag
	fs.Var(&tags, "tag", "a tag its nodes carry (repeatable, or comma-separated)")
	fs.Var(&controls, "control", "a control plane its nodes register at (added to the network's)")
	pos, err := parseN(fs, args, 1, 1, "the network's name")
	if err != nil {
		return err
	}
	if *expiry <= 0 || *nodeValidity <= 0 {
		return usagef("--expiry and --node-validity must be positive")
	}
	r, err := e.svc.AuthKeyCreate(ctx, pos[0], api.AuthKeyRequest{Reusable: *reusable, Ephemeral: *ephemeral, Tags: tags,
		Expiry: *expiry, NodeValidity: *nodeValidity, Control: controls})
	return show(e, r, err, func(w io.Writer) {
		kind := "one-off"
		if r.Reusable {
			kind = "reusable"
		}
		if r.Ephemeral {
			kind += ", ephemeral"
		}
		fmt.Fprintf(w, "Auth key for %q (%s, tags %v), enrols nodes until %s (ID %s):\n\n%s\n\n", r.Network, kind, r.Tags,
			r.Expires.Local().Format("2006-01-02 15:04 MST"), r.ID[:12], r.Key)
		fmt.Fprintln(w, "A node joins with: coco up --authkey KEY   (or COCO_AUTHKEY=KEY, or coconet.Node{AuthKey: KEY})")
		if len(r.Control) == 0 {
			fmt.Fprintln(w, "It names no control plane: nodes find each other only on the LAN or by address (add --control ADDR).")
		}
	})
}

func runServiceAdd(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("net service add", flag.ContinueOnError)
	scope := fs.String("scope", "enroll", "what the key may sign: enroll, revoke, acl (comma-separated) or all")
	expiry := fs.Duration("expiry", 30*24*time.Hour, "how long the delegation lasts")
	name := fs.String("name", "", "a label for the key")
	key := fs.String("key", "", "the service's public key (user ID form); default: make a new key and print its secret")
	pos, err := parseN(fs, args, 1, 1, "the network's name")
	if err != nil {
		return err
	}
	r, err := e.svc.ServiceAdd(ctx, pos[0], api.ServiceAddRequest{Name: *name, Scopes: *scope, Expiry: *expiry, Key: *key})
	return show(e, r, err, func(w io.Writer) {
		fmt.Fprintf(w, "Service key %s may sign %s until %s.\n", r.Key, r.Scopes, r.Expires.Local().Format("2006-01-02 15:04 MST"))
		if r.Secret != "" {
			fmt.Fprintf(w, "\nIts secret (shown once; give it to the service that enrols or revokes for you):\n\n%s\n", r.Secret)
		}
	})
}

func runServiceRevoke(ctx context.Context, e *env, args []string) error {
	if len(args) != 2 {
		return usagef("coco net service revoke NET KEY")
	}
	r, err := e.svc.ServiceRevoke(ctx, args[0], args[1])
	return show(e, r, err, func(w io.Writer) {
		fmt.Fprintf(w, "Service key %s revoked: nodes refuse what it signs once the ledger reaches them.\n", r.Key)
	})
}
