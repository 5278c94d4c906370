package node

import (
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
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
)

// The join protocol (ProtoJoin). The joiner connects with the one-time key
// derived from the invite secret (the member's gater admits that key only
// while the ledger knows the invite, and only this protocol answers it), so
// holding the code is the proof. Then:
//
//	joiner → member: joinRequest (user, name, node key, signed by the user key)
//	member → joiner: joinReply (the signed peer records of the member and
//	                 of the member nodes it is connected to, or an error),
//	                 then the ledger in chunks (opChunk, as in sync); the
//	                 joiner verifies every op as it builds its log
//	joiner → member: joinRedeem: the invite key's signature over
//	                 ledger.RedeemSigningBytes for the invite the joiner
//	                 found in the ledger (none if already a member)
//	member → joiner: joinAdded (or an error), then the ops appended since the
//	                 ledger was sent (the add_user among them), in chunks
//	joiner → member: joinNode (the add_node op, signed by the joiner, with
//	                 the node key's proof of possession; none if the node is
//	                 already certified)
//	member → joiner: joinDone
//
// The invite is used only by the add_user the member appends on the
// redeem: a joiner that leaves before it (or cannot take the ledger) leaves
// the invite as it was.
//
// The joiner keeps, for later, the addresses of the code (those it dialled)
// for the member it joined through, and for every node of the reply only
// the addresses that node signed itself, as in pex: a record signed by the
// node it names, for that same ID, of at most maxPexAddrs addresses, and
// only for member nodes of the ledger it received. A member cannot make a
// new member dial an address of its choosing under another node's ID.
type joinRequest struct {
	User identity.UserID `json:"user"`
	Name string          `json:"name"`
	Node [32]byte        `json:"node"`
	App  string          `json:"app"`
	Sig  []byte          `json:"sig"`
}

type joinReply struct {
	Error string     `json:"error,omitempty"`
	Peers []addrInfo `json:"peers,omitempty"`
}

type joinRedeem struct {
	Sig []byte `json:"sig,omitempty"`
}

type joinAdded struct {
	Error string `json:"error,omitempty"`
}

type joinNode struct {
	Op []byte `json:"op,omitempty"`
}

type joinDone struct {
	Error string `json:"error,omitempty"`
}

// addrInfo is a member node in a joinReply: its own signed peer record
// (a record.Envelope holding a peer.PeerRecord, as in pex).
type addrInfo struct {
	ID     peer.ID `json:"id"`
	Record []byte  `json:"record,omitempty"`
}

// maxJoinPeerRecords bounds the bytes of records in one joinReply (read
// with a limit of 1 MiB; records are base64 in JSON).
const maxJoinPeerRecords = 512 << 10

func joinSigningBytes(net ledger.NetworkID, inviteKey [32]byte, r *joinRequest) []byte {
	b := []byte("coconet/join/v2\x00")
	b = append(b, net[:]...)
	b = append(b, inviteKey[:]...)
	b = append(b, r.User[:]...)
	b = append(b, r.Node[:]...)
	return append(b, r.Name...)
}

// errJoinBusy is the refusal of a second join by the same code's key while
// one runs.
const errJoinBusy = "someone is joining with this code right now; try again in a minute, or ask for a code of your own"

func (n *Node) handleJoin(s network.Stream) {
	defer s.Close()
	remote := s.Conn().RemotePeer()
	if _, invitee := n.classify(remote); !invitee {
		s.Reset()
		return
	}
	c := newConn(context.Background(), s)
	if !n.busy.try("join", remote) {
		c.write(joinReply{Error: errJoinBusy})
		return
	}
	err := n.serveJoin(remote, c)
	n.busy.done("join", remote)
	if err != nil {
		n.cfg.Logf("join by %s: %v", remote.ShortString(), err)
		s.Reset()
	}
}

