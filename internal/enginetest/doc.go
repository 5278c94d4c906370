// Package enginetest builds networks of engines on in-memory libp2p hosts.
//
// The hosts come from go-libp2p's p2p/net/mock (engine.Config.Host): no
// sockets, no ports, and links between hosts that a test makes and cuts
// (a host without a link to another cannot reach it). The ledger is real:
// the owner's identity creates it, users and nodes are added with signed
// operations, and every other node starts on a copy of the owner's
// operations, as a joined member would. A mock host has no connection
// gater, so what the gater decides (strangers and removed nodes kept out
// at the door) is tested on real sockets, not here.
package enginetest
