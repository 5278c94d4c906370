package api

import (
	"context"

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

// The routes of DeviceService, each with its Client method.

var rDeviceAdd = newRoute("POST", "/v1/networks/{net}/devices", func(ctx context.Context, s Service, p []string, req codeRequest) (device.Info, error) {
	return s.DeviceAdd(ctx, p[0], req.Code)
})

func (c *Client) DeviceAdd(ctx context.Context, network, code string) (device.Info, error) {
	return rDeviceAdd.do(ctx, c, codeRequest{code}, network)
}

var rDevices = newRoute("GET", "/v1/networks/{net}/devices", func(ctx context.Context, s Service, p []string, _ none) ([]DeviceInfo, error) {
	return s.Devices(ctx, p[0])
})

func (c *Client) Devices(ctx context.Context, network string) ([]DeviceInfo, error) {
	return rDevices.do(ctx, c, none{}, network)
}

var rDeviceRemove = newRoute("DELETE", "/v1/networks/{net}/devices/{ref}", func(ctx context.Context, s Service, p []string, _ none) (device.Info, error) {
	return s.DeviceRemove(ctx, p[0], p[1])
})

func (c *Client) DeviceRemove(ctx context.Context, network, ref string) (device.Info, error) {
	return rDeviceRemove.do(ctx, c, none{}, network, ref)
}
