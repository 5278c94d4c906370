package devapi

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// The routes that act through the owner's delegation (package devnet):
// the control plane's service key signs auth keys, revocation lists and
// tag policies, and carries the owner's delegate_service op for it. What
// it signs is worth only what the delegation's scopes allow: every node
// checks the chain back to the genesis.

// maxAuthKeys bounds the auth keys of one network listed here.
const maxAuthKeys = 4096

// Service is the answer of GET /v1/service: the control plane's service
// key, to delegate to (coco net apikey create --delegate), and the
// addresses nodes register at.
type Service struct {
	ServiceKey identity.UserID `json:"service_key"`
	Control    []string        `json:"control"`
}

// Delegate is the body of PUT /v1/networks/{net}/delegation: the owner's
// delegate_service op naming this control plane's service key, and the
// network's genesis the first time.
type Delegate struct {
	Genesis    []byte `json:"genesis,omitempty"`
	Delegation []byte `json:"delegation"` // ledger encoding of the op (base64 in JSON)
}

// Delegation describes the delegation the control plane acts under.
type Delegation struct {
	ServiceKey identity.UserID `json:"service_key"`
	Scopes     []string        `json:"scopes"` // enroll, revoke, acl
	Expires    time.Time       `json:"expires"`
}

// CreateAuthKey is the body of POST /v1/networks/{net}/authkeys.
type CreateAuthKey struct {
	Reusable  bool     `json:"reusable,omitempty"`
	Ephemeral bool     `json:"ephemeral,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	// Expiry is how long the key enrols nodes, as a Go duration ("24h");
	// "" means 24 hours.
	Expiry string `json:"expiry,omitempty"`
}

// AuthKeyInfo is an auth key's public record (never its secret).
type AuthKeyInfo struct {
	ID        string    `json:"id"` // hex of the enrollment public key
	Reusable  bool      `json:"reusable"`
	Ephemeral bool      `json:"ephemeral"`
	Tags      []string  `json:"tags"`
	Issued    time.Time `json:"issued"`
	Expires   time.Time `json:"expires"`    // enrols nodes until then
	NodeUntil time.Time `json:"node_until"` // its nodes' credentials last until then at most
	Revoked   bool      `json:"revoked"`
}

// NewAuthKey is the answer of POST /v1/networks/{net}/authkeys: the key,
// shown once.
type NewAuthKey struct {
	AuthKeyInfo
	Key string `json:"key"` // cocoauth1-…: coco up --authkey KEY, or coconet.Node{AuthKey: KEY}
}

// Revoked is the answer of the revoking routes: the revocation list's
// new version.
type Revoked struct {
	Revoked string `json:"revoked"`
	Version uint64 `json:"version"`
}

// Rule is one rule of a tag ACL: members tagged From may talk to members
// tagged To ("*" is everyone).
type Rule struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// ACL is the body of PUT /v1/networks/{net}/acl and the answer of GET.
type ACL struct {
	Version uint64 `json:"version,omitempty"` // answers only; 0: no policy (everyone may talk)
	Rules   []Rule `json:"rules"`
}

// Lists is where the control plane keeps developer networks' signed lists
// and serves them to nodes; *control.Server is one.
type Lists interface {
	NetLists(net ledger.NetworkID) (*devnet.Revocations, *devnet.Policy)
	OfferNetList(genesis *ledger.Op, rev *devnet.Revocations, pol *devnet.Policy) error
}

func (s *Server) service(c *call) (int, any, error) {
	out := Service{Control: s.cfg.ControlAddrs}
	if s.cfg.ServiceKey != nil {
		out.ServiceKey = identity.UserIDOf(s.cfg.ServiceKey.Public().(ed25519.PublicKey))
	}
	if out.Control == nil {
		out.Control = []string{}
	}
	return http.StatusOK, out, nil
}

func (s *Server) serviceID() (identity.UserID, error) {
	if s.cfg.ServiceKey == nil {
		return identity.UserID{}, fmt.Errorf("%w: this control plane has no service key (Config.ServiceKey)", ErrUnavailable)
	}
	return identity.UserIDOf(s.cfg.ServiceKey.Public().(ed25519.PublicKey)), nil
}

// knowNetwork returns the owner of net: from the store, or from genesis
// (checked, then kept) when the network is new here.
func (s *Server) knowNetwork(ctx context.Context, net ledger.NetworkID, genesis []byte) (identity.UserID, error) {
	owner, err := s.ownerOf(ctx, net)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return owner, err
	}
	if genesis == nil {
		return owner, fmt.Errorf("%w: network %s is not known here; send its genesis with it (coco net apikey create does)", ErrNotFound, net.Short())
	}
	g, err := checkGenesis(net, genesis)
	if err != nil {
		return owner, err
	}
	if !s.cfg.Backend.Serves(g.Author) {
		return owner, fmt.Errorf("%w: this control plane serves only the networks of the owners its operator listed, and %s is not one", ErrNotOwner, g.Author.Short())
	}
	if n, err := s.store.Networks(ctx); err != nil {
		return owner, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	} else if n >= s.cfg.MaxNetworks {
		return owner, fmt.Errorf("%w: this control plane's API serves %d networks, as many as it can; use another control plane", ErrUnavailable, n)
	}
	if err := s.store.PutGenesis(ctx, net, genesis); err != nil {
		return owner, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	return g.Author, nil
}

// checkDelegation checks that op is the owner's delegate_service for this
// control plane's service key in net, signed and unexpired at now.
func (s *Server) checkDelegation(net ledger.NetworkID, owner identity.UserID, b []byte, now time.Time) (*ledger.Op, error) {
	me, err := s.serviceID()
	if err != nil {
		return nil, err
	}
	op, err := ledger.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: delegation: %v", ErrMalformed, err)
	}
	switch {
	case op.Kind != ledger.KindDelegateService:
		return nil, fmt.Errorf("%w: the delegation is a %s op, not delegate_service", ErrMalformed, op.Kind)
	case op.Net != net:
		return nil, fmt.Errorf("%w: the delegation is for network %s", ErrWrongNetwork, op.Net.Short())
	case op.Author != owner:
		return nil, fmt.Errorf("%w: the delegation is signed by %s", ErrNotOwner, op.Author.Short())
	case op.Subject != me:
		return nil, fmt.Errorf("%w: the delegation names service key %s, not this control plane's %s", ErrMalformed, op.Subject.Short(), me)
	}
	if err := op.VerifySignature(); err != nil {
		return nil, fmt.Errorf("%w on the delegation", ErrBadSignature)
	}
	if now.Unix() >= op.Expires {
		return nil, fmt.Errorf("%w: the delegation expired at %s; the owner renews it with coco net apikey create --delegate", ErrExpired, time.Unix(op.Expires, 0).UTC().Format(time.RFC3339))
	}
	return op, nil
}

// putDelegation keeps the owner's delegation to this control plane's
// service key, if newer than the one held.
func (s *Server) putDelegation(c *call) (int, any, error) {
	var req Delegate
	if err := decodeJSON(c.body, &req); err != nil {
		return 0, nil, err
	}
	// Checked against the genesis's author before the network is kept.
	owner, err := s.ownerOf(c.r.Context(), c.net)
	newNet := errors.Is(err, ErrNotFound) && req.Genesis != nil
	if newNet {
		gen, gerr := checkGenesis(c.net, req.Genesis)
		if gerr != nil {
			return 0, nil, gerr
		}
		owner, err = gen.Author, nil
	}
	if err != nil {
		return 0, nil, err
	}
	now := s.cfg.Now()
	op, err := s.checkDelegation(c.net, owner, req.Delegation, now)
	if err != nil {
		return 0, nil, err
	}
	if newNet {
		if _, err := s.knowNetwork(c.r.Context(), c.net, req.Genesis); err != nil {
			return 0, nil, err
		}
	}
	if old, err := s.store.Delegation(c.r.Context(), c.net); err == nil {
		if o, err := ledger.Unmarshal(old); err == nil && o.Time > op.Time {
			return 0, nil, fmt.Errorf("%w: a newer delegation (of %s) is held", ErrConflict, time.UnixMilli(o.Time).UTC().Format(time.RFC3339))
		}
	}
	if err := s.store.PutDelegation(c.r.Context(), c.net, req.Delegation); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	s.cfg.Logf("devapi: network %s delegates %s to this control plane until %s", c.net.Short(), ledger.ScopeString(op.Scopes), time.Unix(op.Expires, 0).UTC().Format(time.RFC3339))
	return http.StatusOK, Delegation{ServiceKey: op.Subject, Scopes: strings.Split(ledger.ScopeString(op.Scopes), ","), Expires: time.Unix(op.Expires, 0).UTC()}, nil
}

// delegated returns the genesis and the owner's delegation with scope
// need, or why the control plane may not act.
func (s *Server) delegated(c *call, need uint32) (genesis, deleg *ledger.Op, err error) {
	b, err := s.store.Delegation(c.r.Context(), c.net)
	if err != nil {
		me, _ := s.serviceID()
		return nil, nil, fmt.Errorf("%w: the network's owner has not delegated %s to this control plane's service key %s (coco net apikey create NET --delegate %s)", ErrUnavailable, ledger.ScopeString(need), me, ledger.ScopeString(ledger.ScopeAll))
	}
	// Checked again each time: the store is not trusted to say what the
	// owner signed.
	if deleg, err = s.checkDelegation(c.net, c.owner, b, s.cfg.Now()); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if deleg.Scopes&need != need {
		return nil, nil, fmt.Errorf("%w: the owner delegated %s to this control plane, not %s", ErrUnavailable, ledger.ScopeString(deleg.Scopes), ledger.ScopeString(need))
	}
	gb, err := s.store.Genesis(c.r.Context(), c.net)
	if err != nil {
		return nil, nil, err
	}
	genesis, err = ledger.Unmarshal(gb)
	return genesis, deleg, err
}

func (s *Server) lists() (Lists, error) {
	l, ok := s.cfg.Backend.(Lists)
	if !ok {
		return nil, fmt.Errorf("%w: this control plane keeps no revocation lists or policies", ErrUnavailable)
	}
	return l, nil
}

// current returns the network's newest revocation list and policy: the
// control plane's, or the ones this API saved if newer (the control plane
// restarted, or another replica made them), which it then hands the
// control plane again so nodes get them.
func (s *Server) current(ctx context.Context, l Lists, net ledger.NetworkID) (*devnet.Revocations, *devnet.Policy) {
	rev, pol := l.NetLists(net)
	rb, pb, err := s.store.Lists(ctx, net)
	if err != nil || (rb == nil && pb == nil) {
		return rev, pol
	}
	gb, err := s.store.Genesis(ctx, net)
	if err != nil {
		return rev, pol
	}
	g, err := checkGenesis(net, gb)
	if err != nil {
		return rev, pol
	}
	a, _ := devnet.AnchorOf(g)
	var offerRev *devnet.Revocations
	var offerPol *devnet.Policy
	if r, err := devnet.UnmarshalRevocations(rb); err == nil && (rev == nil || r.Version > rev.Version) && r.Verify(a, s.cfg.Now()) == nil {
		offerRev = r
	}
	if p, err := devnet.UnmarshalPolicy(pb); err == nil && (pol == nil || p.Version > pol.Version) && p.Verify(a, s.cfg.Now()) == nil {
		offerPol = p
	}
	if offerRev != nil || offerPol != nil {
		if err := l.OfferNetList(g, offerRev, offerPol); err != nil {
			s.cfg.Logf("devapi: hand saved lists of %s to the control plane: %v", net.Short(), err)
		}
		rev, pol = l.NetLists(net)
	}
	return rev, pol
}

func (s *Server) createAuthKey(c *call) (int, any, error) {
	var req CreateAuthKey
	if err := decodeJSON(c.body, &req); err != nil {
		return 0, nil, err
	}
	var expiry time.Duration
	if req.Expiry != "" {
		d, err := time.ParseDuration(req.Expiry)
		if err != nil || d <= 0 {
			return 0, nil, fmt.Errorf("%w: expiry %q is not a positive duration (24h, 90m)", ErrMalformed, req.Expiry)
		}
		expiry = d
	}
	genesis, deleg, err := s.delegated(c, ledger.ScopeEnroll)
	if err != nil {
		return 0, nil, err
	}
	if all, err := s.store.AuthKeys(c.r.Context(), c.net); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	} else if len(all) >= maxAuthKeys {
		return 0, nil, fmt.Errorf("%w: network %s has %d auth keys in force here; revoke unused ones", ErrConflict, c.net.Short(), len(all))
	}
	now := s.cfg.Now()
	k, err := devnet.NewAuthKey(s.cfg.ServiceKey, deleg, genesis, devnet.AuthKeyOptions{
		Reusable: req.Reusable, Ephemeral: req.Ephemeral, Tags: req.Tags, Expiry: expiry, Control: s.cfg.ControlAddrs}, now)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	info := authKeyInfo(&k.Cert)
	if err := s.store.PutAuthKey(c.r.Context(), c.net, info); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	s.cfg.Logf("devapi: auth key %s for network %s (API key %s), tags %v", info.ID[:12], c.net.Short(), c.grant.ID, info.Tags)
	return http.StatusCreated, NewAuthKey{AuthKeyInfo: info, Key: k.String()}, nil
}

func authKeyInfo(c *devnet.AuthKeyCert) AuthKeyInfo {
	tags := c.Tags
	if tags == nil {
		tags = []string{}
	}
	return AuthKeyInfo{ID: hex.EncodeToString(c.Key[:]), Reusable: c.Reusable, Ephemeral: c.Ephemeral, Tags: tags,
		Issued: time.Unix(c.Issued, 0).UTC(), Expires: time.Unix(c.Expires, 0).UTC(), NodeUntil: time.Unix(c.NodeUntil, 0).UTC()}
}

func (s *Server) listAuthKeys(c *call) (int, any, error) {
	all, err := s.store.AuthKeys(c.r.Context(), c.net)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	var rev *devnet.Revocations
	if l, err := s.lists(); err == nil {
		rev, _ = s.current(c.r.Context(), l, c.net)
	}
	out := []AuthKeyInfo{}
	for _, k := range all {
		if id, err := hex.DecodeString(k.ID); err == nil && len(id) == 32 && rev != nil {
			k.Revoked = slices.ContainsFunc(rev.AuthKeys, func(x [32]byte) bool { return bytes.Equal(x[:], id) })
		}
		out = append(out, k)
	}
	return http.StatusOK, out, nil
}

// revise signs and hands over the next version of the network's
// revocation list, made by edit from the one held; a list another signer
// made newer in between (ErrStale) is read again.
func (s *Server) revise(c *call, edit func(r *devnet.Revocations) error) (uint64, error) {
	l, err := s.lists()
	if err != nil {
		return 0, err
	}
	genesis, deleg, err := s.delegated(c, ledger.ScopeRevoke)
	if err != nil {
		return 0, err
	}
	s.listMu.Lock()
	defer s.listMu.Unlock()
	for range 3 {
		cur, _ := s.current(c.r.Context(), l, c.net)
		next := &devnet.Revocations{Net: c.net, Version: 1, Issued: s.cfg.Now().Unix()}
		if cur != nil {
			if len(cur.Services) > 0 {
				// Only the owner signs a list that revokes service keys,
				// and every list must keep what the one before held.
				return 0, fmt.Errorf("%w: the network's revocation list revokes service keys, which only the owner may sign; revoke with the owner's key", ErrConflict)
			}
			next.Version = cur.Version + 1
			next.Nodes = slices.Clone(cur.Nodes)
			next.AuthKeys = slices.Clone(cur.AuthKeys)
		}
		if err := edit(next); err != nil {
			return 0, err
		}
		next.Sign(s.cfg.ServiceKey, deleg)
		err := l.OfferNetList(genesis, next, nil)
		if errors.Is(err, devnet.ErrStale) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("%w: revocation list refused: %v", ErrUnavailable, err)
		}
		// Saved where a restarted control plane (or another replica)
		// finds it: a revocation must outlive the process.
		if err := s.store.PutLists(c.r.Context(), c.net, next.Marshal(), nil); err != nil {
			return 0, fmt.Errorf("%w: the revocation list (version %d) is served but not saved: %v", ErrUnavailable, next.Version, err)
		}
		return next.Version, nil
	}
	return 0, fmt.Errorf("%w: the revocation list kept changing; try again", ErrConflict)
}

// nodeKeyOf reads a node's key from its peer ID (as listed) or from the
// key's hex.
func nodeKeyOf(s string) ([32]byte, error) {
	var k [32]byte
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return [32]byte(b), nil
	}
	id, err := peer.Decode(s)
	if err != nil {
		return k, fmt.Errorf("%w: %q is neither a node's peer ID nor its key", ErrMalformed, s)
	}
	pub, err := id.ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return k, fmt.Errorf("%w: node %s has no Ed25519 key", ErrMalformed, s)
	}
	raw, _ := pub.Raw()
	copy(k[:], raw)
	return k, nil
}

func insert(l [][32]byte, k [32]byte) [][32]byte {
	if slices.Contains(l, k) {
		return l
	}
	return append(l, k)
}

func (s *Server) revokeNode(c *call) (int, any, error) {
	k, err := nodeKeyOf(c.r.PathValue("node"))
	if err != nil {
		return 0, nil, err
	}
	v, err := s.revise(c, func(r *devnet.Revocations) error {
		r.Nodes = insert(r.Nodes, k)
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	s.cfg.Logf("devapi: node %x of network %s revoked (API key %s), list version %d", k[:6], c.net.Short(), c.grant.ID, v)
	return http.StatusOK, Revoked{Revoked: c.r.PathValue("node"), Version: v}, nil
}

func (s *Server) revokeAuthKey(c *call) (int, any, error) {
	b, err := hex.DecodeString(c.r.PathValue("id"))
	if err != nil || len(b) != 32 {
		return 0, nil, fmt.Errorf("%w: %q is not an auth key ID (64 hex digits, as listed)", ErrMalformed, c.r.PathValue("id"))
	}
	v, err := s.revise(c, func(r *devnet.Revocations) error {
		r.AuthKeys = insert(r.AuthKeys, [32]byte(b))
		return nil
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, Revoked{Revoked: c.r.PathValue("id"), Version: v}, nil
}

func (s *Server) getACL(c *call) (int, any, error) {
	l, err := s.lists()
	if err != nil {
		return 0, nil, err
	}
	out := ACL{Rules: []Rule{}}
	if _, p := s.current(c.r.Context(), l, c.net); p != nil {
		out.Version = p.Version
		for _, r := range p.Rules {
			out.Rules = append(out.Rules, Rule{From: r.From, To: r.To})
		}
	}
	return http.StatusOK, out, nil
}

func (s *Server) putACL(c *call) (int, any, error) {
	var req ACL
	if err := decodeJSON(c.body, &req); err != nil {
		return 0, nil, err
	}
	if len(req.Rules) > devnet.MaxRules {
		return 0, nil, fmt.Errorf("%w: %d rules, at most %d", ErrMalformed, len(req.Rules), devnet.MaxRules)
	}
	l, err := s.lists()
	if err != nil {
		return 0, nil, err
	}
	genesis, deleg, err := s.delegated(c, ledger.ScopeACL)
	if err != nil {
		return 0, nil, err
	}
	s.listMu.Lock()
	defer s.listMu.Unlock()
	for range 3 {
		p := &devnet.Policy{Net: c.net, Version: 1, Issued: s.cfg.Now().Unix()}
		if _, cur := s.current(c.r.Context(), l, c.net); cur != nil {
			p.Version = cur.Version + 1
		}
		for _, r := range req.Rules {
			p.Rules = append(p.Rules, devnet.Rule{From: strings.ToLower(strings.TrimSpace(r.From)), To: strings.ToLower(strings.TrimSpace(r.To))})
		}
		p.Sign(s.cfg.ServiceKey, deleg)
		err := l.OfferNetList(genesis, nil, p)
		if errors.Is(err, devnet.ErrStale) {
			continue
		}
		if err == nil {
			if err := s.store.PutLists(c.r.Context(), c.net, nil, p.Marshal()); err != nil {
				return 0, nil, fmt.Errorf("%w: the policy (version %d) is served but not saved: %v", ErrUnavailable, p.Version, err)
			}
		}
		if errors.Is(err, devnet.ErrMalformed) {
			return 0, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("%w: policy refused: %v", ErrUnavailable, err)
		}
		out := ACL{Version: p.Version, Rules: req.Rules}
		if out.Rules == nil {
			out.Rules = []Rule{}
		}
		s.cfg.Logf("devapi: network %s tag ACL version %d, %d rules (API key %s)", c.net.Short(), p.Version, len(p.Rules), c.grant.ID)
		return http.StatusOK, out, nil
	}
	return 0, nil, fmt.Errorf("%w: the policy kept changing; try again", ErrConflict)
}
