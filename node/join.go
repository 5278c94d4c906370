package node

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
)

// The join protocol. The joiner connects with the one-time key derived from
// the invite secret (the member's gater admits that key only while the
// invite is live, and only this protocol answers it), so holding the code is
// the proof. Then:
//
//	joiner → member: joinRequest (user, name, node key, signed by the user key)
//	member → joiner: joinReply with only Invite (the invite's op ID)
//	joiner → member: joinProof (the redeem's signature by the invite key)
//	member → joiner: joinReply (the ledger, with the add_user op the member
//	                 appended, and addresses of member nodes) or an error
//	joiner → member: joinNode (the add_node op, signed by the joiner)
//	member → joiner: joinDone
type joinRequest struct {
	User identity.UserID `json:"user"`
	Name string          `json:"name"`
	Node [32]byte        `json:"node"`
	App  string          `json:"app"`
	Sig  []byte          `json:"sig"`
}

type joinReply struct {
	Error string `json:"error,omitempty"`
	// Invite, in the first reply only, names the invite whose redeem the
	// joiner signs (a minimal step until the join protocol is rewritten).
	Invite *ledger.ID `json:"invite,omitempty"`
	Ops    [][]byte   `json:"ops,omitempty"`
	Peers  []addrInfo `json:"peers,omitempty"`
}

// joinProof carries ledger.SignRedeem by the invite key.
type joinProof struct {
	InviteSig []byte `json:"invite_sig"`
}

type joinNode struct {
	Op []byte `json:"op"`
}

type joinDone struct {
	Error string `json:"error,omitempty"`
}

type addrInfo struct {
	ID    peer.ID  `json:"id"`
	Addrs []string `json:"addrs"`
}

func joinSigningBytes(net ledger.NetworkID, inviteKey [32]byte, r *joinRequest) []byte {
	b := []byte("coconet/join/v1\x00")
	b = append(b, net[:]...)
	b = append(b, inviteKey[:]...)
	b = append(b, r.User[:]...)
	b = append(b, r.Node[:]...)
	return append(b, r.Name...)
}

func (n *Node) handleJoin(s network.Stream) {
	defer s.Close()
	remote := s.Conn().RemotePeer()
	_, invitee := n.classify(remote)
	if !invitee {
		s.Reset()
		return
	}
	ikey, _ := KeyOf(remote)
	s.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(s)
	var req joinRequest
	if err := readFrame(r, &req, 64<<10); err != nil {
		s.Reset()
		return
	}
	fail := func(msg string) {
		n.cfg.Logf("join refused for %s: %s", req.Name, msg)
		writeFrame(s, joinReply{Error: msg})
	}
	if !ed25519.Verify(req.User.PublicKey(), joinSigningBytes(n.log.Network(), ikey, &req), req.Sig) {
		fail("the join request's signature does not verify")
		return
	}
	st := n.log.State()
	inv, ok := st.InviteByKey(ikey)
	if !ok {
		fail("this invite is not known to this member")
		return
	}
	if st.Role(req.User) == ledger.RoleNone {
		id := inv.ID
		if err := writeFrame(s, joinReply{Invite: &id}); err != nil {
			return
		}
		var proof joinProof
		if err := readFrame(r, &proof, 64<<10); err != nil {
			return
		}
		_, err := n.log.Append(n.userKey, ledger.Op{
			Kind:        ledger.KindAddUser,
			Subject:     req.User,
			SubjectName: req.Name,
			Role:        inv.Role,
			Ref:         inv.ID,
			InviteSig:   proof.InviteSig,
		})
		if err != nil {
			fail(reason(err))
			return
		}
	}
	rep := joinReply{Peers: n.memberAddrs()}
	for _, op := range n.log.Ops() {
		rep.Ops = append(rep.Ops, op.Marshal())
	}
	if err := writeFrame(s, rep); err != nil {
		return
	}
	var jn joinNode
	if err := readFrame(r, &jn, 64<<10); err != nil {
		return
	}
	op, err := ledger.Unmarshal(jn.Op)
	if err != nil {
		writeFrame(s, joinDone{Error: err.Error()})
		return
	}
	if op.Kind != ledger.KindAddNode || op.Author != req.User || op.Node != req.Node {
		writeFrame(s, joinDone{Error: "expected the add_node operation for the node named in the request"})
		return
	}
	if err := n.log.Add(op); err != nil && !errors.Is(err, ledger.ErrDuplicate) {
		writeFrame(s, joinDone{Error: reason(err)})
		return
	}
	n.cfg.Logf("%s joined as %s with node %s", req.Name, inv.Role, remote.ShortString())
	writeFrame(s, joinDone{})
	s.CloseWrite()
	// Wait for the joiner to read the reply before the stream closes.
	r.ReadByte()
}

