package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/ledger"
)

// DefaultDelegation is how long the owner's delegation of a control
// plane's service key lasts (coco net apikey create --delegate).
const DefaultDelegation = 90 * 24 * time.Hour

// devOwner returns the network's ledger and the owner's key, or why this
// identity may not sign for the network's REST API.
func (d *Daemon) devOwner(network, what string) (book, error) {
	b, err := d.book(network)
	if err != nil {
		return b, err
	}
	st := b.Ledger().State()
	switch {
	case st.Kind != ledger.NetKindDeveloper:
		return b, fmt.Errorf("%s is a %s network; the REST API serves developer networks (coco net create NAME --kind developer)", network, st.Kind)
	case st.Owner != d.id.ID():
		return b, fmt.Errorf("only the owner of %s signs %s; you are not its owner", network, what)
	}
	return b, nil
}

func (d *Daemon) APIKeySign(ctx context.Context, network string, req api.APIKeyRequest) (api.APIKeyGrant, error) {
	b, err := d.devOwner(network, "API keys")
	if err != nil {
		return api.APIKeyGrant{}, err
	}
	scopes, err := devapi.ParseScopes(req.Scopes)
	if err != nil {
		return api.APIKeyGrant{}, err
	}
	if req.Expiry < 0 || req.Expiry > devapi.MaxKeyValidity {
		return api.APIKeyGrant{}, fmt.Errorf("an API key lasts at most %v; give a shorter --expiry", devapi.MaxKeyValidity)
	}
	l := b.Ledger()
	net, now := l.Network(), time.Now()
	k, err := devapi.NewKey()
	if err != nil {
		return api.APIKeyGrant{}, err
	}
	g := devapi.NewGrant(b.UserKey(), net, k, scopes, now, req.Expiry)
	genesis, _ := l.Get(ledger.ID(net))
	out := api.APIKeyGrant{Key: k.String(), ID: k.ID.String(), Network: net, Scopes: scopes.Names(),
		Expires: g.ExpiresAt().UTC(), Genesis: genesis.Marshal(), Grant: g.Marshal()}
	switch {
	case req.Delegate != "" && req.Service.IsZero():
		return api.APIKeyGrant{}, fmt.Errorf("delegating %s needs the control plane's service key (its GET /v1/service)", req.Delegate)
	case req.Delegate != "":
		sc, err := ledger.ParseScopes(req.Delegate)
		if err != nil {
			return api.APIKeyGrant{}, err
		}
		op, err := b.Append(ledger.Op{Kind: ledger.KindDelegateService, Subject: req.Service, SubjectName: "control plane",
			Scopes: sc, Expires: now.Add(DefaultDelegation).Unix()})
		if err != nil {
			return api.APIKeyGrant{}, fmt.Errorf("delegate to the control plane: %w", err)
		}
		out.Delegation = op.Marshal()
	case !req.Service.IsZero():
		if si := l.State().Services[req.Service]; si.Valid(0, now) {
			if op, ok := l.Get(si.Op); ok {
				out.Delegation = op.Marshal()
			}
		}
	}
	return out, nil
}

func (d *Daemon) APIKeyRevokeSign(ctx context.Context, network, id string) (api.APIKeyRevocation, error) {
	b, err := d.devOwner(network, "API key revocations")
	if err != nil {
		return api.APIKeyRevocation{}, err
	}
	kid, err := devapi.ParseKeyID(id)
	if err != nil {
		return api.APIKeyRevocation{}, err
	}
	net := b.Ledger().Network()
	rv := devapi.RevokeKey(b.UserKey(), net, kid, time.Now())
	return api.APIKeyRevocation{ID: kid.String(), Network: net, Revocation: rv.Marshal()}, nil
}
