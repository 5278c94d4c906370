package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// ProtoCert is the certificate protocol: a member node asks an owner or
// admin node for a short-lived node certificate (or, an admin, the owner for
// a delegation) to show a control plane. The issuer reads the asker's user
// and role from its own ledger, never from the request.
const ProtoCert = "/coco/cert/1.0.0"

type certRequest struct {
	Want string `json:"want"` // "cert" or "delegation"
}

type certReply struct {
	Error      string `json:"error,omitempty"`
	Cert       []byte `json:"cert,omitempty"`
	Delegation []byte `json:"delegation,omitempty"` // the issuer's, when the issuer is an admin; or the one asked for
}

func (n *Node) genesis() *ledger.Op {
	g, _ := n.log.Get(ledger.ID(n.log.Network()))
	return g
}

func (n *Node) certValidity() time.Duration {
	if n.cfg.CertValidity > 0 {
		return n.cfg.CertValidity
	}
	return member.DefaultCertValidity
}

// validDelegation returns this node's delegation if the user is an admin
// and it has more than half its life left.
func (n *Node) validDelegation(now time.Time, fresh bool) *member.Delegation {
	n.mu.Lock()
	d := n.delegation
	n.mu.Unlock()
	if d == nil || d.Admin != n.User() || d.Verify(n.log.Network(), n.genesis().Author, now) != nil {
		return nil
	}
	if fresh && now.After(time.Unix(d.Issued+(d.Expires-d.Issued)/2, 0)) {
		return nil
	}
	return d
}

func (n *Node) handleCert(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	from, ok := n.SenderOf(p)
	if !ok {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	var req certRequest
	if err := readFrame(bufio.NewReader(s), &req, 4<<10); err != nil {
		s.Reset()
		return
	}
	writeFrame(s, n.issue(from, req.Want))
}

func (n *Node) issue(from Sender, want string) certReply {
	now := n.cfg.Now()
	st := n.log.State()
	net := n.log.Network()
	me := st.Role(n.User())
	role := st.Role(from.User)
	if role == ledger.RoleNone {
		return certReply{Error: "your user is not a member of the network"}
	}
	switch want {
	case "delegation":
		if me != ledger.RoleOwner {
			return certReply{Error: "only the owner's nodes give admins delegations"}
		}
		if role != ledger.RoleAdmin {
			return certReply{Error: fmt.Sprintf("delegations are for admins; your role is %s", role)}
		}
		return certReply{Delegation: member.Delegate(n.userKey, net, from.User, now, 0).Marshal()}
	case "cert":
		key, err := KeyOf(from.Node)
		if err != nil {
			return certReply{Error: err.Error()}
		}
		c := member.IssueCert(n.userKey, net, key, from.User, role, now, n.certValidity())
		switch me {
		case ledger.RoleOwner:
			return certReply{Cert: c.Marshal()}
		case ledger.RoleAdmin:
			if d := n.validDelegation(now, false); d != nil {
				return certReply{Cert: c.Marshal(), Delegation: d.Marshal()}
			}
			return certReply{Error: "this admin node has no delegation from the owner yet; ask an owner's node"}
		}
		return certReply{Error: "only owner and admin nodes issue certificates"}
	}
	return certReply{Error: fmt.Sprintf("unknown request %q", want)}
}

// askCert asks a member node for a certificate or a delegation.
func (n *Node) askCert(ctx context.Context, p peer.ID, want string) (certReply, error) {
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "cert"), p, ProtoCert)
	if err != nil {
		return certReply{}, err
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := writeFrame(s, certRequest{Want: want}); err != nil {
		s.Reset()
		return certReply{}, err
	}
	s.CloseWrite()
	var rep certReply
	if err := readFrame(bufio.NewReader(s), &rep, 64<<10); err != nil {
		return certReply{}, err
	}
	if rep.Error != "" {
		return rep, errors.New(rep.Error)
	}
	return rep, nil
}

