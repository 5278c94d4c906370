package control

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/frame"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// Developer networks at the control plane: a node proves membership with a
// devnet.Proof (the genesis and its credential) instead of a member.Proof;
// it is turned into a member.Verified (the node key standing for its user,
// as a guest) so registrations, lookups, relay slots and plans work as for
// other networks. The control plane keeps each developer network's newest
// revocation list and policy (devnet.Store): it refuses revoked nodes,
// drops their registrations and relay slots when a newer list arrives,
// pushes newer lists to the network's connected nodes (devnet.ProtoLists),
// and lets relay circuits only between tags the policy lets talk. One-off
// auth keys are claimed at registration through Config.Claims.
//
// Ephemeral nodes: a registration lives for its lease (at most
// MaxRegistrationTTL, renewed by the node every half of it); DevMember
// tells a listing whether the node is ephemeral, so it shows an ephemeral
// node only while it is registered and keeps others, offline, from its own
// record.

// Bounds of the developer-network state.
const (
	// maxDevNets bounds the developer networks whose lists are kept.
	maxDevNets = 1 << 16
	// maxDevMembers bounds the credentials kept per network (for
	// revocation by auth key and the relay's tag checks); past it those of
	// nodes no longer registered are forgotten.
	maxDevMembers = 1 << 20
	// devPushParallel bounds concurrent pushes of a new list.
	devPushParallel = 32
)

// devNets is the control plane's developer-network state. Where both are
// taken, Server.mu is taken before mu.
type devNets struct {
	mu   sync.Mutex // guards nets and every devNet's members
	nets map[[32]byte]*devNet
}

type devNet struct {
	anchor  *devnet.Anchor
	store   *devnet.Store
	members map[[32]byte]*devnet.Member // by node key
}

// isDevProof tells a devnet.Proof (a CBOR map) from a member.Proof (whose
// first byte is its version, 1).
func isDevProof(b []byte) bool { return len(b) > 0 && b[0]&0xe0 == 0xa0 }

// devNet returns the state of the network of anchor a, made if needed.
func (s *Server) devNet(a *devnet.Anchor) (*devNet, error) {
	key := member.RendezvousKey(a.Net)
	s.dev.mu.Lock()
	defer s.dev.mu.Unlock()
	if s.dev.nets == nil {
		s.dev.nets = map[[32]byte]*devNet{}
	}
	if dn := s.dev.nets[key]; dn != nil {
		return dn, nil
	}
	if len(s.dev.nets) >= maxDevNets {
		return nil, errors.New("this control plane keeps the lists of as many developer networks as it can")
	}
	dn := &devNet{anchor: a, members: map[[32]byte]*devnet.Member{}}
	dn.store = devnet.NewStore(func() *devnet.Anchor { return dn.anchor }, s.cfg.Now)
	s.dev.nets[key] = dn
	return dn, nil
}

func (s *Server) devNetOf(key [32]byte) *devNet {
	s.dev.mu.Lock()
	defer s.dev.mu.Unlock()
	return s.dev.nets[key]
}

// verifyDev checks a developer network's proof for the node key, against
// the network's revocation list, and at registration the one-off claim.
func (s *Server) verifyDev(b []byte, node [32]byte, op string, now time.Time) (*member.Verified, error) {
	p, err := devnet.UnmarshalProof(b)
	if err != nil {
		return nil, err
	}
	m, a, err := p.Verify(node, now)
	if err != nil {
		return nil, err
	}
	dn, err := s.devNet(a)
	if err != nil {
		return nil, err
	}
	if dn.store.Revocations().Covers(m) {
		return nil, fmt.Errorf("%w: this node's credential was revoked", devnet.ErrRevoked)
	}
	if op == controlproto.OpRegister {
		if err := devnet.Check(s.cfg.Claims, m); err != nil {
			return nil, err
		}
		s.dev.mu.Lock()
		full := len(dn.members) >= maxDevMembers
		s.dev.mu.Unlock()
		if full {
			s.forgetDevMembers(member.RendezvousKey(a.Net), dn)
		}
		s.dev.mu.Lock()
		dn.members[node] = m
		s.dev.mu.Unlock()
	}
	c := &p.Cred
	return &member.Verified{
		Net: a.Net, Key: member.RendezvousKey(a.Net), Owner: a.Owner,
		Cert: member.Cert{Net: a.Net, Node: node, User: identity.UserID(node), Role: ledger.RoleGuest,
			Issued: c.Issued, Expires: c.Expires, Issuer: c.AuthKey.Issuer},
		Until: m.Expires,
	}, nil
}

// forgetDevMembers drops the credentials of nodes no longer registered.
// It takes s.mu, then s.dev.mu (the order everywhere).
func (s *Server) forgetDevMembers(key [32]byte, dn *devNet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.nets[key]
	s.dev.mu.Lock()
	defer s.dev.mu.Unlock()
	for k := range dn.members {
		pub, err := crypto.UnmarshalEd25519PublicKey(k[:])
		if err != nil {
			delete(dn.members, k)
			continue
		}
		id, err := peer.IDFromPublicKey(pub)
		if err != nil || ns == nil || ns.regs[id] == nil {
			delete(dn.members, k)
		}
	}
}

// DevMember returns the credential of a registered node of a developer
// network (its tags, whether it is ephemeral), if the control plane holds
// it.
func (s *Server) DevMember(net ledger.NetworkID, node [32]byte) (*devnet.Member, bool) {
	dn := s.devNetOf(member.RendezvousKey(net))
	if dn == nil {
		return nil, false
	}
	s.dev.mu.Lock()
	defer s.dev.mu.Unlock()
	m, ok := dn.members[node]
	return m, ok
}

