package ledger

import (
	"crypto/ed25519"
	"fmt"
	"time"
)

// Proofs an operation carries besides its author's signature, and the
// checks of time that keep an invite's expiry meaningful.

// RedeemSkew is how long after its invite's expiry, by the receiving node's
// clock, a redeem may first arrive when its author could not have added the
// user directly (see Log.Add).
const RedeemSkew = 5 * time.Minute

// verifyRedeem reports whether o.InviteSig is the signature by the invite
// key inviteKey over RedeemSigningBytes for o's network, invite, subject and
// role.
func verifyRedeem(inviteKey [32]byte, net NetworkID, o *Op) bool {
	return len(o.InviteSig) == ed25519.SignatureSize &&
		ed25519.Verify(inviteKey[:], RedeemSigningBytes(net, o.Ref, o.Subject, o.Role), o.InviteSig)
}

// checkNodeProof requires the NodeSig of an add_node unless the author is
// the owner (who binds devices' keys from their claim codes). Whether it
// verifies is checked with the author's signature (Op.VerifySignature),
// before an op enters a log: it depends on the op alone, and a fold then
// need not verify it again.
func (s *State) checkNodeProof(o *Op, author *Member, id ID) *Rejection {
	if len(o.NodeSig) == 0 && author.Role != RoleOwner {
		return &Rejection{Op: id, Err: ErrUnauthorized, Reason: fmt.Sprintf(
			"add_node of node %s carries no signature by that node's key: only the owner adds a node without its proof of possession", shortKey(o.Node))}
	}
	return nil
}

// checkTime refuses an operation dated before one of its parents: an author
// cannot have seen an op made after its own. Equal times are fine.
func (s *State) checkTime(o *Op, id ID) *Rejection {
	if s.anc == nil {
		return nil
	}
	for _, p := range o.Parents {
		if t, ok := s.anc.opTime(p); ok && o.Time < t {
			return &Rejection{Op: id, Err: ErrMalformed, Reason: fmt.Sprintf(
				"dated %s, before its parent %s (%s): an operation cannot predate what its author saw",
				fmtMillis(o.Time), p.Short(), fmtMillis(t))}
		}
	}
	return nil
}

func fmtMillis(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano) }

func (d *dag) opTime(id ID) (int64, bool) {
	if i, ok := d.idx[id]; ok {
		return d.ops[i].Time, true
	}
	return 0, false
}

// maxParentTime is the newest Time among o's parents that st's DAG holds.
func (s *State) maxParentTime(o *Op) int64 {
	var t int64
	if s.anc == nil {
		return t
	}
	for _, p := range o.Parents {
		if pt, ok := s.anc.opTime(p); ok && pt > t {
			t = pt
		}
	}
	return t
}

// InviteProblem says why inv cannot be redeemed now (revoked, used up,
// expired by the clock now, its author no longer a member or no longer able
// to invite its role), or "" if it can.
func (s *State) InviteProblem(inv *InviteInfo, now time.Time) string {
	inviter := s.Members[inv.Author]
	switch {
	case inv.Revoked:
		return fmt.Sprintf("invite %s was revoked", inv.ID.Short())
	case inv.Used >= inv.Uses:
		return fmt.Sprintf("invite %s is used up (%d of %d uses)", inv.ID.Short(), inv.Used, inv.Uses)
	case now.Unix() > inv.Expires:
		return fmt.Sprintf("invite %s expired at %s", inv.ID.Short(), time.Unix(inv.Expires, 0).UTC().Format(time.RFC3339))
	case inviter == nil:
		return fmt.Sprintf("invite %s was made by %s, who is no longer a member", inv.ID.Short(), s.nameOf(inv.Author))
	case !canInvite(inviter.Role, inv.Role):
		return fmt.Sprintf("invite %s was made by %s, who can no longer invite a %s", inv.ID.Short(), s.nameOf(inv.Author), inv.Role)
	}
	return ""
}

// canAdd reports whether a member of role author may add a user of role
// directly, without an invite.
func canAdd(author, role Role) bool { return canInvite(author, role) }

// lateRedeem is the check of a redeem's expiry against this node's clock
// when it first arrives (Add, AddAll; never Append, which dates ops by this
// clock, nor Open). cs is the state at the op's causal point; held reports
// whether the invite was in this log before the op arrived.
//
// The fold can check expiry only against the op's own Time, which its
// author chooses: dated before its invite's expiry (and no earlier than its
// parents), a redeem would pass the fold however late it was made. So a
// node refuses a redeem that reaches it more than RedeemSkew after the
// invite expired by its own clock, when:
//   - its author could not have added the user directly (a guest, or an
//     admin redeeming an admin invite): otherwise backdating gains nothing,
//     and honest joins, served by the inviter's node, are never refused for
//     arriving late at a node that was offline;
//   - the invite was already in this log: a node that receives the invite
//     and its redeems together (a new member's first sync, a member back
//     from long before the invite) has no earlier view to judge them by,
//     and takes them as the member that sent them did.
func lateRedeem(cs *State, o *Op, id ID, now time.Time, held bool) *Rejection {
	if o.Kind != KindAddUser || o.Ref.IsZero() || !held {
		return nil
	}
	inv := cs.Invites[o.Ref]
	if inv == nil || now.Add(-RedeemSkew).Unix() <= inv.Expires {
		return nil
	}
	if m := cs.Members[o.Author]; m != nil && canAdd(m.Role, o.Role) {
		return nil
	}
	return &Rejection{Op: id, Err: ErrUnauthorized, Reason: fmt.Sprintf(
		"invite %s expired at %s, and this redeem by %s reached this node only at %s (more than %v later): a redeem dated before its invite's expiry must arrive before it",
		o.Ref.Short(), time.Unix(inv.Expires, 0).UTC().Format(time.RFC3339), cs.nameOf(o.Author), now.UTC().Format(time.RFC3339), RedeemSkew)}
}
