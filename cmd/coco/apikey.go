package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/control/devapi"
)

// apiFlag is --api: the control plane's REST API (coco control --api).
func apiFlag(fs *flag.FlagSet) *string {
	return fs.String("api", os.Getenv("COCO_API"), "the control plane's REST API, e.g. https://control.example:8443 (default $COCO_API)")
}

// apiKeyOut is what `coco net apikey create` prints.
type apiKeyOut struct {
	Key        string    `json:"key"`
	ID         string    `json:"id"`
	Network    string    `json:"network"`
	Scopes     []string  `json:"scopes"`
	Expires    time.Time `json:"expires"`
	ServiceKey string    `json:"service_key,omitempty"` // the control plane's, when delegated to
	Delegated  []string  `json:"delegated,omitempty"`
}

func runAPIKeyCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("net apikey create", flag.ContinueOnError)
	url := apiFlag(fs)
	scope := fs.String("scope", "", "what the key may do: nodes:read, nodes:write, authkeys:read, authkeys:write, usage:read, acl:read, acl:write, apikeys:read (comma-separated)")
	expiry := fs.Duration("expiry", 0, "how long the key lasts (default 90 days, at most a year)")
	delegate := fs.String("delegate", "", "also delegate these to the control plane's service key, so it can act for the network: enroll, revoke, acl or all (appends a delegate_service op to the ledger)")
	pos, err := parseN(fs, args, 1, 1, "the network's name")
	if err != nil {
		return err
	}
	if *url == "" {
		return usagef("give the control plane's API with --api URL (the address `coco control --api` serves)")
	}
	if *scope == "" {
		return usagef("give the key's scopes with --scope, e.g. --scope nodes:write,usage:read")
	}
	c := &devapi.Client{URL: *url}
	var svc devapi.Service
	if err := c.Do(ctx, "GET", "/v1/service", nil, &svc); err != nil {
		return err
	}
	g, err := e.svc.APIKeySign(ctx, pos[0], api.APIKeyRequest{Scopes: *scope, Expiry: *expiry, Service: svc.ServiceKey, Delegate: *delegate})
	if err != nil {
		return err
	}
	base := "/v1/networks/" + g.Network.String()
	out := apiKeyOut{Key: g.Key, ID: g.ID, Network: g.Network.String(), Scopes: g.Scopes, Expires: g.Expires}
	if g.Delegation != nil {
		var d devapi.Delegation
		if err := c.Do(ctx, "PUT", base+"/delegation", devapi.Delegate{Genesis: g.Genesis, Delegation: g.Delegation}, &d); err != nil {
			return fmt.Errorf("hand the delegation to the control plane: %w", err)
		}
		out.ServiceKey, out.Delegated = d.ServiceKey.String(), d.Scopes
	}
	if err := c.Do(ctx, "POST", base+"/apikeys", devapi.CreateAPIKey{Genesis: g.Genesis, Grant: g.Grant}, nil); err != nil {
		return fmt.Errorf("hand the API key to the control plane: %w", err)
	}
	return e.output(out, func(w io.Writer) {
		fmt.Fprintf(w, "API key %s for %s (%v), until %s; it is shown only now:\n\n  %s\n\n", out.ID, pos[0], out.Scopes, out.Expires.Format("2006-01-02"), out.Key)
		if out.Delegated != nil {
			fmt.Fprintf(w, "The control plane's service key %s may now %v for %s.\n", out.ServiceKey, out.Delegated, pos[0])
		}
		fmt.Fprintf(w, "Use it: curl -H \"Authorization: Bearer $KEY\" %s%s/nodes\n", *url, base)
	})
}

func runAPIKeyRevoke(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("net apikey revoke", flag.ContinueOnError)
	url := apiFlag(fs)
	pos, err := parseN(fs, args, 2, 2, "the network and the key's ID")
	if err != nil {
		return err
	}
	if *url == "" {
		return usagef("give the control plane's API with --api URL")
	}
	r, err := e.svc.APIKeyRevokeSign(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	c := &devapi.Client{URL: *url}
	err = c.Do(ctx, "DELETE", "/v1/networks/"+r.Network.String()+"/apikeys/"+r.ID, devapi.RevokeAPIKey{Revocation: r.Revocation}, nil)
	return show(e, r, err, func(w io.Writer) {
		fmt.Fprintf(w, "API key %s of %s is revoked; requests with it are refused.\n", r.ID, pos[0])
	})
}
