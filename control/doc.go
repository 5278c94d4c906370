// Package control is coconet's control plane server (`coco control`).
//
// It is a libp2p host that gives nodes of any network rendezvous (signed
// peer records stored under a hash of the network ID, returned only to
// nodes with a valid membership proof for that network), address
// reflection, a circuit relay (go-libp2p's relay v2: relay slots and
// circuits for proof holders, and small, metered join circuits from peers
// without a proof to a proof holder, so an invitee can reach its inviter;
// the rules are on acl in relay.go) and usage metering against per-owner
// plans. It stores no ledger and no payload: only hashed network IDs,
// signed peer records and counters.
//
// The client side of the protocol (Register, Lookup, GetUsage,
// SendRevocation) and the wire types are in package controlproto, which
// nodes import instead of this package.
package control
