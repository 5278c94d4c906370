package ledger

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/coconet/coconet/identity"
)

// Member is a member of the network.
type Member struct {
	User    identity.UserID
	Name    string
	Role    Role
	AddedBy identity.UserID
	AddedAt ID // the add_user (or genesis) op
	Invite  ID // the invite used, zero if added directly
}

// NodeInfo is a node (libp2p host key) certified for a member.
type NodeInfo struct {
	Key     [32]byte
	User    identity.UserID
	Name    string
	AddedAt ID
}

// InviteInfo is an invite and how much of it is used.
type InviteInfo struct {
	ID      ID
	Key     [32]byte
	Role    Role
	Expires int64 // unix seconds
	Uses    int
	Used    int
	Author  identity.UserID
	Revoked bool
}

// ServiceInfo is a service key the owner delegated (delegate_service).
type ServiceInfo struct {
	Key     identity.UserID
	Name    string
	Scopes  uint32 // Scope* bits
	Expires int64  // unix seconds
	Op      ID     // the delegate_service op in effect
	Revoked bool   // by a revoke_service after Op
}

// Valid reports whether the delegation is in effect at now with every
// scope of need.
func (si *ServiceInfo) Valid(need uint32, now time.Time) bool {
	return si != nil && !si.Revoked && si.Scopes&need == need && now.Unix() < si.Expires
}

// State is what a set of operations folds into. A State returned by Fold or
// Log.State must not be modified.
type State struct {
	Network NetworkID
	Name    string
	Kind    string
	Owner   identity.UserID
	Members map[identity.UserID]*Member
	Nodes   map[[32]byte]*NodeInfo
	Invites map[ID]*InviteInfo
	Removed map[identity.UserID]ID // last effective removal of each removed user
	// RemovedNodes holds the nodes removed (by remove_node or with their
	// user) and not added again: the op that removed each.
	RemovedNodes map[[32]byte]ID
	// Records holds the application tables (see Tables): table → key → record.
	Records map[string]map[string]*Record
	// Services holds the service keys the owner delegated (and revoked).
	Services map[identity.UserID]*ServiceInfo
	Applied  int // number of operations that took effect
	// Rejected lists the operations that had no effect, and why.
	Rejected []Rejection

	anc   ancestry                   // the DAG the state was folded from
	names map[identity.UserID]string // names given in the folded ops, for reasons; read-only
	dag   *dag                       // set by fold; nil for other implementations of ancestry
	quota quotaState                 // see quota.go
}

// ancestry answers causal questions about the operations a State was folded
// from.
type ancestry interface {
	// isAncestor reports whether op a is a strict ancestor of op b.
	isAncestor(a, b ID) bool
	// opTime returns the Time of op id, if it is known.
	opTime(id ID) (int64, bool)
}

// newState returns an empty state over the operations ops (in canonical
// order), whose ancestry anc answers.
func newState(anc ancestry, ops []*Op) *State {
	s := &State{
		Members:      make(map[identity.UserID]*Member),
		Nodes:        make(map[[32]byte]*NodeInfo),
		Invites:      make(map[ID]*InviteInfo),
		Removed:      make(map[identity.UserID]ID),
		RemovedNodes: make(map[[32]byte]ID),
		Records:      make(map[string]map[string]*Record),
		Services:     make(map[identity.UserID]*ServiceInfo),
		anc:          anc,
		names:        make(map[identity.UserID]string),
	}
	// Name users in reasons even when the op that added them had no effect.
	for _, o := range ops {
		switch {
		case o.Kind == KindGenesis && o.SubjectName != "":
			s.names[o.Author] = o.SubjectName
		case o.Kind == KindAddUser && o.SubjectName != "":
			s.names[o.Subject] = o.SubjectName
		}
	}
	return s
}

// Role returns u's role, RoleNone if u is not a member.
func (s *State) Role(u identity.UserID) Role {
	if m := s.Members[u]; m != nil {
		return m.Role
	}
	return RoleNone
}

// IsMemberNode reports whether key is a node of a current member.
func (s *State) IsMemberNode(key [32]byte) bool { return s.Nodes[key] != nil }

// NodeOwner returns the member a node belongs to.
func (s *State) NodeOwner(key [32]byte) (identity.UserID, bool) {
	if n := s.Nodes[key]; n != nil {
		return n.User, true
	}
	return identity.UserID{}, false
}

// InviteByKey finds the invite whose code derives key (used, revoked or
// expired ones too: the caller decides).
func (s *State) InviteByKey(key [32]byte) (*InviteInfo, bool) {
	for _, inv := range s.Invites {
		if inv.Key == key {
			return inv, true
		}
	}
	return nil, false
}

