package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/device"
	"github.com/coconet/coconet/ledger"
)

// A device daemon (`coco up --device`) runs at most one network's node.
// Until the owner claims it, it runs a device.Claimer and shows its code;
// when the owner removes it, it forgets the network and shows a new code.

type deviceState struct {
	claimer *device.Claimer
	cancel  context.CancelFunc // ends the claim wait
}

func (s *deviceState) code() string {
	if s.claimer == nil {
		return ""
	}
	return s.claimer.Code()
}

func (d *Daemon) deviceName() string {
	if d.DeviceName != "" {
		return d.DeviceName
	}
	return d.id.Name
}

func (d *Daemon) deviceModel() string {
	switch {
	case d.DeviceModel != "":
		return d.DeviceModel
	case d.Sim != "":
		return "coconet-sim-" + d.Sim
	}
	return "coconet-device"
}

// startDevice starts the device's one network, or its claimer.
func (d *Daemon) startDevice(ctx context.Context, nets []homedir.NetworkInfo) error {
	switch len(nets) {
	case 0:
		return d.startClaimer()
	case 1:
		if err := d.startNode(ctx, nets[0].ID); err != nil {
			return fmt.Errorf("start the device's node in %q: %w", nets[0].Name, err)
		}
		return nil
	}
	return fmt.Errorf("a device belongs to one network at a time, and home %s holds %d; use another home (--home) for this device", d.Home, len(nets))
}

func (d *Daemon) startClaimer() error {
	c, err := device.NewClaimer(device.ClaimerConfig{
		Home: d.Home, Name: d.deviceName(), Model: d.deviceModel(), ListenHost: d.ListenHost, Logf: d.Logf,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.mu.Lock()
	d.dev = deviceState{claimer: c, cancel: cancel}
	d.mu.Unlock()
	code := c.Code()
	d.Logf("device %q is waiting to be claimed: on the owner's machine run\n  coco device add NETWORK %s", d.deviceName(), code)
	if d.OnClaimCode != nil {
		d.OnClaimCode(code)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		cl, err := c.Wait(ctx)
		c.Close()
		d.mu.Lock()
		if d.dev.claimer == c {
			d.dev = deviceState{}
		}
		d.mu.Unlock()
		if err != nil || ctx.Err() != nil {
			return
		}
		d.Logf("device %q claimed into %q by %s", d.deviceName(), cl.Name, cl.Owner)
		if err := d.startNode(ctx, cl.Network); err != nil {
			d.Logf("device: start node in %q: %v", cl.Name, err)
		}
	}()
	return nil
}

// stopDevice stops the claimer, if any.
func (d *Daemon) stopDevice() {
	d.mu.Lock()
	dev := d.dev
	d.dev = deviceState{}
	d.mu.Unlock()
	if dev.cancel != nil {
		dev.cancel()
	}
	if dev.claimer != nil {
		dev.claimer.Close()
	}
}

// attachDevice watches, on a device's node, for the owner removing it.
func (d *Daemon) attachDevice(ctx context.Context, p *parts) error {
	if !d.Device {
		return nil
	}
	n := p.e
	key := n.Node().NodeKey()
	id := n.NetworkID()
	var once atomic.Bool
	check := func(st *ledger.State) {
		if st.IsMemberNode(key) || !once.CompareAndSwap(false, true) {
			return
		}
		go d.deviceRemoved(id, p.n)
	}
	n.Ledger().OnChange(check)
	check(n.Ledger().State()) // it may have learned before the hook was there
	return nil
}

func (d *Daemon) deviceRemoved(id ledger.NetworkID, n *coconet.Node) {
	d.mu.Lock()
	if d.nodes[id] != n || d.closing {
		d.mu.Unlock()
		return
	}
	delete(d.nodes, id)
	d.mu.Unlock()
	name := n.Info().Name
	n.Close()
	if err := homedir.ForgetNetwork(d.Home, id); err != nil {
		d.Logf("device: forget %q: %v", name, err)
	}
	d.Logf("device %q was removed from %q", d.deviceName(), name)
	if err := d.startClaimer(); err != nil {
		d.Logf("device: %v", err)
	}
}

var errNotOwnerNode = errors.New("devices are added from a node of the network's owner")

// DeviceAdd claims a device into a network.
func (d *Daemon) DeviceAdd(ctx context.Context, network, code string) (api.Device, error) {
	if _, err := device.ParseCode(code); err != nil {
		return api.Device{}, err
	}
	e, err := d.runningEngine(network, "adding a device")
	if err != nil {
		return api.Device{}, err
	}
	if d.Device {
		return api.Device{}, errNotOwnerNode
	}
	i, err := device.Add(ctx, e, code)
	return wireDevice(i), err
}

// Devices lists a network's devices, marking those connected now.
func (d *Daemon) Devices(ctx context.Context, network string) ([]api.DeviceInfo, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	var out []api.DeviceInfo
	for _, i := range device.List(b.l.State()) {
		di := api.DeviceInfo{Device: wireDevice(i)}
		if e := b.engine(); e != nil {
			for _, p := range e.Node().ConnectedMembers() {
				if p.String() == i.Node {
					di.Online = true
				}
			}
		}
		out = append(out, di)
	}
	return out, nil
}

// DeviceRemove takes a device out of a network; in ledger-only mode,
// members learn it when the node next runs.
func (d *Daemon) DeviceRemove(ctx context.Context, network, ref string) (api.Device, error) {
	b, err := d.book(network)
	if err != nil {
		return api.Device{}, err
	}
	i, err := device.RemoveFrom(b.l, b.Append, d.id.ID(), ref)
	return wireDevice(i), err
}
