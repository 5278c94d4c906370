package api

import (
	"context"
	"net/http"

	"github.com/coconet/coconet/ota"
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
type OTAAuthorizeRequest = ota.Request

// OTAAuthorization is an image authorized for a device.
type OTAAuthorization = ota.Authorization

// OTAStatus is a device's firmware status.
type OTAStatus = ota.Status

// otaRoutes adds the routes of OTAService to mux.
func otaRoutes(mux *http.ServeMux, svc Service) {
	mux.HandleFunc("POST /v1/networks/{net}/ota", func(w http.ResponseWriter, r *http.Request) {
		var req OTAAuthorizeRequest
		if decode(w, r, &req) {
			reply(w)(svc.OTAAuthorize(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("GET /v1/networks/{net}/ota", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(otaNonNil(svc.OTAList(r.Context(), r.PathValue("net"))))
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/ota/{device}/{version}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.OTAWithdraw(r.Context(), r.PathValue("net"), r.PathValue("device"), r.PathValue("version")))
	})
	mux.HandleFunc("GET /v1/networks/{net}/ota/status", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(otaNonNil(svc.OTAStatus(r.Context(), r.PathValue("net"))))
	})
}

// otaNonNil makes an empty list encode as [] rather than null.
func otaNonNil[T any](v []T, err error) ([]T, error) {
	if v == nil && err == nil {
		v = []T{}
	}
	return v, err
}

func (c *Client) OTAAuthorize(ctx context.Context, network string, req OTAAuthorizeRequest) (a OTAAuthorization, err error) {
	err = c.do(ctx, "POST", p("networks", network, "ota"), req, &a)
	return
}

func (c *Client) OTAList(ctx context.Context, network string) (l []OTAAuthorization, err error) {
	err = c.do(ctx, "GET", p("networks", network, "ota"), nil, &l)
	return
}

func (c *Client) OTAStatus(ctx context.Context, network string) (s []OTAStatus, err error) {
	err = c.do(ctx, "GET", p("networks", network, "ota", "status"), nil, &s)
	return
}

// OTAWithdraw implements OTAService.
func (c *Client) OTAWithdraw(ctx context.Context, network, device, version string) (a OTAAuthorization, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "ota", device, version), nil, &a)
	return
}