// SortedMembers lists the members: owner, admins, guests; then by name.
func (s *State) SortedMembers() []*Member {
	ms := make([]*Member, 0, len(s.Members))
	for _, m := range s.Members {
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *Member) int {
		if a.Role != b.Role {
			return int(b.Role) - int(a.Role)
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(string(a.User[:]), string(b.User[:]))
	})
	return ms
}

// MemberByName finds members by display name (exact, any case) or by a
// prefix of at least 6 characters of their user ID's String form, so callers
// can resolve both "bob" and "u5amky..".
func (s *State) MemberByName(name string) []*Member {
	var out []*Member
	lower := strings.ToLower(name)
	for _, m := range s.SortedMembers() {
		if strings.EqualFold(m.Name, name) || (len(name) >= 6 && strings.HasPrefix(m.User.String(), lower)) {
			out = append(out, m)
		}
	}
	return out
}

// Equal reports whether s and t hold the same network, members, nodes,
// invites, removals and counts, and reject the same operations for the same
// reasons (in any order).
func (s *State) Equal(t *State) bool {
	if s.Network != t.Network || s.Name != t.Name || s.Kind != t.Kind || s.Owner != t.Owner ||
		s.Applied != t.Applied || len(s.Rejected) != len(t.Rejected) {
		return false
	}
	if !mapsEqual(s.Members, t.Members) || !mapsEqual(s.Nodes, t.Nodes) || !mapsEqual(s.Invites, t.Invites) ||
		!recordsEqual(s.Records, t.Records) {
		return false
	}
	if !maps.Equal(s.RemovedNodes, t.RemovedNodes) || !mapsEqual(s.Services, t.Services) {
		return false
	}
	if len(s.Removed) != len(t.Removed) {
		return false
	}
	for u, id := range s.Removed {
		if tid, ok := t.Removed[u]; !ok || tid != id {
			return false
		}
	}
	rs := make(map[ID]Rejection, len(s.Rejected))
	for _, r := range s.Rejected {
		rs[r.Op] = r
	}
	for _, r := range t.Rejected {
		if x, ok := rs[r.Op]; !ok || x.Reason != r.Reason || x.Err != r.Err {
			return false
		}
	}
	return len(rs) == len(t.Rejected)
}

func mapsEqual[K comparable, V comparable](a, b map[K]*V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || *v != *w {
			return false
		}
	}
	return true
}

// nameOf names a user in reasons: their display name if known, else their
// short ID.
func (s *State) nameOf(u identity.UserID) string {
	if m := s.Members[u]; m != nil && m.Name != "" {
		return m.Name
	}
	if n := s.names[u]; n != "" {
		return n
	}
	return u.Short()
}

// isAncestorOfOp reports whether op a is an ancestor of o, which need not be
// in the DAG yet (a prospective op) but whose parents are.
func (s *State) isAncestorOfOp(a ID, o *Op) bool {
	for _, p := range o.Parents {
		if p == a || (s.anc != nil && s.anc.isAncestor(a, p)) {
			return true
		}
	}
	return false
}

func canInvite(author, role Role) bool {
	switch role {
	case RoleAdmin:
		return author == RoleOwner
	case RoleGuest:
		return author == RoleOwner || author == RoleAdmin
	}
	return false
}

// Check runs the permission matrix for o against this state: it returns nil
// if o would take effect if applied now, else a *Rejection wrapping
// ErrMalformed, ErrWrongNetwork or ErrUnauthorized with a reason for people.
// It does not check the signature or the clock.
//
// The matrix (owner > admin > guest; every op but genesis needs its author to
// be a current member):
//   - genesis: only as the first op; its author becomes the owner.
//   - invite: the owner may invite admins and guests, an admin guests only.
//   - revoke_invite: the invite's author, the owner or any admin.
//   - add_user, direct: the owner may add admins and guests, an admin guests.
//   - add_user with an invite (Ref), by any member: it carries InviteSig, the
//     invite key's signature over (network, invite, subject, role); the
//     invite is an ancestor, not revoked, not expired at op.Time, not used
//     up, its author can still invite that role, the role matches, and if
//     the subject was removed before, the invite was made after (descends
//     from) that removal.
//   - remove_user: the owner anyone but themself, an admin admins and
//     guests, anyone themself except the owner.
//   - add_node: for a member, by that member or the owner; a node key
//     belongs to one user at a time; unless the owner adds it, it carries
//     NodeSig, the node key's signature over (network, node, user).
//   - remove_node: the node's user, the owner or an admin; a node of the
//     owner (her devices included) only the owner.
//
// Every op but genesis is dated no earlier than its newest parent.
//   - put, delete: a member whose role is at least the table's (Tables);
//     a delete needs the record to exist.
//   - delegate_service, revoke_service: the owner only (a service key is
//     never the owner; a revocation names a delegated key).
func (s *State) Check(o *Op) error {
	if r := s.check(o, o.ID()); r != nil {
		return r
	}
	return nil
}

