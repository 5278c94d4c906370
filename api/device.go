package api

import (
	"context"
	"time"

	"github.com/coconet/coconet/identity"
)

// DeviceService is the part of Service for claiming and removing devices.
type DeviceService interface {
	// DeviceAdd claims the device showing code into a network (owner only).
	DeviceAdd(ctx context.Context, network, code string) (Device, error)
	// Devices lists a network's devices.
	Devices(ctx context.Context, network string) ([]DeviceInfo, error)
	// DeviceRemove takes a device (by name or node ID) out of a network.
	DeviceRemove(ctx context.Context, network, ref string) (Device, error)
}

// Device is a device claimed into a network.
type Device struct {
	Name    string          `json:"name"`
	Node    string          `json:"node"` // its node's peer ID
	Model   string          `json:"model,omitempty"`
	Added   time.Time       `json:"added"`
	AddedBy identity.UserID `json:"added_by"`
}

// DeviceInfo is a device of a network; Online is known only to a running
// daemon.
type DeviceInfo struct {
	Device
	Online bool `json:"online"`
}

// The routes of DeviceService, each with its Client method.

var rDeviceAdd = newRoute("POST", "/v1/networks/{net}/devices", func(ctx context.Context, s Service, p []string, req codeRequest) (Device, error) {
	return s.DeviceAdd(ctx, p[0], req.Code)
})

func (c *Client) DeviceAdd(ctx context.Context, network, code string) (Device, error) {
	return rDeviceAdd.do(ctx, c, codeRequest{code}, network)
}

var rDevices = newRoute("GET", "/v1/networks/{net}/devices", func(ctx context.Context, s Service, p []string, _ none) ([]DeviceInfo, error) {
	return s.Devices(ctx, p[0])
})

func (c *Client) Devices(ctx context.Context, network string) ([]DeviceInfo, error) {
	return rDevices.do(ctx, c, none{}, network)
}

var rDeviceRemove = newRoute("DELETE", "/v1/networks/{net}/devices/{ref}", func(ctx context.Context, s Service, p []string, _ none) (Device, error) {
	return s.DeviceRemove(ctx, p[0], p[1])
})

func (c *Client) DeviceRemove(ctx context.Context, network, ref string) (Device, error) {
	return rDeviceRemove.do(ctx, c, none{}, network, ref)
}