// serveJoin is the member's side of a join. It returns an error when the
// exchange broke; a refusal is told to the joiner and returns nil.
func (n *Node) serveJoin(remote peer.ID, c *conn) error {
	ikey, err := KeyOf(remote)
	if err != nil {
		return err
	}
	var req joinRequest
	if err := c.read(&req, 64<<10); err != nil {
		return err
	}
	fail := func(msg string) error {
		n.cfg.Logf("join refused for %s: %s", req.Name, msg)
		return c.write(joinReply{Error: msg})
	}
	if !ed25519.Verify(req.User.PublicKey(), joinSigningBytes(n.log.Network(), ikey, &req), req.Sig) {
		return fail("the join request's signature does not verify")
	}
	st := n.log.State()
	inv, ok := st.InviteByKey(ikey)
	if !ok {
		return fail("this invite is not known to this member")
	}
	already := st.Role(req.User) != ledger.RoleNone
	if !already {
		if why := n.inviteProblem(st, inv, req.User); why != "" {
			return fail(why)
		}
	}
	sn := takeSnapshot(n.log)
	if err := c.write(joinReply{Peers: n.memberAddrs()}); err != nil {
		return err
	}
	if err := c.sendOps(sn.ops, nil); err != nil {
		return err
	}
	var red joinRedeem
	if err := c.read(&red, 4<<10); err != nil {
		return fmt.Errorf("left before redeeming the invite (not used): %w", err)
	}
	if !already {
		if !ed25519.Verify(ed25519.PublicKey(ikey[:]), ledger.RedeemSigningBytes(n.log.Network(), inv.ID, req.User, inv.Role), red.Sig) {
			return c.write(joinAdded{Error: "the invite's signature of the redeem does not verify"})
		}
		_, err := n.log.Append(n.userKey, ledger.Op{
			Kind:        ledger.KindAddUser,
			Subject:     req.User,
			SubjectName: req.Name,
			Role:        inv.Role,
			Ref:         inv.ID,
			InviteSig:   red.Sig,
		})
		if err != nil {
			n.cfg.Logf("join refused for %s: %s", req.Name, reason(err))
			return c.write(joinAdded{Error: reason(err)})
		}
	}
	if err := c.write(joinAdded{}); err != nil {
		return err
	}
	now := n.log.Ops()
	sent := func(i int) bool { _, ok := sn.idx[now[i].ID()]; return ok }
	if err := c.sendOps(now, sent); err != nil {
		return err
	}
	var jn joinNode
	if err := c.read(&jn, 128<<10); err != nil {
		return err
	}
	if len(jn.Op) > 0 {
		op, err := ledger.Unmarshal(jn.Op)
		if err != nil {
			return c.write(joinDone{Error: err.Error()})
		}
		if op.Kind != ledger.KindAddNode || op.Author != req.User || op.Subject != req.User || op.Node != req.Node {
			return c.write(joinDone{Error: "expected the add_node operation for the node named in the request"})
		}
		if err := n.log.Add(op); err != nil && !errors.Is(err, ledger.ErrDuplicate) {
			return c.write(joinDone{Error: reason(err)})
		}
	}
	n.cfg.Logf("%s joined as %s with node %s", req.Name, inv.Role, remote.ShortString())
	if err := c.write(joinDone{}); err != nil {
		return err
	}
	// Wait for the joiner to read the reply before the stream closes.
	return c.finish()
}

// inviteProblem says why inv cannot be redeemed by user now, or "": the
// checks the ledger makes on the redeem that can be made before the ledger
// is sent, so that the holder of a dead code learns nothing of the network.
func (n *Node) inviteProblem(st *ledger.State, inv *ledger.InviteInfo, user identity.UserID) string {
	if why := st.InviteProblem(inv, n.cfg.Now()); why != "" {
		return why
	}
	if rm, ok := st.Removed[user]; ok && !n.isAncestor(rm, inv.ID) {
		return "you were removed from the network after this invite was made; ask an admin for a new invite"
	}
	return ""
}

