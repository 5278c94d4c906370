package ledger

import (
	"fmt"
	"slices"
	"time"

	"github.com/coconet/coconet/identity"
)

// Quotas bound what one member can make every other member store and fold.
// They are part of the permission matrix (State.Check), so they are decided
// in the fold, from the ops' own signed times and the DAG, never from a
// node's clock:
//
//   - Operations per author per hour: at most QuotaOpsPerHour[role] of an
//     author's operations dated in one hour (UTC, from hh:00 to hh:59) take
//     effect. The count is over the author's operations that took effect
//     earlier in the canonical order: their ancestors and the concurrent
//     operations the order puts first. Concurrent branches of one author
//     dated in the same hour therefore share one budget; an operation may
//     not be dated before its newest parent, so an author's operations
//     cannot all be dated in one past hour either unless they all fork from
//     before it, and then they share that hour's budget.
//   - Nodes per member: a member may have at most QuotaNodes[role] nodes at
//     a time (whoever adds them).
//
// The owner has no quota. A refused operation gets a *Rejection wrapping
// ErrQuota whose reason names the quota.
var (
	QuotaOpsPerHour = map[Role]int{RoleGuest: 1000, RoleAdmin: 10000}
	QuotaNodes      = map[Role]int{RoleGuest: 16, RoleAdmin: 256}
)

// quotaState counts, in a State, what the quotas bound. Its maps are
// persistent (see pmap), changed in place only with tok, so that extending
// a state handed out costs no copy of them.
type quotaState struct {
	tok    *token
	hourly pmap[hourKey, int32]              // ops that took effect per author and hour
	nodes  pmap[identity.UserID, [][32]byte] // each member's nodes (never changed in place)
}

type hourKey struct {
	user identity.UserID
	hour int64 // unix hours
}

func hourOf(ms int64) int64 {
	h := ms / int64(time.Hour/time.Millisecond)
	if ms < 0 && ms%int64(time.Hour/time.Millisecond) != 0 {
		h-- // floor, for the odd op dated before 1970
	}
	return h
}

// checkQuota refuses o if its author, or the member it adds a node to, has
// used up a quota.
func (s *State) checkQuota(o *Op, author *Member, id ID) *Rejection {
	deny := func(format string, args ...any) *Rejection {
		return &Rejection{Op: id, Reason: "quota: " + fmt.Sprintf(format, args...), Err: ErrQuota}
	}
	if lim := QuotaOpsPerHour[author.Role]; lim > 0 && author.Role != RoleOwner {
		h := hourOf(o.Time)
		if n, _ := s.quota.hourly.get(hourKey{o.Author, h}); int(n) >= lim {
			from := time.Unix(h*3600, 0).UTC().Format("2006-01-02 15:04")
			return deny("%s %s already has %d operations dated in the hour from %s UTC; a %s may make %d an hour",
				author.Role, s.nameOf(o.Author), n, from, author.Role, lim)
		}
	}
	if o.Kind == KindAddNode {
		if subj := s.Members[o.Subject]; subj != nil && subj.Role != RoleOwner {
			lim := QuotaNodes[subj.Role]
			if ns, _ := s.quota.nodes.get(o.Subject); lim > 0 && len(ns) >= lim {
				return deny("%s %s already has %d nodes, the most a %s may have; remove one first",
					subj.Role, s.nameOf(o.Subject), len(ns), subj.Role)
			}
		}
	}
	return nil
}

// countQuota counts o, which is about to take effect, against the quotas.
func (s *State) countQuota(o *Op) {
	if o.Kind == KindGenesis {
		return
	}
	q := &s.quota
	if q.tok == nil {
		q.tok = new(token)
	}
	if m := s.Members[o.Author]; m != nil && m.Role != RoleOwner {
		k := hourKey{o.Author, hourOf(o.Time)}
		n, _ := q.hourly.get(k)
		q.hourly.set(k, n+1, q.tok)
	}
	switch o.Kind {
	case KindAddNode:
		ns, _ := q.nodes.get(o.Subject)
		q.nodes.set(o.Subject, append(ns[:len(ns):len(ns)], o.Node), q.tok)
	case KindRemoveNode:
		if nd := s.Nodes[o.Node]; nd != nil {
			ns, _ := q.nodes.get(nd.User)
			q.nodes.set(nd.User, slices.DeleteFunc(slices.Clone(ns), func(k [32]byte) bool { return k == o.Node }), q.tok)
		}
	}
}

// removeNodesOf removes the nodes of user u, with the removal op id: what
// remove_user does to them (without a scan of every node).
func (s *State) removeNodesOf(u identity.UserID, id ID) {
	q := &s.quota
	if q.tok == nil {
		q.tok = new(token)
	}
	ns, _ := q.nodes.get(u)
	for _, k := range ns {
		if n := s.Nodes[k]; n != nil && n.User == u {
			delete(s.Nodes, k)
			s.RemovedNodes[k] = id
		}
	}
	if len(ns) > 0 {
		q.nodes.set(u, nil, q.tok)
	}
}
