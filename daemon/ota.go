package daemon

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

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
func (d *Daemon) attachOTA(ctx context.Context, p *parts) error {
	n := p.e
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
	p.ota = on
	context.AfterFunc(n.Context(), func() {
		if on.up != nil {
			on.up.Close()
		}
		srv.Close()
	})
	return nil
}

// updater is the device updater running on n, if any.
func (d *Daemon) updater(n *coconet.Node) *ota.Updater {
	if on := partsOf(n).ota; on != nil {
		return on.up
	}
	return nil
}

// OTAAuthorize records an authorization and keeps the image; the node
// serves it (in ledger-only mode, once `coco up` runs).
func (d *Daemon) OTAAuthorize(ctx context.Context, network string, req api.OTAAuthorizeRequest) (api.OTAAuthorization, error) {
	b, err := d.book(network)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	a, err := ota.AuthorizeLog(b.l, b.key, d.self(b), ota.StoreDir(d.Home), otaRequest(req))
	return wireAuthorization(a), err
}

// self is the ID of this home's node in b's network, running or not.
func (d *Daemon) self(b book) peer.ID {
	if b.n != nil {
		return b.n.PeerID()
	}
	var pub [32]byte
	copy(pub[:], d.id.Seed.NodeKey(b.l.Network(), node.DefaultApp).Public().(ed25519.PublicKey))
	p, _ := node.PeerIDOf(pub) // an Ed25519 key always makes an ID
	return p
}

func (d *Daemon) OTAList(ctx context.Context, network string) ([]api.OTAAuthorization, error) {
	b, err := d.book(network)
	if err != nil {
		return nil, err
	}
	return wireAll(ota.List(b.l.State()), wireAuthorization), nil
}

func (d *Daemon) OTAStatus(ctx context.Context, network string) ([]api.OTAStatus, error) {
	n, err := d.running(network, "firmware status")
	if err != nil {
		return nil, err
	}
	p := partsOf(n)
	if p.e == nil {
		return nil, fmt.Errorf("the node of %q is stopping", network)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return wireAll(ota.CollectStatus(ctx, p.e, d.updater(n)), wireOTAStatus), nil
}

// OTAWithdraw deletes an authorization; online devices stop fetching it
// (in ledger-only mode, once the node runs).
func (d *Daemon) OTAWithdraw(ctx context.Context, network, device, version string) (api.OTAAuthorization, error) {
	b, err := d.book(network)
	if err != nil {
		return api.OTAAuthorization{}, err
	}
	a, err := ota.Withdraw(b.l, b.key, device, version)
	return wireAuthorization(a), err
}
