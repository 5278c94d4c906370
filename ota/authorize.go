package ota

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/device"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// StoreDir is where a home keeps the images it authorized: <home>/ota.
func StoreDir(home string) string { return filepath.Join(home, "ota") }

// imagePath is an image's place in a store.
func imagePath(store, sum string) string { return filepath.Join(store, sum) }

// Request asks to authorize an image.
type Request struct {
	// Device is the device's name (from the device table), the name of one
	// of the owner's nodes (its app), or a node's peer ID.
	Device string `json:"device"`
	// Image is the path of the image file.
	Image   string `json:"image"`
	Version string `json:"version"`
	// Model must match the device's model; "" means the model the device
	// announced when claimed, if any, else any model.
	Model string `json:"model,omitempty"`
}

// Authorize records in n's network that req.Image may be installed on
// req.Device, and copies the image into store (StoreDir of n's home), from
// where a Server running on n sends it to the device. Only the owner may
// authorize; for anyone else the ledger's refusal is the error.
func Authorize(n *engine.Engine, store string, req Request) (Authorization, error) {
	return AuthorizeLog(n.Ledger(), n.Node().UserKey(), n.PeerID(), store, req)
}

// AuthorizeLog is Authorize on a ledger with no running node: key signs the
// record, and source names the node that will serve the image from store
// once it runs.
func AuthorizeLog(l *ledger.Log, key ed25519.PrivateKey, source peer.ID, store string, req Request) (Authorization, error) {
	st := l.State()
	dev, err := ResolveDevice(st, req.Device)
	if err != nil {
		return Authorization{}, err
	}
	model := req.Model
	if model == "" {
		model = dev.Model // what the device said it is when claimed
	}
	a := Authorization{V: RecordVersion, Device: dev.Node.String(), Name: dev.Name, Model: model, Version: req.Version, Source: source.String()}
	if err := checkVersion(a.Version); err != nil {
		return Authorization{}, err
	}
	if err := checkModel(a.Model); err != nil {
		return Authorization{}, err
	}
	sum, size, created, err := storeImage(store, req.Image)
	if err != nil {
		return Authorization{}, err
	}
	a.SHA256, a.Size = sum, size
	if old, ok := Lookup(st, a.Key()); ok && old.SHA256 == a.SHA256 && old.Model == a.Model && old.Source == a.Source {
		return old, nil // already authorized: nothing to write
	}
	a.AuthorizedAt = time.Now().UTC()
	if err := a.Validate(); err != nil {
		if created {
			os.Remove(imagePath(store, sum))
		}
		return Authorization{}, err
	}
	op, err := l.Append(key, ledger.Op{Kind: ledger.KindPut, Table: ledger.TableOTA, Key: a.Key(), Value: a.Marshal()})
	if err != nil {
		if created {
			os.Remove(imagePath(store, sum))
		}
		var rej *ledger.Rejection
		if errors.As(err, &rej) {
			owner := "the owner"
			if m := st.Members[st.Owner]; m != nil {
				owner = m.Name + ", the owner"
			}
			return Authorization{}, fmt.Errorf("%w; ask %s of %q, to authorize it", err, owner, st.Name)
		}
		return Authorization{}, err
	}
	a.Op = op.ID()
	return a, nil
}

// storeImage copies the image at path into store under its SHA-256 and
// reports whether it was not there before.
func storeImage(store, path string) (sum string, size int64, created bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, false, fmt.Errorf("ota: read image: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, false, err
	}
	if !fi.Mode().IsRegular() {
		return "", 0, false, fmt.Errorf("ota: image %s is not a regular file", path)
	}
	if fi.Size() == 0 || fi.Size() > MaxImageSize {
		return "", 0, false, fmt.Errorf("ota: image %s is %d bytes; an image holds 1 byte to %d bytes", path, fi.Size(), int64(MaxImageSize))
	}
	if err := os.MkdirAll(store, 0o700); err != nil {
		return "", 0, false, fmt.Errorf("ota: image store: %w", err)
	}
	tmp, err := os.CreateTemp(store, ".new-*")
	if err != nil {
		return "", 0, false, fmt.Errorf("ota: image store: %w", err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	size, err = io.Copy(io.MultiWriter(tmp, h), f)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", 0, false, fmt.Errorf("ota: copy image into %s: %w", store, err)
	}
	sum = hex.EncodeToString(h.Sum(nil))
	// Replace what the store holds under that name: a copy damaged on disk
	// heals when the owner authorizes the image again.
	dst := imagePath(store, sum)
	_, err = os.Stat(dst)
	existed := err == nil
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", 0, false, fmt.Errorf("ota: image store: %w", err)
	}
	atomicfile.SyncDir(store)
	return sum, size, !existed, nil
}

