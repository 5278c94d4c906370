package devapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/coconet/coconet/control/controlproto"
)

// CreateAPIKey is the body of POST /v1/networks/{net}/apikeys: the grant
// the owner signed, and the network's genesis (which names the owner) the
// first time the control plane hears of the network.
type CreateAPIKey struct {
	Genesis []byte `json:"genesis,omitempty"` // the genesis operation's encoding (base64 in JSON)
	Grant   []byte `json:"grant"`             // Grant.Marshal (base64 in JSON)
}

// RevokeAPIKey is the body of DELETE /v1/networks/{net}/apikeys/{id}.
type RevokeAPIKey struct {
	Revocation []byte `json:"revocation"` // KeyRevocation.Marshal (base64 in JSON)
}

// APIKey describes an API key (never its secret).
type APIKey struct {
	ID      KeyID     `json:"id"`
	Net     string    `json:"network"`
	Scopes  []string  `json:"scopes"`
	Issued  time.Time `json:"issued"`
	Expires time.Time `json:"expires"`
}

// Node is a node of the network as the control plane knows it: from its
// signed peer record and its credential. Never payload.
type Node struct {
	ID        string    `json:"id"` // libp2p peer ID
	User      string    `json:"user"`
	Tags      []string  `json:"tags"`
	Ephemeral bool      `json:"ephemeral"`
	Online    bool      `json:"online"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"` // the registration lapses then unless renewed
	Addrs     []string  `json:"addrs"`
}

// Usage is the network's use of this control plane this month against
// its plan.
type Usage = controlproto.Usage

func decodeJSON(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrMalformed, err)
	}
	return nil
}

func infoOf(g *Grant) APIKey {
	return APIKey{ID: g.ID, Net: g.Net.String(), Scopes: g.Scopes.Names(),
		Issued: time.Unix(g.Issued, 0).UTC(), Expires: g.ExpiresAt().UTC()}
}

// createAPIKey keeps a grant the network's owner signed. Its only
// authority is that signature: no API key can make another, and neither
// can the control plane.
func (s *Server) createAPIKey(c *call) (int, any, error) {
	var req CreateAPIKey
	if err := decodeJSON(c.body, &req); err != nil {
		return 0, nil, err
	}
	g, err := UnmarshalGrant(req.Grant)
	if err != nil {
		return 0, nil, err
	}
	// The grant is checked before the network is kept: a stranger's
	// genesis with no valid grant of its owner takes no place here.
	owner, err := s.ownerOf(c.r.Context(), c.net)
	if errors.Is(err, ErrNotFound) && req.Genesis != nil {
		gen, gerr := checkGenesis(c.net, req.Genesis)
		if gerr != nil {
			return 0, nil, gerr
		}
		if err := g.Verify(c.net, gen.Author, s.cfg.Now()); err != nil {
			return 0, nil, err
		}
		owner, err = s.knowNetwork(c.r.Context(), c.net, req.Genesis)
	}
	if err != nil {
		return 0, nil, err
	}
	if err := g.Verify(c.net, owner, s.cfg.Now()); err != nil {
		return 0, nil, err
	}
	if rev, err := s.store.Revoked(c.r.Context(), g.ID); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	} else if rev {
		return 0, nil, fmt.Errorf("%w: API key %s was revoked; create a new one", ErrConflict, g.ID)
	}
	if old, err := s.store.Grant(c.r.Context(), g.ID); err == nil {
		if string(old) == string(req.Grant) {
			return http.StatusOK, infoOf(g), nil
		}
		return 0, nil, fmt.Errorf("%w: API key ID %s is taken by another grant", ErrConflict, g.ID)
	}
	if all, err := s.store.Grants(c.r.Context(), c.net); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	} else if len(all) >= s.cfg.MaxGrants {
		return 0, nil, fmt.Errorf("%w: network %s already has %d API keys; revoke unused ones (coco net apikey revoke)", ErrConflict, c.net.Short(), len(all))
	}
	if err := s.store.PutGrant(c.r.Context(), c.net, g.ID, req.Grant); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	s.cfg.Logf("devapi: API key %s for network %s, scopes %s, until %s", g.ID, c.net.Short(), g.Scopes, g.ExpiresAt().UTC().Format(time.RFC3339))
	return http.StatusCreated, infoOf(g), nil
}

func (s *Server) listAPIKeys(c *call) (int, any, error) {
	all, err := s.store.Grants(c.r.Context(), c.net)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	out := []APIKey{}
	for _, b := range all {
		if g, err := UnmarshalGrant(b); err == nil && g.Verify(c.net, c.owner, s.cfg.Now()) == nil {
			out = append(out, infoOf(g))
		}
	}
	return http.StatusOK, out, nil
}

// revokeAPIKey withdraws a key on the owner's signed word; the revocation
// is kept until the grant would have expired, so the grant cannot be
// registered again.
func (s *Server) revokeAPIKey(c *call) (int, any, error) {
	id, err := ParseKeyID(c.r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var req RevokeAPIKey
	if err := decodeJSON(c.body, &req); err != nil {
		return 0, nil, err
	}
	rv, err := UnmarshalKeyRevocation(req.Revocation)
	if err != nil {
		return 0, nil, err
	}
	owner, err := s.ownerOf(c.r.Context(), c.net)
	if err != nil {
		return 0, nil, err
	}
	if rv.ID != id {
		return 0, nil, fmt.Errorf("%w: the revocation names key %s, the path %s", ErrMalformed, rv.ID, id)
	}
	if err := rv.Verify(c.net, owner, s.cfg.Now()); err != nil {
		return 0, nil, err
	}
	b, err := s.store.Grant(c.r.Context(), id)
	if err != nil {
		if rev, _ := s.store.Revoked(c.r.Context(), id); rev {
			return http.StatusOK, map[string]any{"id": id, "revoked": true}, nil
		}
		return 0, nil, fmt.Errorf("%w: no API key %s", ErrNotFound, id)
	}
	g, err := UnmarshalGrant(b)
	if err != nil || g.Net != c.net {
		return 0, nil, fmt.Errorf("%w: no API key %s in network %s", ErrNotFound, id, c.net.Short())
	}
	if err := s.store.Revoke(c.r.Context(), c.net, id, g.ExpiresAt()); err != nil {
		return 0, nil, fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	s.cfg.Logf("devapi: API key %s of network %s revoked", id, c.net.Short())
	return http.StatusOK, map[string]any{"id": id, "revoked": true}, nil
}

func (s *Server) listNodes(c *call) (int, any, error) {
	out := []Node{}
	for _, v := range s.cfg.Backend.Nodes(c.net) {
		n := Node{ID: v.Peer.String(), User: v.User.String(), Tags: v.Tags, Ephemeral: v.Ephemeral,
			Online: v.Online, LastSeen: v.LastSeen.UTC(), Expires: v.Expires.UTC(), Addrs: v.Addrs}
		if n.Tags == nil {
			n.Tags = []string{}
		}
		if n.Addrs == nil {
			n.Addrs = []string{}
		}
		out = append(out, n)
	}
	return http.StatusOK, out, nil
}

func (s *Server) usage(c *call) (int, any, error) {
	return http.StatusOK, s.cfg.Backend.UsageOf(c.net, c.owner), nil
}
