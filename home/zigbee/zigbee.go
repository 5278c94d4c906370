package zigbee

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/home"
)

// Kinds of simulated devices.
const (
	Bulb        = "bulb"
	Plug        = "plug"
	Lock        = "lock"
	Temperature = "temperature"
)

// Device is one bridged device: its kind, its resource ID, name and zone.
type Device struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Zone string `json:"zone,omitempty"`
}

// DefaultDevices is the simulated home: two bulbs, a plug, a front door
// lock and a temperature sensor.
func DefaultDevices() []Device {
	return []Device{
		{Kind: Bulb, ID: "living-lamp", Name: "Living room lamp", Zone: "Living room"},
		{Kind: Bulb, ID: "kitchen-light", Name: "Kitchen light", Zone: "Kitchen"},
		{Kind: Plug, ID: "coffee-plug", Name: "Coffee maker", Zone: "Kitchen"},
		{Kind: Lock, ID: "front-door", Name: "Front door", Zone: "Entrance"},
		{Kind: Temperature, ID: "hall-temp", Name: "Hall temperature", Zone: "Entrance"},
	}
}

// Options configure a Gateway.
type Options struct {
	// ID is the gateway's own resource ID; "" means "zigbee".
	ID string
	// Devices are paired at start; nil means DefaultDevices (use an empty
	// non-nil slice for none).
	Devices []Device
	// DriftEvery is how often temperatures drift; 0 means 30 s, negative
	// never.
	DriftEvery time.Duration
	// Latency is the simulated radio delay of each command.
	Latency time.Duration
}

// Gateway is a running simulated gateway. It stops with its host or Close.
type Gateway struct {
	h    *home.Host
	opts Options

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex // guards following fields
	devices map[string]Device
	faults  map[string]error
}

// Start serves the gateway resource and pairs opts.Devices on h.
func Start(h *home.Host, opts Options) (*Gateway, error) {
	if opts.ID == "" {
		opts.ID = "zigbee"
	}
	if opts.Devices == nil {
		opts.Devices = DefaultDevices()
	}
	if opts.DriftEvery == 0 {
		opts.DriftEvery = 30 * time.Second
	}
	g := &Gateway{h: h, opts: opts, devices: map[string]Device{}, faults: map[string]error{}}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	gw := home.Resource{ID: opts.ID, Name: "Zigbee gateway (simulated)", Capabilities: home.Caps("bridge"),
		Metadata: map[string]string{"kind": "gateway", "model": "coconet sim"}}
	if err := h.Add(gw, home.DriverFunc(g.bridge)); err != nil {
		return nil, err
	}
	for _, d := range opts.Devices {
		if err := g.Pair(d); err != nil {
			g.Close()
			return nil, err
		}
	}
	if opts.DriftEvery > 0 {
		h.Go(g.drift)
	}
	return g, nil
}

// Close stops the temperature drift and removes the gateway's resources
// from the host. It is idempotent.
func (g *Gateway) Close() {
	g.cancel()
	g.mu.Lock()
	ids := make([]string, 0, len(g.devices))
	for id := range g.devices {
		ids = append(ids, id)
	}
	g.devices = map[string]Device{}
	g.mu.Unlock()
	for _, id := range ids {
		g.h.Remove(id)
	}
	g.h.Remove(g.opts.ID)
}

// Host is the host the gateway serves on.
func (g *Gateway) Host() *home.Host { return g.h }

// Devices lists the paired devices by ID.
func (g *Gateway) Devices() []Device {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Device, 0, len(g.devices))
	for _, d := range g.devices {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b Device) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Resource returns the resource a device kind is served as.
func Resource(d Device) (home.Resource, error) {
	r := home.Resource{ID: d.ID, Name: d.Name, Zone: d.Zone, Metadata: map[string]string{"kind": d.Kind, "bridge": "zigbee (simulated)"}}
	switch d.Kind {
	case Bulb:
		r.Capabilities = home.Caps("on_off", "level", "color")
	case Plug:
		r.Capabilities = home.Caps("on_off")
	case Lock:
		r.Capabilities = home.Caps("lock", "battery")
	case Temperature, "sensor":
		r.Capabilities = home.Caps("temperature", "battery")
	default:
		return r, fmt.Errorf("zigbee: kind %q is not simulated; use bulb, plug, lock or temperature: %w", d.Kind, home.ErrInvalid)
	}
	if r.Name == "" {
		r.Name = d.ID
	}
	return r, nil
}

// Pair bridges a device: its resource appears on the host.
func (g *Gateway) Pair(d Device) error {
	r, err := Resource(d)
	if err != nil {
		return err
	}
	if err := g.h.Add(r, home.DriverFunc(g.command)); err != nil {
		return err
	}
	g.mu.Lock()
	g.devices[d.ID] = d
	n := len(g.devices)
	g.mu.Unlock()
	g.h.Set(g.opts.ID, "bridge", "resources", n)
	return nil
}

// Unpair removes a bridged device.
func (g *Gateway) Unpair(id string) error {
	g.mu.Lock()
	_, ok := g.devices[id]
	delete(g.devices, id)
	delete(g.faults, id)
	n := len(g.devices)
	g.mu.Unlock()
	if !ok {
		return fmt.Errorf("zigbee: no device %s is paired: %w", id, home.ErrNotFound)
	}
	err := g.h.Remove(id)
	g.h.Set(g.opts.ID, "bridge", "resources", n)
	return err
}

// Fault makes every command to a device fail with err (nil clears it), as
// a jammed lock or a bulb out of radio range would.
func (g *Gateway) Fault(id string, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err == nil {
		delete(g.faults, id)
	} else {
		g.faults[id] = err
	}
}

// bridge runs the gateway's own commands (the host has checked that the
// caller is the owner).
func (g *Gateway) bridge(ctx context.Context, c home.Call) error {
	switch c.Command {
	case "add":
		d := Device{Kind: c.Args["kind"].(string), ID: c.Args["id"].(string)}
		if n, ok := c.Args["name"].(string); ok {
			d.Name = n
		}
		if err := home.ValidID(d.ID); err != nil {
			return fmt.Errorf("%w: %w", err, home.ErrInvalid)
		}
		return g.Pair(d)
	case "remove":
		return g.Unpair(c.Args["id"].(string))
	}
	return fmt.Errorf("zigbee: the bridge has no command %s: %w", c.Command, home.ErrInvalid)
}

// command simulates the radio: a delay, and the fault set for the device.
func (g *Gateway) command(ctx context.Context, c home.Call) error {
	if g.opts.Latency > 0 {
		t := time.NewTimer(g.opts.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	g.mu.Lock()
	err := g.faults[c.Resource.ID]
	g.mu.Unlock()
	return err
}

// drift moves every temperature by up to ±0.3 °C each period, within
// 15–28 °C.
func (g *Gateway) drift(ctx context.Context) {
	t := time.NewTicker(g.opts.DriftEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.ctx.Done():
			return
		case <-t.C:
		}
		for _, d := range g.Devices() {
			if d.Kind != Temperature && d.Kind != "sensor" {
				continue
			}
			r, ok := g.h.Get(d.ID)
			if !ok {
				continue
			}
			v, _ := r.Value("temperature", "celsius")
			cur, _ := v.(float64)
			next := math.Round((cur+(rand.Float64()-0.5)*0.6)*10) / 10
			next = min(max(next, 15), 28)
			if err := g.h.Set(d.ID, "temperature", "celsius", next); err != nil && !errors.Is(err, home.ErrNotFound) {
				return
			}
		}
	}
}