// isAncestor reports whether op a is an ancestor of op b in the log.
func (n *Node) isAncestor(a, b ledger.ID) bool {
	seen := map[ledger.ID]bool{b: true}
	stack := []ledger.ID{b}
	for len(stack) > 0 {
		op, ok := n.log.Get(stack[len(stack)-1])
		stack = stack[:len(stack)-1]
		if !ok {
			continue
		}
		for _, p := range op.Parents {
			if p == a {
				return true
			}
			if !seen[p] {
				seen[p] = true
				stack = append(stack, p)
			}
		}
	}
	return false
}

// reason turns a ledger error into the sentence a person should read.
func reason(err error) string {
	var rj *ledger.Rejection
	if errors.As(err, &rj) {
		return rj.Reason
	}
	return err.Error()
}

// memberAddrs gives the signed peer records of this node and of the member
// nodes it is connected to (at most maxPexPeers, maxJoinPeerRecords bytes
// of records); a node that gave no record is left out, since a joiner would
// take no address for it.
func (n *Node) memberAddrs() []addrInfo {
	var out []addrInfo
	size := 0
	add := func(p peer.ID, rec []byte) {
		if rec == nil || len(out) >= maxPexPeers || size+len(rec) > maxJoinPeerRecords {
			return
		}
		size += len(rec)
		out = append(out, addrInfo{ID: p, Record: rec})
	}
	add(n.host.ID(), n.ownRecord())
	for _, p := range n.host.Network().Peers() {
		if m, _ := n.classify(p); m {
			rec, _ := n.peerRecord(p)
			add(p, rec)
		}
	}
	return out
}

// ownRecord returns this node's signed peer record, marshalled, or nil.
func (n *Node) ownRecord() []byte {
	cab, ok := peerstore.GetCertifiedAddrBook(n.host.Peerstore())
	if !ok {
		return nil
	}
	env := cab.GetPeerRecord(n.host.ID())
	if env == nil {
		return nil
	}
	b, err := env.Marshal()
	if err != nil || len(b) > maxPexRecord {
		return nil
	}
	return b
}

// joinPeers is what a joiner keeps of a join reply's member nodes: first
// the inviting node with the addresses of the code (which the joiner
// dialled), then, for each node the reply names, the addresses of its
// first record signed by itself (pexRecord), if the ledger st lists it as
// a member node (the inviter's own record adds to the code's addresses).
// Every other entry is dropped, and logged with the reason.
func joinPeers(in []addrInfo, inviter peer.AddrInfo, st *ledger.State, logf func(string, ...any)) []peer.AddrInfo {
	out := []peer.AddrInfo{{ID: inviter.ID, Addrs: inviter.Addrs}}
	taken := map[peer.ID]bool{}
	var dropped []string
	for i, p := range in {
		if i >= maxPexPeers {
			dropped = append(dropped, fmt.Sprintf("%d more nodes than the %d taken", len(in)-i, maxPexPeers))
			break
		}
		if taken[p.ID] {
			continue
		}
		addrs, err := signedAddrs(p.ID, p.Record)
		if err == nil && p.ID != inviter.ID && !isMemberNode(st, p.ID) {
			err = errNotMemberNode
		}
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("%s: %v", p.ID.ShortString(), err))
			continue
		}
		taken[p.ID] = true
		if p.ID == inviter.ID {
			out[0].Addrs = ma.Unique(append(out[0].Addrs, addrs...))
		} else {
			out = append(out, peer.AddrInfo{ID: p.ID, Addrs: addrs})
		}
	}
	if len(dropped) > 0 {
		logf("join: dropped addresses %s named for %d node(s): %s", inviter.ID.ShortString(), len(dropped), summarizeDropped(dropped))
	}
	return out
}

