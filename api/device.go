package api

import (
	"context"
	"net/http"

	"github.com/coconet/coconet/device"
)

// DeviceService is the part of Service for claiming and removing devices.
type DeviceService interface {
	// DeviceAdd claims the device showing code into a network (owner only).
	DeviceAdd(ctx context.Context, network, code string) (device.Info, error)
	// Devices lists a network's devices.
	Devices(ctx context.Context, network string) ([]DeviceInfo, error)
	// DeviceRemove takes a device (by name or node ID) out of a network.
	DeviceRemove(ctx context.Context, network, ref string) (device.Info, error)
}

// DeviceInfo is a device of a network; Online is known only to a running
// daemon.
type DeviceInfo struct {
	device.Info
	Online bool `json:"online"`
}

// deviceRoutes adds the routes of DeviceService to mux.
func deviceRoutes(mux *http.ServeMux, svc Service) {
	mux.HandleFunc("POST /v1/networks/{net}/devices", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Code string `json:"code"`
		}
		if !decode(w, r, &req) {
			return
		}
		reply(w)(svc.DeviceAdd(r.Context(), r.PathValue("net"), req.Code))
	})
	mux.HandleFunc("GET /v1/networks/{net}/devices", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Devices(r.Context(), r.PathValue("net")))
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/devices/{ref}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.DeviceRemove(r.Context(), r.PathValue("net"), r.PathValue("ref")))
	})
}

// DeviceAdd implements DeviceService.
func (c *Client) DeviceAdd(ctx context.Context, network, code string) (i device.Info, err error) {
	err = c.do(ctx, "POST", p("networks", network, "devices"), map[string]string{"code": code}, &i)
	return i, err
}

// Devices implements DeviceService.
func (c *Client) Devices(ctx context.Context, network string) (ds []DeviceInfo, err error) {
	err = c.do(ctx, "GET", p("networks", network, "devices"), nil, &ds)
	return ds, err
}

// DeviceRemove implements DeviceService.
func (c *Client) DeviceRemove(ctx context.Context, network, ref string) (i device.Info, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "devices", ref), nil, &i)
	return i, err
}
