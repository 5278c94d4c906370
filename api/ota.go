package api

import (
	"context"
	"time"
)

// OTAService is the part of Service for firmware authorization and status
// (package ota).
type OTAService interface {
	// OTAAuthorize records that an image (read by the daemon from
	// req.Image) may be installed on a device; owner only. The daemon keeps
	// the image and serves it to that device.
	OTAAuthorize(ctx context.Context, network string, req OTAAuthorizeRequest) (OTAAuthorization, error)
	// OTAList lists the network's authorizations, newest first.
	OTAList(ctx context.Context, network string) ([]OTAAuthorization, error)
	// OTAStatus asks the network's devices what they run and do.
	OTAStatus(ctx context.Context, network string) ([]OTAStatus, error)
	// OTAWithdraw takes back the authorization of a version for a device
	// (name or node ID); owner only.
	OTAWithdraw(ctx context.Context, network, device, version string) (OTAAuthorization, error)
}

// OTAAuthorizeRequest authorizes an image: Device is a device's name, the
// name of one of the owner's nodes, or a node ID; Image a path the daemon
// reads; Model "" takes the model the device announced.
type OTAAuthorizeRequest struct {
	Device  string `json:"device"`
	Image   string `json:"image"`
	Version string `json:"version"`
	Model   string `json:"model,omitempty"`
}

// OTAAuthorization is an image authorized for a device.
type OTAAuthorization struct {
	V       int    `json:"v"`              // the record's version
	Device  string `json:"device"`         // the device node's peer ID
	Name    string `json:"name,omitempty"` // the device's name when authorized
	Model   string `json:"model,omitempty"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// Source is the node that keeps the image and serves it.
	Source       string    `json:"source,omitempty"`
	AuthorizedAt time.Time `json:"authorized_at"`
}

// OTAStatus is a device's firmware status.
type OTAStatus struct {
	Device  string `json:"device"` // the device node's peer ID
	Name    string `json:"name,omitempty"`
	Model   string `json:"model,omitempty"`
	Version string `json:"version"` // the running version ("" unknown)
	State   string `json:"state"`
	// Target is the version being installed, or last tried.
	Target string `json:"target,omitempty"`
	Done   int64  `json:"done,omitempty"` // bytes downloaded
	Total  int64  `json:"total,omitempty"`
	// Error says why the last attempt failed; while downloading, why the
	// last try was interrupted (it will be retried).
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"`
}

// The routes of OTAService, each with its Client method.

var rOTAAuthorize = newRoute("POST", "/v1/networks/{net}/ota", func(ctx context.Context, s Service, p []string, req OTAAuthorizeRequest) (OTAAuthorization, error) {
	return s.OTAAuthorize(ctx, p[0], req)
})

func (c *Client) OTAAuthorize(ctx context.Context, network string, req OTAAuthorizeRequest) (OTAAuthorization, error) {
	return rOTAAuthorize.do(ctx, c, req, network)
}

var rOTAList = newList("GET", "/v1/networks/{net}/ota", func(ctx context.Context, s Service, p []string, _ none) ([]OTAAuthorization, error) {
	return s.OTAList(ctx, p[0])
})

func (c *Client) OTAList(ctx context.Context, network string) ([]OTAAuthorization, error) {
	return rOTAList.do(ctx, c, none{}, network)
}

var rOTAStatus = newList("GET", "/v1/networks/{net}/ota/status", func(ctx context.Context, s Service, p []string, _ none) ([]OTAStatus, error) {
	return s.OTAStatus(ctx, p[0])
})

func (c *Client) OTAStatus(ctx context.Context, network string) ([]OTAStatus, error) {
	return rOTAStatus.do(ctx, c, none{}, network)
}

var rOTAWithdraw = newRoute("DELETE", "/v1/networks/{net}/ota/{device}/{version}", func(ctx context.Context, s Service, p []string, _ none) (OTAAuthorization, error) {
	return s.OTAWithdraw(ctx, p[0], p[1], p[2])
})

func (c *Client) OTAWithdraw(ctx context.Context, network, device, version string) (OTAAuthorization, error) {
	return rOTAWithdraw.do(ctx, c, none{}, network, device, version)
}