// Device is a node firmware can be authorized for.
type Device struct {
	Node  peer.ID `json:"node"`
	Name  string  `json:"name"`
	Model string  `json:"model,omitempty"` // as the device announced it when claimed
}

// Devices lists the nodes of st that can take firmware: the claimed
// devices of the device table, then the owner's other nodes (named by their
// app), sorted by name.
func Devices(st *ledger.State) []Device {
	out := claimedDevices(st)
	seen := map[peer.ID]bool{}
	for _, d := range out {
		seen[d.Node] = true
	}
	var owners []Device
	for k, ni := range st.Nodes {
		if ni.User != st.Owner {
			continue
		}
		id, err := node.PeerIDOf(k)
		if err != nil || seen[id] {
			continue
		}
		owners = append(owners, Device{Node: id, Name: ni.Name})
	}
	sortDevices(owners)
	return append(out, owners...)
}

// claimedDevices lists the devices of the device table, sorted by name.
func claimedDevices(st *ledger.State) []Device {
	var out []Device
	for _, d := range device.List(st) {
		if id, err := peer.Decode(d.Node); err == nil {
			out = append(out, Device{Node: id, Name: d.Name, Model: d.Model})
		}
	}
	sortDevices(out)
	return out
}

func sortDevices(ds []Device) {
	sort.Slice(ds, func(i, j int) bool {
		if ds[i].Name != ds[j].Name {
			return ds[i].Name < ds[j].Name
		}
		return ds[i].Node < ds[j].Node
	})
}

// ResolveDevice finds the device node ref names: a device's name, the name
// (app) of one of the owner's nodes, or a node's peer ID. Firmware goes only
// to devices and the owner's nodes.
func ResolveDevice(st *ledger.State, ref string) (Device, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return Device{}, errors.New("name the device (see `coco device list`)")
	}
	devs := Devices(st)
	var match []Device
	for _, d := range devs {
		if d.Node.String() == ref {
			return d, nil
		}
		if strings.EqualFold(d.Name, ref) {
			match = append(match, d)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
	default:
		return Device{}, fmt.Errorf("%q names %d devices of %q; use the node ID instead", ref, len(match), st.Name)
	}
	if id, err := peer.Decode(ref); err == nil {
		if k, err := node.KeyOf(id); err == nil {
			if ni := st.Nodes[k]; ni != nil {
				who := ni.User.String()
				if m := st.Members[ni.User]; m != nil {
					who = m.Name
				}
				return Device{}, fmt.Errorf("node %s belongs to %s, not to the owner: firmware goes only to the owner's devices", id.ShortString(), who)
			}
		}
		return Device{}, fmt.Errorf("node %s is not in %q", id.ShortString(), st.Name)
	}
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
	}
	return Device{}, fmt.Errorf("no device %q in %q; devices are: %s", ref, st.Name, strings.Join(names, ", "))
}

// Withdraw takes back the authorization of version for a device (name or
// node ID): the record is deleted, so a device that has not installed it
// yet stops (a download under way is cancelled) and the image is no longer
// served to it. Only the owner may; an installed version stays installed.
func Withdraw(l *ledger.Log, key ed25519.PrivateKey, device, version string) (Authorization, error) {
	st := l.State()
	dev, err := ResolveDevice(st, device)
	if err != nil {
		return Authorization{}, err
	}
	a, ok := Lookup(st, dev.Node.String()+"/"+version)
	if !ok {
		return Authorization{}, fmt.Errorf("no firmware v%s is authorized for %q (see `coco ota list`)", version, dev.Name)
	}
	if _, err := l.Append(key, ledger.Op{Kind: ledger.KindDelete, Table: ledger.TableOTA, Key: a.Key()}); err != nil {
		return Authorization{}, err
	}
	return a, nil
}