// signedAddrs returns the addresses of b, a peer record signed by id itself
// (pexRecord).
func signedAddrs(id peer.ID, b []byte) ([]ma.Multiaddr, error) {
	env, err := pexRecord(id, b)
	if err != nil {
		return nil, err
	}
	r, err := env.Record()
	if err != nil {
		return nil, fmt.Errorf("bad peer record: %w", err)
	}
	return r.(*peer.PeerRecord).Addrs, nil
}

func isMemberNode(st *ledger.State, id peer.ID) bool {
	k, err := KeyOf(id)
	return err == nil && st.IsMemberNode(k)
}

var errNotMemberNode = errors.New("not a member node in the ledger")

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

	log, peers, err := joinVia(ctx, h, ai, cfg, netID, ikey)
	if err == nil {
		return log, peers, nil
	}
	var je *JoinError
	if errors.As(err, &je) {
		return nil, nil, err
	}
	var br *broken
	if errors.As(err, &br) {
		return nil, nil, fmt.Errorf("could not join %q: %w", c.NetName, br.err)
	}
	return nil, nil, joinFailure(c.NetName, ndirect, nrelay, err)
}

// joinTimeout bounds reaching the inviting node; the exchange after that
// has a deadline per frame.
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

func joinVia(ctx context.Context, h host.Host, ai peer.AddrInfo, cfg JoinConfig, netID ledger.NetworkID, ikey ed25519.PrivateKey) (*ledger.Log, []peer.AddrInfo, error) {
	// Reaching the member is bounded by joinTimeout; the exchange, whose
	// length grows with the ledger, by a deadline per frame (conn).
	cctx, cancel := context.WithTimeout(ctx, joinTimeout)
	defer cancel()
	if err := h.Connect(cctx, ai); err != nil {
		return nil, nil, &unreachable{err}
	}
	s, err := h.NewStream(network.WithAllowLimitedConn(cctx, "join"), ai.ID, ProtoJoin)
	if err != nil {
		return nil, nil, fmt.Errorf("member refused the connection (invite unknown, used up, revoked or expired?): %w", err)
	}
	defer s.Close()
	defer context.AfterFunc(ctx, func() { s.Reset() })()
	c := newConn(ctx, s)
	refused := func(why string) error { return &JoinError{Network: cfg.Code.NetName, Reason: why} }

	userKey := cfg.Seed.UserKey()
	nodeKey := cfg.Seed.NodeKey(netID, cfg.App)
	req := joinRequest{User: cfg.Seed.UserID(), Name: cfg.UserName, Node: pubOf(nodeKey), App: cfg.App}
	req.Sig = ed25519.Sign(userKey, joinSigningBytes(netID, pubOf(ikey), &req))
	if err := c.write(req); err != nil {
		return nil, nil, err
	}
	var rep joinReply
	if err := c.read(&rep, 1<<20); err != nil {
		return nil, nil, fmt.Errorf("member closed the join (invite unknown, used up, revoked or expired?): %w", err)
	}
	if rep.Error != "" {
		return nil, nil, refused(rep.Error)
	}
	log, err := joinAccepted(c, cfg, netID, ikey, &req)
	var je *JoinError
	if err != nil && !errors.As(err, &je) {
		return nil, nil, &broken{err}
	} else if err != nil {
		return nil, nil, err
	}
	return log, joinPeers(rep.Peers, ai, log.State(), cfg.Logf), nil
}

// broken is a join that failed after the member accepted the code.
type broken struct{ err error }

func (e *broken) Error() string { return e.err.Error() }
func (e *broken) Unwrap() error { return e.err }

