package daemon

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Developer networks' governance: service keys and auth keys, signed with
// the owner's key here.

// defaultServiceExpiry is how long a service key's delegation lasts unless
// asked otherwise.
const defaultServiceExpiry = 30 * 24 * time.Hour

// devBook is the book of a developer network this home owns.
func (d *Daemon) devBook(network string) (book, error) {
	b, err := d.book(network)
	if err != nil {
		return b, err
	}
	st := b.l.State()
	switch {
	case st.Kind != ledger.NetKindDeveloper:
		return b, fmt.Errorf("%q is a %s network: service keys and auth keys are for developer networks (coco net create NAME --kind developer)", st.Name, st.Kind)
	case st.Owner != d.id.ID():
		return b, fmt.Errorf("only the owner of %q signs its service keys and auth keys", st.Name)
	}
	return b, nil
}

func (d *Daemon) ServiceAdd(ctx context.Context, network string, req api.ServiceAddRequest) (api.ServiceKeyInfo, error) {
	b, err := d.devBook(network)
	if err != nil {
		return api.ServiceKeyInfo{}, err
	}
	scopes, err := ledger.ParseScopes(req.Scopes)
	if err != nil {
		return api.ServiceKeyInfo{}, err
	}
	if req.Expiry <= 0 {
		req.Expiry = defaultServiceExpiry
	}
	var priv ed25519.PrivateKey
	var key identity.UserID
	if req.Key != "" {
		if key, err = identity.ParseUserID(req.Key); err != nil {
			return api.ServiceKeyInfo{}, fmt.Errorf("service key %q: %w", req.Key, err)
		}
	} else {
		_, priv, _ = ed25519.GenerateKey(rand.Reader)
		key = identity.UserIDOf(priv.Public().(ed25519.PublicKey))
	}
	op, err := b.Append(ledger.Op{Kind: ledger.KindDelegateService, Subject: key, SubjectName: req.Name, Scopes: scopes,
		Expires: time.Now().Add(req.Expiry).Unix()})
	if err != nil {
		return api.ServiceKeyInfo{}, err
	}
	out := api.ServiceKeyInfo{Key: key, Name: req.Name, Scopes: ledger.ScopeString(scopes), Expires: time.Unix(op.Expires, 0)}
	if priv != nil {
		g, _ := b.l.Get(ledger.ID(b.l.Network()))
		sk, err := devnet.NewServiceKey(priv, op, g, time.Now())
		if err != nil {
			return api.ServiceKeyInfo{}, err
		}
		out.Secret = sk.String()
	}
	return out, nil
}

func (d *Daemon) ServiceRevoke(ctx context.Context, network, key string) (api.ServiceKeyInfo, error) {
	b, err := d.devBook(network)
	if err != nil {
		return api.ServiceKeyInfo{}, err
	}
	u, err := identity.ParseUserID(key)
	if err != nil {
		return api.ServiceKeyInfo{}, fmt.Errorf("service key %q: %w", key, err)
	}
	if _, err := b.Append(ledger.Op{Kind: ledger.KindRevokeService, Subject: u}); err != nil {
		return api.ServiceKeyInfo{}, err
	}
	si := b.l.State().Services[u]
	return api.ServiceKeyInfo{Key: u, Name: si.Name, Scopes: ledger.ScopeString(si.Scopes), Expires: time.Unix(si.Expires, 0), Revoked: true}, nil
}

func (d *Daemon) AuthKeyCreate(ctx context.Context, network string, req api.AuthKeyRequest) (api.AuthKeyResult, error) {
	b, err := d.devBook(network)
	if err != nil {
		return api.AuthKeyResult{}, err
	}
	g, ok := b.l.Get(ledger.ID(b.l.Network()))
	if !ok {
		return api.AuthKeyResult{}, fmt.Errorf("the ledger of %q has no genesis", network)
	}
	controls := homedir.MergeControls(append(req.Control, d.Control...), homedir.SavedControls(homedir.NetworkDir(d.Home, b.l.Network())))
	k, err := devnet.NewAuthKey(b.UserKey(), nil, g, devnet.AuthKeyOptions{Reusable: req.Reusable, Ephemeral: req.Ephemeral, Tags: req.Tags,
		Expiry: req.Expiry, NodeValidity: req.NodeValidity, Control: controls}, time.Now())
	if err != nil {
		return api.AuthKeyResult{}, err
	}
	c := &k.Cert
	return api.AuthKeyResult{Key: k.String(), ID: hex.EncodeToString(c.Key[:]), Network: b.l.State().Name, Reusable: c.Reusable, Ephemeral: c.Ephemeral,
		Tags: c.Tags, Expires: time.Unix(c.Expires, 0), NodeUntil: time.Unix(c.NodeUntil, 0), Control: k.Control}, nil
}

// adoptAuthKey stores the network of d.AuthKey in the home, so Start
// starts its node (which enrols with the key).
func (d *Daemon) adoptAuthKey() error {
	k, err := devnet.ParseAuthKey(d.AuthKey, time.Now())
	if err != nil {
		return fmt.Errorf("--authkey: %w", err)
	}
	id, err := homedir.AdoptAuthKey(d.Home, k)
	if err != nil {
		return fmt.Errorf("--authkey: %w", err)
	}
	d.authNet = id
	return nil
}
