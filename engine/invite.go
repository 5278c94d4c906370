package engine

import (
	"crypto/ed25519"
	"sort"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/invite"
	"github.com/coconet/coconet/ledger"
)

// InviteOptions shape an invite.
type InviteOptions struct {
	Role ledger.Role   // RoleGuest or RoleAdmin
	TTL  time.Duration // default 24h
	Uses int           // default 1
}

// Invite records an invite in the ledger and returns its code, naming this
// node's addresses (direct ones, then relay addresses at control planes)
// where the invitee will redeem it.
func (e *Engine) Invite(opts InviteOptions) (code string, expires time.Time, err error) {
	if opts.TTL <= 0 {
		opts.TTL = 24 * time.Hour
	}
	if opts.Uses <= 0 {
		opts.Uses = 1
	}
	if opts.Role == ledger.RoleNone {
		opts.Role = ledger.RoleGuest
	}
	secret, err := invite.NewSecret()
	if err != nil {
		return "", time.Time{}, err
	}
	ik := identity.InviteKey(secret[:])
	var pub [32]byte
	copy(pub[:], ik.Public().(ed25519.PublicKey))
	expires = time.Now().Add(opts.TTL).Truncate(time.Second)
	if _, err := e.Append(ledger.Op{
		Kind: ledger.KindInvite, InviteKey: pub, Role: opts.Role, Expires: expires.Unix(), Uses: opts.Uses,
	}); err != nil {
		return "", time.Time{}, err
	}
	c := invite.Code{Network: e.log.Network(), Secret: secret, Role: uint8(opts.Role), Expires: expires.Unix(), NetName: e.log.State().Name}
	c.Addrs, c.Controls = e.inviteAddrs()
	return c.Encode(), expires, nil
}

// inviteAddrs lists the node's addresses for an invite code, each ending in
// /p2p/<node>: direct ones first (routable ones, then loopback), then its
// relay addresses at control planes where it holds a relay slot
// (/…/p2p/<control plane>/p2p-circuit/p2p/<node>); and, apart, the control
// planes it uses, through which the joiner can also try to reach it.
func (e *Engine) inviteAddrs() (addrs, controls [][]byte) {
	direct := e.n.Host().Addrs()
	sort.SliceStable(direct, func(i, j int) bool {
		return !manet.IsIPLoopback(direct[i]) && manet.IsIPLoopback(direct[j])
	})
	p2p, _ := ma.NewComponent("p2p", e.self.String())
	for _, a := range direct {
		addrs = append(addrs, a.Encapsulate(p2p).Bytes())
		if len(addrs) == 8 {
			break
		}
	}
	for _, a := range e.n.RelayAddrs() {
		addrs = append(addrs, a.Encapsulate(p2p).Bytes())
	}
	for _, a := range e.n.ControlAddrs() {
		controls = append(controls, a.Bytes())
	}
	return addrs, controls
}

// Remove removes a member (by name or user ID) from the network. Every
// online member node drops the removed member's connections as soon as the
// operation reaches it.
func (e *Engine) Remove(member string) (*ledger.Member, error) {
	return RemoveMember(e.log, e.id, member)
}

// RemoveMember appends the removal of member to l, signed by id: what
// Remove does, for a ledger without a running node.
func RemoveMember(l *ledger.Log, id *identity.Identity, member string) (*ledger.Member, error) {
	m, err := ResolveMember(l.State(), member)
	if err != nil {
		return nil, err
	}
	if _, err := l.Append(id.Seed.UserKey(), ledger.Op{Kind: ledger.KindRemoveUser, Subject: m.User}); err != nil {
		return nil, err
	}
	return m, nil
}