// joinAccepted is the joiner's side of a join after the member accepted
// the request: take the ledger, redeem, certify the node.
func joinAccepted(c *conn, cfg JoinConfig, netID ledger.NetworkID, ikey ed25519.PrivateKey, req *joinRequest) (*ledger.Log, error) {
	refused := func(why string) error { return &JoinError{Network: cfg.Code.NetName, Reason: why} }
	userKey := cfg.Seed.UserKey()
	nodeKey := cfg.Seed.NodeKey(netID, cfg.App)
	log, err := recvLedger(c, filepath.Join(cfg.Dir, "ledger"), netID, cfg.Logf)
	if err != nil {
		return nil, fmt.Errorf("join: receive the ledger: %w", err)
	}

	// Redeem the invite the code names, if it is still good by our clock.
	var red joinRedeem
	if log.State().Role(req.User) == ledger.RoleNone {
		inv, ok := log.State().InviteByKey(pubOf(ikey))
		switch {
		case !ok:
			return nil, refused("the member's ledger does not hold this invite")
		case inv.Role != ledger.Role(cfg.Code.Role):
			return nil, refused(fmt.Sprintf("the ledger gives this invite the role %s, the code says %s", inv.Role, ledger.Role(cfg.Code.Role)))
		case cfg.Now().Unix() > inv.Expires:
			return nil, refused(fmt.Sprintf("invite %s expired at %s", inv.ID.Short(), time.Unix(inv.Expires, 0).UTC().Format(time.RFC3339)))
		}
		red.Sig = ledger.SignRedeem(ikey, netID, inv.ID, req.User, inv.Role)
	}
	if err := c.write(red); err != nil {
		return nil, err
	}
	var added joinAdded
	if err := c.read(&added, 64<<10); err != nil {
		return nil, fmt.Errorf("join: member did not answer the redeem: %w", err)
	}
	if added.Error != "" {
		return nil, refused(added.Error)
	}
	if err := c.recvOps(maxLedgerOps, func(ops []*ledger.Op) error { addJoined(log, ops, cfg.Logf); return nil }); err != nil {
		return nil, fmt.Errorf("join: receive the new operations: %w", err)
	}
	if log.State().Role(req.User) == ledger.RoleNone {
		return nil, errors.New("join: the member did not add this user")
	}

	// Certify this user's node, with the node key's proof of possession.
	var jn joinNode
	if _, ok := log.State().NodeOwner(req.Node); !ok {
		op, err := log.Append(userKey, ledger.Op{
			Kind:        ledger.KindAddNode,
			Subject:     req.User,
			Node:        req.Node,
			SubjectName: cfg.App,
			NodeSig:     ledger.SignNodeProof(nodeKey, netID, req.User),
		})
		if err != nil {
			return nil, fmt.Errorf("join: certify node: %w", err)
		}
		jn.Op = op.Marshal()
	}
	if err := c.write(jn); err != nil {
		return nil, err
	}
	var done joinDone
	if err := c.read(&done, 64<<10); err != nil {
		return nil, fmt.Errorf("join: member did not confirm the node: %w", err)
	}
	if done.Error != "" {
		return nil, refused(done.Error)
	}
	return log, nil
}

// recvLedger builds, in dir, the log of network netID from chunks of ops
// (the first is the genesis), verifying and storing each chunk as it comes.
func recvLedger(c *conn, dir string, netID ledger.NetworkID, logf func(string, ...any)) (*ledger.Log, error) {
	var log *ledger.Log
	err := c.recvOps(maxLedgerOps, func(ops []*ledger.Op) error {
		if log == nil {
			g := ops[0]
			if g.Kind != ledger.KindGenesis || ledger.NetworkID(g.ID()) != netID {
				return fmt.Errorf("member sent a ledger for another network")
			}
			var err error
			if log, err = ledger.Init(dir, g, nil); err != nil {
				return err
			}
			ops = ops[1:]
		}
		addJoined(log, ops, logf)
		return nil
	})
	if err == nil && log == nil {
		err = errors.New("member sent an empty ledger")
	}
	return log, err
}

// addJoined adds ops received while joining, logging those refused.
func addJoined(log *ledger.Log, ops []*ledger.Op, logf func(string, ...any)) {
	_, errs := log.AddAll(ops)
	for _, err := range errs {
		if err != nil {
			logf("join: ledger op refused: %v", err)
		}
	}
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