func (s *State) check(o *Op, id ID) *Rejection {
	deny := func(format string, args ...any) *Rejection {
		return &Rejection{Op: id, Reason: fmt.Sprintf(format, args...), Err: ErrUnauthorized}
	}
	if p := o.shapeProblem(); p != "" {
		return &Rejection{Op: id, Reason: p, Err: ErrMalformed}
	}
	if o.Kind == KindGenesis {
		if !s.Network.IsZero() {
			return &Rejection{Op: id, Reason: fmt.Sprintf("network %s already has a genesis", s.Network.Short()), Err: ErrMalformed}
		}
		return nil
	}
	if s.Network.IsZero() {
		return &Rejection{Op: id, Reason: "no genesis before this operation", Err: ErrMalformed}
	}
	if o.Net != s.Network {
		return &Rejection{Op: id, Reason: fmt.Sprintf("names network %s, not %s", o.Net.Short(), s.Network.Short()), Err: ErrWrongNetwork}
	}
	if r := s.checkTime(o, id); r != nil {
		return r
	}
	author := s.Members[o.Author]
	if author == nil {
		return deny("%s", s.notMember(o.Author))
	}
	if r := s.checkQuota(o, author, id); r != nil {
		return r
	}
	who := author.Role.String() + " " + s.nameOf(o.Author)
	switch o.Kind {
	case KindInvite:
		switch {
		case author.Role == RoleGuest:
			return deny("%s cannot invite", who)
		case o.Role == RoleOwner:
			return deny("a network has one owner; nobody can invite another")
		case !canInvite(author.Role, o.Role):
			return deny("only the owner can invite admins")
		}
		if inv, ok := s.InviteByKey(o.InviteKey); ok {
			return deny("invite %s already uses this invite key", inv.ID.Short())
		}
	case KindRevokeInvite:
		inv := s.Invites[o.Ref]
		switch {
		case inv == nil:
			return deny("invite %s is not in the ledger", o.Ref.Short())
		case inv.Revoked:
			return deny("invite %s is already revoked", o.Ref.Short())
		case o.Author != inv.Author && author.Role < RoleAdmin:
			return deny("%s cannot revoke invite %s made by %s", who, o.Ref.Short(), s.nameOf(inv.Author))
		}
	case KindAddUser:
		if o.Role == RoleOwner {
			return deny("a network has one owner; nobody can add another")
		}
		if m := s.Members[o.Subject]; m != nil {
			return deny("%s is already a member (%s)", s.nameOf(o.Subject), m.Role)
		}
		if o.Ref.IsZero() {
			switch {
			case author.Role == RoleGuest:
				return deny("%s cannot add members", who)
			case o.Role == RoleAdmin && author.Role != RoleOwner:
				return deny("only the owner can add admins")
			}
			break
		}
		return s.checkRedeem(o, id)
	case KindRemoveUser:
		subj := s.Members[o.Subject]
		switch {
		case subj == nil:
			return deny("%s", s.notMember(o.Subject))
		case o.Subject == o.Author:
			if author.Role == RoleOwner {
				return deny("the owner cannot leave the network")
			}
		case subj.Role == RoleOwner:
			return deny("%s cannot remove the owner", who)
		case author.Role == RoleGuest:
			return deny("%s cannot remove other members", who)
		}
	case KindAddNode:
		switch {
		case s.Members[o.Subject] == nil:
			return deny("%s", s.notMember(o.Subject))
		case o.Author != o.Subject && author.Role != RoleOwner:
			return deny("only %s or the owner can add %s's nodes", s.nameOf(o.Subject), s.nameOf(o.Subject))
		}
		if n := s.Nodes[o.Node]; n != nil {
			return deny("node %s already belongs to %s", shortKey(o.Node), s.nameOf(n.User))
		}
		if r := s.checkNodeProof(o, author, id); r != nil {
			return r
		}
	case KindRemoveNode:
		n := s.Nodes[o.Node]
		switch {
		case n == nil:
			return deny("node %s is not in the network", shortKey(o.Node))
		case o.Author != n.User && author.Role < RoleAdmin:
			return deny("%s cannot remove node %s of %s", who, shortKey(o.Node), s.nameOf(n.User))
		case n.User == s.Owner && author.Role != RoleOwner:
			// Devices are nodes of the owner too (device.Add binds them so).
			return deny("%s cannot remove node %s: the owner's nodes and devices are the owner's alone to remove", who, shortKey(o.Node))
		}
	case KindPut, KindDelete:
		return s.checkRecord(o, author, id)
	case KindDelegateService:
		switch {
		case author.Role != RoleOwner:
			return deny("only the owner delegates service keys; %s cannot", who)
		case o.Subject == s.Owner:
			return deny("the owner needs no delegation")
		}
	case KindRevokeService:
		switch {
		case author.Role != RoleOwner:
			return deny("only the owner revokes service keys; %s cannot", who)
		case s.Services[o.Subject] == nil || s.Services[o.Subject].Revoked:
			return deny("service key %s is not delegated", o.Subject.Short())
		}
	}
	return nil
}