// netList serves OpNetList: it takes the lists a node pushes if newer, and
// answers with the versions held and the lists newer than the node's.
func (s *Server) netList(req *controlproto.Request, v *member.Verified) *served {
	dn := s.devNetOf(v.Key)
	if dn == nil {
		return fail(controlproto.CodeBadRequest, errors.New("lists are for developer networks"))
	}
	if len(req.NetRev) > 0 || len(req.NetPol) > 0 {
		l := &devnet.Lists{V: devnet.Version, Rev: req.NetRev, Pol: req.NetPol}
		if err := s.takeDevLists(v.Key, dn, l); err != nil {
			return fail(controlproto.CodeUnauthorized, fmt.Errorf("lists refused: %v", err))
		}
	}
	out := &served{key: &v.Key}
	out.RevV, out.PolV = dn.store.Versions()
	l := dn.store.Newer(req.RevV, req.PolV)
	out.NetRev, out.NetPol = l.Rev, l.Pol
	return out
}

// OfferNetList takes a developer network's revocation list and/or policy
// (either may be nil), signed by the owner or a service key with the
// scope, if newer than those held: the REST API's way in. It drops the
// registrations and relay slots of the nodes the list revokes and pushes
// the lists to the network's connected nodes.
func (s *Server) OfferNetList(genesis *ledger.Op, rev *devnet.Revocations, pol *devnet.Policy) error {
	a, err := devnet.AnchorOf(genesis)
	if err != nil {
		return err
	}
	dn, err := s.devNet(a)
	if err != nil {
		return err
	}
	var errs []error
	took := false
	if rev != nil {
		err := dn.store.OfferRevocations(rev)
		took, errs = took || err == nil, append(errs, err)
	}
	if pol != nil {
		err := dn.store.OfferPolicy(pol)
		took, errs = took || err == nil, append(errs, err)
	}
	if took {
		s.applyDevLists(member.RendezvousKey(a.Net), dn)
	}
	return errors.Join(errs...)
}

// NetLists returns a developer network's newest revocation list and policy
// held here (nil if none).
func (s *Server) NetLists(net ledger.NetworkID) (*devnet.Revocations, *devnet.Policy) {
	dn := s.devNetOf(member.RendezvousKey(net))
	if dn == nil {
		return nil, nil
	}
	return dn.store.Revocations(), dn.store.Policy()
}

func (s *Server) takeDevLists(key [32]byte, dn *devNet, l *devnet.Lists) error {
	tookRev, tookPol, err := dn.store.Offer(l)
	if tookRev || tookPol {
		s.applyDevLists(key, dn)
	}
	return err
}

// applyDevLists drops what the newest revocation list covers and pushes
// the lists to the network's holders.
func (s *Server) applyDevLists(key [32]byte, dn *devNet) {
	rev := dn.store.Revocations()
	covered := func(p peer.ID) bool {
		k, err := keyOf(p)
		if err != nil {
			return false
		}
		s.dev.mu.Lock()
		m := dn.members[k]
		s.dev.mu.Unlock()
		if m == nil {
			m = &devnet.Member{Node: k}
		}
		return rev.Covers(m)
	}
	var cut, push []peer.ID
	s.mu.Lock()
	if ns := s.nets[key]; ns != nil {
		for p := range ns.regs {
			if covered(p) {
				delete(ns.regs, p)
			}
		}
	}
	for p, h := range s.holders {
		if h.key != key {
			continue
		}
		if covered(p) {
			delete(s.holders, p)
			s.unprotect(p)
			cut = append(cut, p)
			continue
		}
		push = append(push, p)
	}
	s.mu.Unlock()
	for _, p := range cut {
		s.cfg.Logf("revoked %s; closing its connections", p.ShortString())
		s.host.Network().ClosePeer(p)
	}
	b := dn.store.Newer(0, 0).Marshal()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		sem := make(chan struct{}, devPushParallel)
		var wg sync.WaitGroup
		for _, p := range push {
			select {
			case sem <- struct{}{}:
			case <-s.ctx.Done():
				wg.Wait()
				return
			}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
				defer cancel()
				st, err := s.host.NewStream(network.WithAllowLimitedConn(ctx, "devnet lists"), p, devnet.ProtoLists)
				if err != nil {
					return
				}
				st.SetDeadline(time.Now().Add(10 * time.Second))
				if frame.Write(st, b) != nil {
					st.Reset()
					return
				}
				st.Close()
			}()
		}
		wg.Wait()
	}()
}

// devAllows reports whether the relay may join src and dest of network
// key: not a developer network, or the tag policy lets one of them talk to
// the other.
func (s *Server) devAllows(src, dest peer.ID, key [32]byte) bool {
	dn := s.devNetOf(key)
	if dn == nil {
		return true
	}
	pol := dn.store.Policy()
	if pol == nil {
		return true
	}
	ks, err1 := keyOf(src)
	kd, err2 := keyOf(dest)
	if err1 != nil || err2 != nil {
		return false
	}
	s.dev.mu.Lock()
	ms, md := dn.members[ks], dn.members[kd]
	s.dev.mu.Unlock()
	var ts, td []string
	if ms != nil {
		ts = ms.Tags
	}
	if md != nil {
		td = md.Tags
	}
	return pol.Allows(ts, td) || pol.Allows(td, ts)
}