// Proof returns this node's membership proof for control planes, renewing
// its certificate when it is past half its life: an owner's node issues its
// own; an admin's node issues its own with the owner's delegation (asked
// from a connected owner node); other nodes ask a connected owner or admin
// node. It returns nil if no valid proof can be had now.
func (n *Node) Proof(ctx context.Context) *member.Proof {
	now := n.cfg.Now()
	n.mu.Lock()
	cur := n.proof
	n.mu.Unlock()
	st := n.log.State()
	role := st.Role(n.User())
	if role == ledger.RoleNone {
		return nil
	}
	valid := cur != nil && cur.Cert.Role == role
	if valid {
		if _, err := cur.Verify(n.self, now); err != nil {
			valid = false
		}
	}
	if valid && now.Before(time.Unix(cur.Cert.Issued+(cur.Cert.Expires-cur.Cert.Issued)/2, 0)) {
		return cur
	}
	g := n.genesis()
	if g == nil {
		return nil
	}
	var next *member.Proof
	switch role {
	case ledger.RoleOwner:
		next = &member.Proof{Genesis: g, Cert: member.IssueCert(n.userKey, n.log.Network(), n.self, n.User(), role, now, n.certValidity())}
	default:
		if role == ledger.RoleAdmin {
			d := n.validDelegation(now, true)
			if d == nil {
				d = n.fetchDelegation(ctx, st, now)
			}
			if d == nil {
				d = n.validDelegation(now, false)
			}
			if d != nil {
				next = &member.Proof{Genesis: g, Delegation: d, Cert: member.IssueCert(n.userKey, n.log.Network(), n.self, n.User(), role, now, n.certValidity())}
				break
			}
		}
		next = n.fetchCert(ctx, st, g, now)
	}
	if next == nil {
		if valid {
			return cur
		}
		return nil
	}
	if _, err := next.Verify(n.self, now); err != nil {
		n.cfg.Logf("control: new certificate does not verify: %v", err)
		if valid {
			return cur
		}
		return nil
	}
	n.mu.Lock()
	n.proof = next
	n.mu.Unlock()
	n.saveProof()
	return next
}

// issuers lists connected member nodes whose users have one of roles.
func (n *Node) issuers(st *ledger.State, roles ...ledger.Role) []peer.ID {
	var out []peer.ID
	for _, p := range n.ConnectedMembers() {
		s, ok := n.SenderOf(p)
		if !ok {
			continue
		}
		for _, r := range roles {
			if st.Role(s.User) == r {
				out = append(out, p)
			}
		}
	}
	return out
}

func (n *Node) fetchDelegation(ctx context.Context, st *ledger.State, now time.Time) *member.Delegation {
	for _, p := range n.issuers(st, ledger.RoleOwner) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rep, err := n.askCert(cctx, p, "delegation")
		cancel()
		if err != nil {
			n.cfg.Logf("control: delegation from %s: %v", p.ShortString(), err)
			continue
		}
		d, err := member.UnmarshalDelegation(rep.Delegation)
		if err != nil || d.Admin != n.User() || d.Verify(n.log.Network(), st.Owner, now) != nil {
			continue
		}
		n.mu.Lock()
		n.delegation = d
		n.mu.Unlock()
		n.saveFile("control-delegation.bin", d.Marshal())
		return d
	}
	return nil
}

func (n *Node) fetchCert(ctx context.Context, st *ledger.State, g *ledger.Op, now time.Time) *member.Proof {
	for _, p := range n.issuers(st, ledger.RoleOwner, ledger.RoleAdmin) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		rep, err := n.askCert(cctx, p, "cert")
		cancel()
		if err != nil {
			n.cfg.Logf("control: certificate from %s: %v", p.ShortString(), err)
			continue
		}
		c, err := member.UnmarshalCert(rep.Cert)
		if err != nil {
			continue
		}
		pr := &member.Proof{Genesis: g, Cert: c}
		if len(rep.Delegation) > 0 {
			if pr.Delegation, err = member.UnmarshalDelegation(rep.Delegation); err != nil {
				continue
			}
		}
		if _, err := pr.Verify(n.self, now); err == nil {
			return pr
		}
	}
	return nil
}

func (n *Node) saveFile(name string, b []byte) {
	if n.cfg.Dir == "" {
		return
	}
	if err := atomicfile.Write(filepath.Join(n.cfg.Dir, name), b, 0o600); err != nil {
		n.cfg.Logf("save %s: %v", name, err)
	}
}

func (n *Node) saveProof() {
	n.mu.Lock()
	p := n.proof
	n.mu.Unlock()
	if p != nil {
		n.saveFile("control-proof.bin", p.Marshal())
	}
}

// loadProof restores a saved proof and delegation, so a node that restarts
// can reach its control planes before it meets an owner or admin node.
func (n *Node) loadProof() {
	if n.cfg.Dir == "" {
		return
	}
	now := n.cfg.Now()
	if b, err := os.ReadFile(filepath.Join(n.cfg.Dir, "control-proof.bin")); err == nil {
		if p, err := member.UnmarshalProof(b); err == nil {
			if _, err := p.Verify(n.self, now); err == nil {
				n.proof = p
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(n.cfg.Dir, "control-delegation.bin")); err == nil {
		if d, err := member.UnmarshalDelegation(b); err == nil {
			n.delegation = d
		}
	}
}