// reason turns a ledger error into the sentence a person should read.
func reason(err error) string {
	var rj *ledger.Rejection
	if errors.As(err, &rj) {
		return rj.Reason
	}
	return err.Error()
}

// memberAddrs lists this node (with its relay addresses) and the member
// nodes it is connected to.
func (n *Node) memberAddrs() []addrInfo {
	out := []addrInfo{{ID: n.host.ID(), Addrs: addrStrings(append(n.host.Addrs(), n.relayAddrs()...))}}
	for _, p := range n.host.Network().Peers() {
		if m, _ := n.classify(p); m {
			out = append(out, addrInfo{ID: p, Addrs: addrStrings(n.host.Peerstore().Addrs(p))})
		}
	}
	return out
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// JoinConfig says who joins, with which code, and where the ledger goes.
type JoinConfig struct {
	Seed     identity.Seed
	UserName string
	App      string
	Code     *invite.Code
	// Dir is the network's directory; the ledger goes in Dir/ledger.
	Dir  string
	Logf func(string, ...any)
	Now  func() time.Time
}

// JoinError is a refusal by the member that was reached, in its words.
type JoinError struct {
	Network string
	Reason  string
}

func (e *JoinError) Error() string {
	if strings.Contains(e.Reason, "ask ") {
		return "join refused: " + e.Reason
	}
	return fmt.Sprintf("join refused: %s; ask a member of %q for a new invite", e.Reason, e.Network)
}

// Join redeems an invite code: it reaches a member listed in the code,
// proves the secret, gets added, stores the ledger under cfg.Dir and
// certifies this user's node. It returns the opened ledger and the member
// addresses learned.
func Join(ctx context.Context, cfg JoinConfig) (*ledger.Log, []peer.AddrInfo, error) {
	if cfg.App == "" {
		cfg.App = DefaultApp
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	c := cfg.Code
	if err := c.CheckExpiry(cfg.Now()); err != nil {
		return nil, nil, err
	}
	netID := ledger.NetworkID(c.Network)
	ikey := identity.InviteKey(c.Secret[:])
	lk, err := libp2pKey(ikey)
	if err != nil {
		return nil, nil, err
	}
	ai, ndirect, nrelay := joinTargets(c)
	if len(ai.Addrs) == 0 {
		return nil, nil, fmt.Errorf("the invite to %q lists no address of the inviting node and no control plane; ask for a new code from a member whose node is running", c.NetName)
	}
	h, err := libp2p.New(
		libp2p.Identity(lk),
		libp2p.NoListenAddrs,
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.Security(noise.ID, noise.New),
		// The relay transport, to dial the inviter through a control
		// plane; relay addresses are tried after the direct ones.
		libp2p.EnableRelay(),
		libp2p.DialRanker(joinRanker),
		libp2p.UserAgent("coconet/0.1 (joining)"),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("join: start host: %w", err)
	}
	defer h.Close()

	dctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	log, peers, err := joinVia(dctx, h, ai, cfg, netID, pubOf(ikey))
	if err == nil {
		// The inviter's relay addresses from the code, so this user's
		// node can reach it through a control plane too.
		for i := range peers {
			if peers[i].ID == ai.ID {
				peers[i].Addrs = ma.Unique(append(peers[i].Addrs, relayOnly(ai.Addrs)...))
			}
		}
		return log, peers, nil
	}
	var je *JoinError
	if errors.As(err, &je) {
		return nil, nil, err
	}
	return nil, nil, joinFailure(c.NetName, ndirect, nrelay, err)
}

// joinTimeout bounds reaching the inviting node and the join exchange.
const joinTimeout = 30 * time.Second

// joinRelayDelay is how long the joiner gives the direct addresses before it
// tries relay addresses, and joinRelayStagger the gap between relay tries.
const (
	joinRelayDelay   = 500 * time.Millisecond
	joinRelayStagger = 250 * time.Millisecond
)

// joinRanker dials the direct addresses as a member node would, then the
// relay addresses one after the other, staggered.
func joinRanker(addrs []ma.Multiaddr) []network.AddrDelay {
	var direct, relay []ma.Multiaddr
	for _, a := range addrs {
		if isRelayAddr(a) {
			relay = append(relay, a)
		} else {
			direct = append(direct, a)
		}
	}
	out := dialRanker(direct)
	start := time.Duration(0)
	if len(direct) > 0 {
		start = joinRelayDelay
	}
	for i, a := range relay {
		out = append(out, network.AddrDelay{Addr: a, Delay: start + time.Duration(i)*joinRelayStagger})
	}
	return out
}

// joinTargets gathers the inviting node's addresses from a code: its
// direct ones, then its relay ones, then a circuit through every control
// plane the code names (the inviter may have taken its relay slot after
// making the code).
func joinTargets(c *invite.Code) (ai peer.AddrInfo, ndirect, nrelay int) {
	for _, raw := range c.Addrs {
		a, err := ma.NewMultiaddrBytes(raw)
		if err != nil {
			continue
		}
		p, err := peer.AddrInfoFromP2pAddr(a)
		if err != nil || (ai.ID != "" && p.ID != ai.ID) {
			continue
		}
		ai.ID = p.ID
		ai.Addrs = append(ai.Addrs, p.Addrs...)
	}
	if ai.ID != "" {
		circuit := ma.StringCast("/p2p-circuit")
		for _, raw := range c.Controls {
			if a, err := ma.NewMultiaddrBytes(raw); err == nil {
				if _, err := a.ValueForProtocol(ma.P_P2P); err == nil {
					ai.Addrs = append(ai.Addrs, a.Encapsulate(circuit))
				}
			}
		}
	}
	ai.Addrs = ma.Unique(ai.Addrs)
	for _, a := range ai.Addrs {
		if isRelayAddr(a) {
			nrelay++
		} else {
			ndirect++
		}
	}
	return ai, ndirect, nrelay
}

func relayOnly(addrs []ma.Multiaddr) []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range addrs {
		if isRelayAddr(a) {
			out = append(out, a)
		}
	}
	return out
}

// unreachable is a failure to connect to the inviting node.
type unreachable struct{ err error }

func (e *unreachable) Error() string { return e.err.Error() }
func (e *unreachable) Unwrap() error { return e.err }

// joinFailure explains why no address of the inviting node led to a join.
func joinFailure(netName string, ndirect, nrelay int, err error) error {
	var de *swarm.DialError
	var un *unreachable
	var direct, relay []string
	if errors.As(err, &de) {
		for _, te := range de.DialErrors {
			why := dialReason(te.Cause)
			if isRelayAddr(te.Address) {
				relay = append(relay, why)
			} else {
				direct = append(direct, why)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "could not join %q: ", netName)
	switch {
	case !errors.As(err, &un):
		// Connected, but the member did not take the code.
		fmt.Fprintf(&b, "the inviting node was reached but did not accept this code (%v). Either it does not know the code (it was never recorded, or belongs to another network) or it was used up, revoked or expired; ask for a new invite", err)
		return errors.New(b.String())
	case ndirect+nrelay == 0:
		b.WriteString("the code lists no address")
	default:
		fmt.Fprintf(&b, "the inviting node could not be reached at the code's %d direct and %d relay address(es)", ndirect, nrelay)
	}
	if len(direct) > 0 {
		fmt.Fprintf(&b, "; direct: %s", summarize(direct))
	}
	if len(relay) > 0 {
		fmt.Fprintf(&b, "; relay: %s", summarize(relay))
	}
	if len(direct) == 0 && len(relay) == 0 {
		fmt.Fprintf(&b, " (%v)", err)
	}
	b.WriteString(". Ask the inviting member to check that their node is running (`coco up`, with --control to be reachable from other networks), or for a new invite")
	return errors.New(b.String())
}

// dialReason turns a dial error into a short phrase.
func dialReason(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "NO_RESERVATION"):
		return "the inviting node holds no relay slot at the control plane (not running, or not connected to it)"
	case strings.Contains(s, "PERMISSION_DENIED"):
		return "the control plane would not relay to it (its node is not connected there with a membership proof, or the network is over its plan)"
	case strings.Contains(s, "RESOURCE_LIMIT_EXCEEDED"):
		return "the control plane is busy"
	case strings.Contains(s, "gater"), strings.Contains(s, "gated"):
		return "the node refused this code's key (invite unknown to it)"
	case strings.Contains(s, "peer id mismatch"):
		return "another node answers at that address"
	case strings.Contains(s, "hop stream"):
		return "the control plane could not be reached"
	case strings.Contains(s, "timeout"), strings.Contains(s, "deadline"):
		return "no answer"
	case strings.Contains(s, "refused"):
		return "connection refused"
	}
	return s
}

// summarize counts equal phrases: "no answer (x3); connection refused".
func summarize(why []string) string {
	count := map[string]int{}
	var order []string
	for _, w := range why {
		if count[w] == 0 {
			order = append(order, w)
		}
		count[w]++
	}
	for i, w := range order {
		if count[w] > 1 {
			order[i] = fmt.Sprintf("%s (x%d)", w, count[w])
		}
	}
	return strings.Join(order, "; ")
}

func joinVia(ctx context.Context, h host.Host, ai peer.AddrInfo, cfg JoinConfig, netID ledger.NetworkID, ikey [32]byte) (*ledger.Log, []peer.AddrInfo, error) {
	if err := h.Connect(ctx, ai); err != nil {
		return nil, nil, &unreachable{err}
	}
	s, err := h.NewStream(network.WithAllowLimitedConn(ctx, "join"), ai.ID, ProtoJoin)
	if err != nil {
		return nil, nil, fmt.Errorf("member refused the connection (invite unknown, used up, revoked or expired?): %w", err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	userKey := cfg.Seed.UserKey()
	nodeKey := cfg.Seed.NodeKey(netID, cfg.App)
	req := joinRequest{User: cfg.Seed.UserID(), Name: cfg.UserName, Node: pubOf(nodeKey), App: cfg.App}
	req.Sig = ed25519.Sign(userKey, joinSigningBytes(netID, ikey, &req))
	if err := writeFrame(s, req); err != nil {
		return nil, nil, err
	}
	r := bufio.NewReader(s)
	var rep joinReply
	if err := readFrame(r, &rep, maxFrame); err != nil {
		return nil, nil, fmt.Errorf("member closed the join (invite unknown, used up, revoked or expired?): %w", err)
	}
	if rep.Invite != nil && rep.Error == "" {
		// Prove the code to the ledger: sign the redeem with the invite key.
		ik := identity.InviteKey(cfg.Code.Secret[:])
		sig := ledger.SignRedeem(ik, netID, *rep.Invite, req.User, ledger.Role(cfg.Code.Role))
		if err := writeFrame(s, joinProof{InviteSig: sig}); err != nil {
			return nil, nil, err
		}
		rep = joinReply{}
		if err := readFrame(r, &rep, maxFrame); err != nil {
			return nil, nil, fmt.Errorf("member closed the join: %w", err)
		}
	}
	if rep.Error != "" {
		return nil, nil, &JoinError{Network: cfg.Code.NetName, Reason: rep.Error}
	}
	ops := make([]*ledger.Op, 0, len(rep.Ops))
	for _, b := range rep.Ops {
		op, err := ledger.Unmarshal(b)
		if err != nil {
			return nil, nil, fmt.Errorf("member sent a bad ledger: %w", err)
		}
		ops = append(ops, op)
	}
	log, err := InitLog(filepath.Join(cfg.Dir, "ledger"), netID, ops)
	if err != nil {
		return nil, nil, err
	}
	var op *ledger.Op
	if _, ok := log.State().NodeOwner(req.Node); !ok {
		op, err = log.Append(userKey, ledger.Op{Kind: ledger.KindAddNode, Subject: req.User, Node: req.Node, SubjectName: cfg.App,
			NodeSig: ledger.SignNodeProof(nodeKey, netID, req.User)})
		if err != nil {
			return nil, nil, fmt.Errorf("join: certify node: %w", err)
		}
	}
	if op != nil {
		if err := writeFrame(s, joinNode{Op: op.Marshal()}); err != nil {
			return nil, nil, err
		}
		var done joinDone
		if err := readFrame(r, &done, 64<<10); err != nil {
			return nil, nil, fmt.Errorf("join: member did not confirm the node: %w", err)
		}
		if done.Error != "" {
			return nil, nil, &JoinError{Network: cfg.Code.NetName, Reason: done.Error}
		}
	}
	var peers []peer.AddrInfo
	for _, p := range rep.Peers {
		ai := peer.AddrInfo{ID: p.ID}
		for _, a := range p.Addrs {
			if m, err := ma.NewMultiaddr(a); err == nil {
				ai.Addrs = append(ai.Addrs, m)
			}
		}
		peers = append(peers, ai)
	}
	return log, peers, nil
}

// InitLog creates a ledger directory from ops received from a member: the
// genesis must hash to netID, every op is verified by the ledger.
func InitLog(dir string, netID ledger.NetworkID, ops []*ledger.Op) (*ledger.Log, error) {
	var genesis *ledger.Op
	for _, op := range ops {
		if op.Kind == ledger.KindGenesis {
			genesis = op
		}
	}
	if genesis == nil || ledger.NetworkID(genesis.ID()) != netID {
		return nil, fmt.Errorf("member sent a ledger for another network")
	}
	log, err := ledger.Init(dir, genesis, nil)
	if err != nil {
		return nil, err
	}
	log.AddAll(ops)
	return log, nil
}