func (s *State) notMember(u identity.UserID) string {
	if _, ok := s.Removed[u]; ok {
		return s.nameOf(u) + " is no longer a member"
	}
	return s.nameOf(u) + " is not a member"
}

// checkRedeem checks an add_user that redeems the invite o.Ref.
func (s *State) checkRedeem(o *Op, id ID) *Rejection {
	deny := func(format string, args ...any) *Rejection {
		return &Rejection{Op: id, Reason: fmt.Sprintf(format, args...), Err: ErrUnauthorized}
	}
	ref := o.Ref.Short()
	inv := s.Invites[o.Ref]
	if inv == nil || !s.isAncestorOfOp(o.Ref, o) {
		return deny("invite %s is not in the ledger the member saw", ref)
	}
	if !verifyRedeem(inv.Key, s.Network, o) {
		return deny("the redeem of invite %s is not signed by the invite's key: only the holder of the invite code can use it", ref)
	}
	// Said first: for a removed member it is the reason that matters.
	if rm, ok := s.Removed[o.Subject]; ok && (s.anc == nil || !s.anc.isAncestor(rm, o.Ref)) {
		return deny("user %s was removed after this invite was created; ask an admin for a new invite", s.nameOf(o.Subject))
	}
	inviter := s.Members[inv.Author]
	switch {
	case inv.Revoked:
		return deny("invite %s was revoked", ref)
	case o.Time/1000 > inv.Expires:
		return deny("invite %s expired at %s", ref, time.Unix(inv.Expires, 0).UTC().Format(time.RFC3339))
	case inv.Used >= inv.Uses:
		return deny("invite %s is used up (%d of %d uses)", ref, inv.Used, inv.Uses)
	case inviter == nil:
		return deny("invite %s was made by %s, who is no longer a member", ref, s.nameOf(inv.Author))
	case !canInvite(inviter.Role, inv.Role):
		return deny("invite %s was made by %s, who can no longer invite a %s", ref, s.nameOf(inv.Author), inv.Role)
	case o.Role != inv.Role:
		return deny("invite %s is for the role %s, not %s", ref, inv.Role, o.Role)
	}
	return nil
}

// apply makes o (already checked) take effect.
func (s *State) apply(o *Op, id ID) {
	s.Applied++
	s.countQuota(o)
	switch o.Kind {
	case KindGenesis:
		s.Network = NetworkID(id)
		s.Name, s.Kind, s.Owner = o.Name, o.NetKind, o.Author
		s.Members[o.Author] = &Member{User: o.Author, Name: o.SubjectName, Role: RoleOwner, AddedBy: o.Author, AddedAt: id}
	case KindInvite:
		s.Invites[id] = &InviteInfo{ID: id, Key: o.InviteKey, Role: o.Role, Expires: o.Expires, Uses: o.Uses, Author: o.Author}
	case KindRevokeInvite:
		s.Invites[o.Ref].Revoked = true
	case KindAddUser:
		s.Members[o.Subject] = &Member{User: o.Subject, Name: o.SubjectName, Role: o.Role, AddedBy: o.Author, AddedAt: id, Invite: o.Ref}
		if !o.Ref.IsZero() {
			s.Invites[o.Ref].Used++
		}
		delete(s.Removed, o.Subject)
	case KindRemoveUser:
		delete(s.Members, o.Subject)
		s.removeNodesOf(o.Subject, id)
		s.Removed[o.Subject] = id
	case KindAddNode:
		s.Nodes[o.Node] = &NodeInfo{Key: o.Node, User: o.Subject, Name: o.SubjectName, AddedAt: id}
		delete(s.RemovedNodes, o.Node)
	case KindRemoveNode:
		delete(s.Nodes, o.Node)
		s.RemovedNodes[o.Node] = id
	case KindPut, KindDelete:
		s.applyRecord(o, id)
	case KindDelegateService:
		s.Services[o.Subject] = &ServiceInfo{Key: o.Subject, Name: o.SubjectName, Scopes: o.Scopes, Expires: o.Expires, Op: id}
	case KindRevokeService:
		si := *s.Services[o.Subject]
		si.Revoked = true
		s.Services[o.Subject] = &si
	}
}
