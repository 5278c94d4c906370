package api

import (
	"context"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// DevAPIService is the part of Service that signs for a developer
// network's REST API (package control/devapi, served by `coco control
// --api`): the owner's key signs API key grants and revocations, and the
// delegation of a control plane's service key; the control plane keeps
// only what is signed. The daemon never talks to the control plane: the
// CLI hands what it signs over.
type DevAPIService interface {
	// APIKeySign makes an API key and its grant signed with this
	// identity's key (the network's owner only); with Delegate it also
	// appends the owner's delegate_service op for Service to the ledger.
	APIKeySign(ctx context.Context, network string, req APIKeyRequest) (APIKeyGrant, error)
	// APIKeyRevokeSign signs the revocation of API key id (owner only).
	APIKeyRevokeSign(ctx context.Context, network, id string) (APIKeyRevocation, error)
}

// APIKeyRequest asks for an API key.
type APIKeyRequest struct {
	Scopes string        `json:"scopes"`              // "nodes:write,usage:read"
	Expiry time.Duration `json:"expiry_ns,omitempty"` // 0: 90 days
	// Service is the control plane's service key (GET /v1/service). With
	// Delegate (ledger scopes: "enroll,revoke,acl") the owner delegates them
	// to it; without, its delegation in force, if any, is returned.
	Service  identity.UserID `json:"service,omitzero"`
	Delegate string          `json:"delegate,omitempty"`
}

// APIKeyGrant is a new API key: the secret (shown once) and what the
// control plane is handed.
type APIKeyGrant struct {
	Key        string           `json:"key"` // cak_…: the secret
	ID         string           `json:"id"`
	Network    ledger.NetworkID `json:"network"`
	Scopes     []string         `json:"scopes"`
	Expires    time.Time        `json:"expires"`
	Genesis    []byte           `json:"genesis"`
	Grant      []byte           `json:"grant"`
	Delegation []byte           `json:"delegation,omitempty"` // the delegate_service op for Service
}

// APIKeyRevocation is a signed revocation of an API key.
type APIKeyRevocation struct {
	ID         string           `json:"id"`
	Network    ledger.NetworkID `json:"network"`
	Revocation []byte           `json:"revocation"`
}

// The routes of DevAPIService, each with its Client method.

var rAPIKeySign = newRoute("POST", "/v1/networks/{net}/apikeys", func(ctx context.Context, s Service, p []string, req APIKeyRequest) (APIKeyGrant, error) {
	return s.APIKeySign(ctx, p[0], req)
})

func (c *Client) APIKeySign(ctx context.Context, network string, req APIKeyRequest) (APIKeyGrant, error) {
	return rAPIKeySign.do(ctx, c, req, network)
}

var rAPIKeyRevokeSign = newRoute("POST", "/v1/networks/{net}/apikeys/{id}/revoke", func(ctx context.Context, s Service, p []string, _ none) (APIKeyRevocation, error) {
	return s.APIKeyRevokeSign(ctx, p[0], p[1])
})

func (c *Client) APIKeyRevokeSign(ctx context.Context, network, id string) (APIKeyRevocation, error) {
	return rAPIKeyRevokeSign.do(ctx, c, none{}, network, id)
}
