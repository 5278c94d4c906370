// Package node runs one coconet node: a libp2p host that admits only member nodes.
//
// It runs one coconet node: a go-libp2p host (TCP and QUIC, Noise, yamux) for one app
// in one network, whose connection gater admits only the member nodes that the
// network's ledger lists. It syncs the ledger with other members, redeems invites,
// exchanges signed peer records, discovers members on the LAN with mDNS and keeps
// reconnecting to known members.
package node
