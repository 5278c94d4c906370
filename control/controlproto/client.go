package controlproto

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

// call sends one request to a control plane and returns its response, or
// the error the response carries.
func call(ctx context.Context, h host.Host, server peer.ID, req *Request) (*Response, error) {
	req.V = WireVersion
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "control"), server, Protocol)
	if err != nil {
		return nil, fmt.Errorf("control: reach %s: %w", server.ShortString(), err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	} else {
		s.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if err := WriteMsg(s, req); err != nil {
		s.Reset()
		return nil, fmt.Errorf("control: %s: %w", req.Op, err)
	}
	s.CloseWrite()
	b, err := ReadFrame(bufio.NewReader(s), MaxResponse)
	if err != nil {
		return nil, fmt.Errorf("control: %s: no answer: %w", req.Op, err)
	}
	var resp Response
	if err := json.Unmarshal(b, &resp); err != nil {
		return nil, fmt.Errorf("control: %s: bad answer: %w", req.Op, err)
	}
	switch resp.Code {
	case "":
		return &resp, nil
	case CodeLimit:
		return &resp, &LimitError{Limit: resp.Limit, Used: resp.Used, Max: resp.Max, Msg: resp.Error}
	case CodeUnauthorized:
		return &resp, fmt.Errorf("%w: %s", ErrUnauthorized, resp.Error)
	default:
		return &resp, fmt.Errorf("%w: %s", ErrBadRequest, resp.Error)
	}
}

// Registered is the answer to Register.
type Registered struct {
	TTL time.Duration // how long the registration lasts
	// Observed is the address the control plane saw the request come from:
	// this node's public address if it is behind a NAT.
	Observed ma.Multiaddr
}

// Register stores a node's signed peer record (a record.Envelope of a
// peer.PeerRecord, signed by the node key the proof certifies) at a control
// plane for ttl.
func Register(ctx context.Context, h host.Host, server peer.ID, proof, envelope []byte, ttl time.Duration) (Registered, error) {
	resp, err := call(ctx, h, server, &Request{Op: OpRegister, Proof: proof, Record: envelope, TTL: int64(ttl / time.Second)})
	if err != nil {
		return Registered{}, err
	}
	r := Registered{TTL: time.Duration(resp.TTL) * time.Second}
	if a, err := ma.NewMultiaddr(resp.Observed); err == nil {
		r.Observed = a
	}
	return r, nil
}

// Lookup returns the registered members of the proof's network (but not the
// caller), each from a peer record whose signature it checked.
func Lookup(ctx context.Context, h host.Host, server peer.ID, proof []byte) ([]peer.AddrInfo, error) {
	resp, err := call(ctx, h, server, &Request{Op: OpLookup, Proof: proof})
	if err != nil {
		return nil, err
	}
	var out []peer.AddrInfo
	for _, env := range resp.Records {
		_, rec, err := record.ConsumeEnvelope(env, peer.PeerRecordEnvelopeDomain)
		if err != nil {
			continue
		}
		if pr, ok := rec.(*peer.PeerRecord); ok {
			out = append(out, peer.AddrInfo{ID: pr.PeerID, Addrs: pr.Addrs})
		}
	}
	return out, nil
}

// GetUsage returns the proof's network's usage of the control plane this
// month.
func GetUsage(ctx context.Context, h host.Host, server peer.ID, proof []byte) (Usage, error) {
	resp, err := call(ctx, h, server, &Request{Op: OpUsage, Proof: proof})
	if err != nil {
		return Usage{}, err
	}
	if resp.Usage == nil {
		return Usage{}, fmt.Errorf("control: usage: empty answer")
	}
	return *resp.Usage, nil
}

// SendRevocation hands a signed member.Revocation to a control plane, which
// refuses the certificates it covers from then on.
func SendRevocation(ctx context.Context, h host.Host, server peer.ID, proof, revocation []byte) error {
	_, err := call(ctx, h, server, &Request{Op: OpRevoke, Proof: proof, Revocation: revocation})
	return err
}
