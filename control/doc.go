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
// Its state — registrations, revocations, usage counters and a generic
// namespace (KV) for services built on it — is kept behind Store: in
// etcd (EtcdStore; `coco control` starts an embedded single-member etcd
// in its state directory, or shares a cluster with other replicas given
// --etcd), or in the process's memory (NewMemStore, the default of
// Config). Each replica keeps every registration in memory, current
// through etcd's watch, so lookups never wait for etcd; registrations are
// written in batches on leases shared per minute of expiry, and usage is
// claimed in etcd a chunk ahead of use, so a replica killed at any moment
// leaves at least what it served counted (see replica.go).
//
// The client side of the protocol (Register, Lookup, GetUsage,
// SendRevocation) and the wire types are in package controlproto, which
// nodes import instead of this package.
package control
