package controlproto

import (
	"context"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// NetLists is the part of a netlist request and response about a
// developer network's lists (package devnet): the versions the sender
// holds, and the encoded lists it sends (each only when newer than what the
// other side said it holds, or pushed by a node publishing them).
type NetLists struct {
	RevV   uint64 `json:"rev_v,omitempty"`   // revocation list version held
	PolV   uint64 `json:"pol_v,omitempty"`   // policy version held
	NetRev []byte `json:"net_rev,omitempty"` // devnet.Revocations
	NetPol []byte `json:"net_pol,omitempty"` // devnet.Policy
}

// ExchangeNetLists sends a control plane the versions this node holds and
// any lists it publishes (in out), and returns what the control plane holds:
// its versions, and the lists newer than out's versions.
func ExchangeNetLists(ctx context.Context, h host.Host, server peer.ID, proof []byte, out NetLists) (NetLists, error) {
	resp, err := call(ctx, h, server, &Request{Op: OpNetList, Proof: proof, NetLists: out})
	if err != nil {
		return NetLists{}, err
	}
	return resp.NetLists, nil
}
