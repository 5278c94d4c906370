package api

import (
	"context"
	"time"

	"github.com/coconet/coconet/identity"
)

// DevNetService is the part of Service for developer networks' governance
// (package devnet): service keys the owner delegates, and auth keys the
// owner mints. Both are signed with the owner's key on this machine; no
// server is involved.
type DevNetService interface {
	// ServiceAdd delegates a service key (new, or the public key given)
	// with scopes and an expiry (owner only).
	ServiceAdd(ctx context.Context, network string, req ServiceAddRequest) (ServiceKeyInfo, error)
	// ServiceRevoke withdraws a service key's delegation (owner only).
	ServiceRevoke(ctx context.Context, network, key string) (ServiceKeyInfo, error)
	// AuthKeyCreate mints an auth key signed by the owner.
	AuthKeyCreate(ctx context.Context, network string, req AuthKeyRequest) (AuthKeyResult, error)
}

// ServiceAddRequest asks for a service key's delegation.
type ServiceAddRequest struct {
	Name    string        `json:"name,omitempty"`
	Scopes  string        `json:"scopes"`            // "enroll,revoke,acl" or "all"
	Expiry  time.Duration `json:"expiry_ns"`         // from now
	Key     string        `json:"key,omitempty"`     // the service's public key (user ID form); empty: make one
	Control []string      `json:"control,omitempty"` // unused; reserved
}

// ServiceKeyInfo is a delegated service key. Secret is set only when the
// key was made by ServiceAdd: the devnet.ServiceKey string, shown once.
type ServiceKeyInfo struct {
	Key     identity.UserID `json:"key"`
	Name    string          `json:"name,omitempty"`
	Scopes  string          `json:"scopes"`
	Expires time.Time       `json:"expires"`
	Revoked bool            `json:"revoked,omitempty"`
	Secret  string          `json:"secret,omitempty"`
}

// AuthKeyRequest asks for an auth key.
type AuthKeyRequest struct {
	Reusable     bool          `json:"reusable,omitempty"`
	Ephemeral    bool          `json:"ephemeral,omitempty"`
	Tags         []string      `json:"tags,omitempty"`
	Expiry       time.Duration `json:"expiry_ns,omitempty"`        // 0: 24 h
	NodeValidity time.Duration `json:"node_validity_ns,omitempty"` // 0: 90 days
	Control      []string      `json:"control,omitempty"`          // added to the network's known control planes
}

// AuthKeyResult is a minted auth key: Key is the secret string a node
// enrols with (`coco up --authkey KEY`).
type AuthKeyResult struct {
	Key       string    `json:"key"`
	ID        string    `json:"id"` // the enrollment public key, hex: what a revocation names
	Network   string    `json:"network"`
	Reusable  bool      `json:"reusable"`
	Ephemeral bool      `json:"ephemeral"`
	Tags      []string  `json:"tags,omitempty"`
	Expires   time.Time `json:"expires"`
	NodeUntil time.Time `json:"node_until"`
	Control   []string  `json:"control,omitempty"`
}

// The routes of DevNetService, each with its Client method.

var rServiceAdd = newRoute("POST", "/v1/networks/{net}/services", func(ctx context.Context, s Service, p []string, req ServiceAddRequest) (ServiceKeyInfo, error) {
	return s.ServiceAdd(ctx, p[0], req)
})

func (c *Client) ServiceAdd(ctx context.Context, network string, req ServiceAddRequest) (ServiceKeyInfo, error) {
	return rServiceAdd.do(ctx, c, req, network)
}

var rServiceRevoke = newRoute("DELETE", "/v1/networks/{net}/services/{key}", func(ctx context.Context, s Service, p []string, _ none) (ServiceKeyInfo, error) {
	return s.ServiceRevoke(ctx, p[0], p[1])
})

func (c *Client) ServiceRevoke(ctx context.Context, network, key string) (ServiceKeyInfo, error) {
	return rServiceRevoke.do(ctx, c, none{}, network, key)
}

var rAuthKeyCreate = newRoute("POST", "/v1/networks/{net}/authkeys", func(ctx context.Context, s Service, p []string, req AuthKeyRequest) (AuthKeyResult, error) {
	return s.AuthKeyCreate(ctx, p[0], req)
})

func (c *Client) AuthKeyCreate(ctx context.Context, network string, req AuthKeyRequest) (AuthKeyResult, error) {
	return rAuthKeyCreate.do(ctx, c, req, network)
}
