package daemon

import (
	"context"
	"crypto/ed25519"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/ota"
)

// Firmware (package ota). Every node the daemon runs serves the images its
// home authorized (kept in <home>/ota/<sha256>) to the devices they are for.
// A device daemon (Daemon.Device) also runs an ota.Updater: its hook,
// ota.DirHook, writes each verified image to <home>/firmware/<version>.bin
// and records it in <home>/firmware/current.json, which gives the running
// version when the daemon starts again; its model is the one it announces
// (Daemon.DeviceModel).

type otaNode struct {
	srv *ota.Server
	up  *ota.Updater // nil unless the daemon runs a device
}

// attachOTA starts the image server, and on a device the updater, on n.
// Both stop when n closes.
func (d *Daemon) attachOTA(ctx context.Context, n *coconet.Node) error {
	srv, err := ota.StartServer(n, d.Home, d.Logf)
	if err != nil {
		return err
	}
	on := &otaNode{srv: srv}
	if d.Device {
		if on.up, err = ota.StartDevice(n, d.Home, d.deviceModel(), d.Logf); err != nil {
			srv.Close()
			return err
		}
	}
	d.setPart(n, func(p *nodeParts) { p.ota = on })
	context.AfterFunc(n.Internal().Context(), func() {
		if on.up != nil {
			on.up.Close()
		}
		srv.Close()
	})
	return nil
}

// updater is the device updater running on n, if any.
func (d *Daemon) updater(n *coconet.Node) *ota.Updater {
	if on := d.partsOf(n).ota; on != nil {
		return on.up
	}
	return nil
}

func (d *Daemon) OTAAuthorize(ctx context.Context, network string, req api.OTAAuthorizeRequest) (api.OTAAuthorization, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	return ota.Authorize(n, ota.StoreDir(d.Home), req)
}

func (d *Daemon) OTAList(ctx context.Context, network string) ([]api.OTAAuthorization, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	return ota.List(n.Ledger().State()), nil
}

func (d *Daemon) OTAStatus(ctx context.Context, network string) ([]api.OTAStatus, error) {
	n, err := d.Node(network)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return ota.CollectStatus(ctx, n, d.updater(n)), nil
}

// OTAAuthorize records the authorization in the home's ledger and keeps the
// image; the home's node serves it once `coco up` runs.
func (o *Offline) OTAAuthorize(ctx context.Context, network string, req api.OTAAuthorizeRequest) (api.OTAAuthorization, error) {
	id, l, err := o.open(network)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	var pub [32]byte
	copy(pub[:], id.Seed.NodeKey(l.Network(), node.DefaultApp).Public().(ed25519.PublicKey))
	self, err := node.PeerIDOf(pub)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	return ota.AuthorizeLog(l, id.Seed.UserKey(), self, ota.StoreDir(o.Home), req)
}

func (o *Offline) OTAList(ctx context.Context, network string) ([]api.OTAAuthorization, error) {
	l, err := coconet.OpenNetwork(o.Home, network)
	if err != nil {
		return nil, api.NotFound{Err: err}
	}
	return ota.List(l.State()), nil
}

func (o *Offline) OTAStatus(ctx context.Context, network string) ([]api.OTAStatus, error) {
	return nil, notRunning("firmware status")
}

// OTAWithdraw deletes an authorization; online devices stop fetching it.
func (d *Daemon) OTAWithdraw(ctx context.Context, network, device, version string) (api.OTAAuthorization, error) {
	n, err := d.Node(network)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	return ota.Withdraw(n.Ledger(), n.Internal().UserKey(), device, version)
}

// OTAWithdraw deletes an authorization in the home's ledger; devices learn
// it when the node next runs.
func (o *Offline) OTAWithdraw(ctx context.Context, network, device, version string) (api.OTAAuthorization, error) {
	id, l, err := o.open(network)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	return ota.Withdraw(l, id.Seed.UserKey(), device, version)
}
