package devapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/coconet/coconet/ledger"
)

// Client calls the API: what `coco net apikey` uses, and a model for a
// developer's own service.
type Client struct {
	// URL is the API's base, e.g. "https://control.example:8443".
	URL string
	// Key is the API key sent on routes that take one.
	Key string
	// HTTP is the client to use; nil means http.DefaultClient.
	HTTP *http.Client
}

// APIError is a failed request's answer.
type APIError struct {
	Status int
	Code   string // Error.Code
	Msg    string // Error.Error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("control plane API: %s (HTTP %d)", e.Msg, e.Status)
}

// Do sends a request with body v (nil: none) and decodes the answer into out (nil: discard).
func (c *Client) Do(ctx context.Context, method, path string, v, out any) error {
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.URL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("devapi: %w", err)
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("devapi: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("devapi: read answer: %w", err)
	}
	if resp.StatusCode >= 300 {
		var eb Error
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return &APIError{Status: resp.StatusCode, Code: eb.Code, Msg: eb.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("devapi: answer: %w", err)
	}
	return nil
}

func netPath(net ledger.NetworkID, rest string) string {
	return "/v1/networks/" + url.PathEscape(net.String()) + rest
}

// CreateAPIKey hands the control plane an owner-signed grant (with the
// network's genesis).
func (c *Client) CreateAPIKey(ctx context.Context, net ledger.NetworkID, genesis []byte, g *Grant) (APIKey, error) {
	var out APIKey
	err := c.Do(ctx, "POST", netPath(net, "/apikeys"), CreateAPIKey{Genesis: genesis, Grant: g.Marshal()}, &out)
	return out, err
}

// RevokeAPIKey hands the control plane an owner-signed key revocation.
func (c *Client) RevokeAPIKey(ctx context.Context, net ledger.NetworkID, r *KeyRevocation) error {
	return c.Do(ctx, "DELETE", netPath(net, "/apikeys/"+r.ID.String()), RevokeAPIKey{Revocation: r.Marshal()}, nil)
}

// Nodes lists the network's nodes (scope nodes:read).
func (c *Client) Nodes(ctx context.Context, net ledger.NetworkID) ([]Node, error) {
	var out []Node
	err := c.Do(ctx, "GET", netPath(net, "/nodes"), nil, &out)
	return out, err
}

// Usage reads the network's usage (scope usage:read).
func (c *Client) Usage(ctx context.Context, net ledger.NetworkID) (Usage, error) {
	var out Usage
	err := c.Do(ctx, "GET", netPath(net, "/usage"), nil, &out)
	return out, err
}
