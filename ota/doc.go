// Package ota authorizes firmware images for devices and updates them over the network.
//
// It authorizes firmware images for a network's devices and updates the devices over
// the network.
//
// The owner authorizes an image for one device node (Authorize): its model,
// version, size and SHA-256 go into the ledger's ota table, and the image
// stays in the authorizing home's image store (<home>/ota/<sha256>), from
// where a Server sends it to the device it was authorized for, and to no
// one else.
//
// An Updater runs on a device node. It notices the newest authorization for
// its own node, fetches the image from a member that has it (resuming an
// interrupted download from the partial file it kept), checks size, SHA-256,
// model and version (newer than the running one) against the authorization,
// applies it through a hook and reports its status, which members read with
// the "ota.status" request (CollectStatus). Whatever fails, the device keeps
// its current version and its status says why.
//
// # Ledger record
//
// Table ledger.TableOTA, key "<device peer ID>/<version>", value a JSON
// object (field "v" is 1; new fields are optional):
//
//	{"v":1,"device":"12D3Koo…","name":"Front door","model":"lock-a",
//	 "version":"1.2.0","size":1048576,"sha256":"<64 hex>",
//	 "source":"12D3Koo…","authorized_at":"2026-11-22T10:00:00Z"}
//
// device is the device node's peer ID and name its name when authorized (for
// display); model "" fits any model; source is the node that serves the
// image. Only the owner writes the table (the ledger enforces it).
//
// # Image protocol
//
// Stream service "ota.image/1". Both sides write frames: a uvarint length
// and that many bytes of JSON. The device sends {"sha256","offset"}; the
// server answers {"size"} or {"error"}, then sends the image's bytes from
// offset to size and closes. The server only serves a node an image the
// ledger authorizes for it; the device checks everything it receives.
package ota
