package ledger

import (
	"maps"
	"slices"
	"time"
)

// Extending the fold by one operation.
//
// Most operations a log takes descend from the whole log: every Append (its
// parents are the heads), and every op of live sync that follows the last
// one seen. Such an op comes last in the canonical order, is concurrent with
// nothing, and so is voided by no removal and (if it is a removal) voids
// nothing: the fold of the log with it is the fold without it, plus the op
// checked and applied on top. extendLocked computes exactly that, in time
// independent of the log's size; the property test (refmodel_test.go) and
// TestExtendMatchesFold check it against Fold.
//
// A State the log has handed out (by State, to OnChange hooks) must stay
// as it was, so the log changes its state in place only while nobody else
// holds it; after that it copies the State struct (a few words) and, on
// first use, each map an op changes (copy on write): a run of Appends with
// nobody reading costs O(1) each, and one read costs at most one copy of the
// maps the next op touches. The DAG's slices are shared with older versions
// (appends go past their length) and its index and the quota counters are
// persistent maps (pmap).

// Maps of the log's state that the log may change in place (see Log.own).
const (
	ownMembership = 1 << iota // Members, Invites (values too), Removed, names
	ownNodes                  // Nodes, RemovedNodes
	ownRecords                // Records, the map of tables
	ownAllTables              // every table of Records
	ownAll        = ownMembership | ownNodes | ownRecords | ownAllTables
)

// extendable reports whether o descends from every op of the log and the
// current state is the fold of the whole log.
func (l *Log) extendable(o *Op) bool {
	if !l.fresh || l.state == nil || l.state.dag == nil || len(l.state.dag.ops) != len(l.ops) {
		return false
	}
	ps := slices.Clone(o.Parents)
	slices.SortFunc(ps, compareID)
	return slices.Equal(slices.Compact(ps), l.heads)
}

// extendLocked makes o, already stored in l.ops and extendable, part of the
// state. It returns o's rejection, if the fold gives it no effect.
func (l *Log) extendLocked(o *Op, id ID) *Rejection {
	s := l.state
	if l.out {
		c := *s
		s = &c
		d := *s.dag
		d.tok = new(token)
		s.dag, s.anc = &d, &d
		s.quota.tok = new(token)
		l.own, l.ownTables, l.out = 0, make(map[string]bool), false
	}
	s.dag.push(o, id)
	if o.Kind == KindRemoveUser {
		// Its causal point is the whole log: the state as it is now.
		var sn seniority
		if m := s.Members[o.Author]; m != nil {
			sn = seniority{role: m.Role, addedAt: m.AddedAt}
		}
		l.memo[id] = sn
	}
	l.ownFor(s, o)
	s.nameOp(o)
	rej := s.check(o, id)
	if rej != nil {
		s.Rejected = append(s.Rejected, *rej)
	} else {
		s.apply(o, id)
	}
	l.state = s
	l.heads = []ID{id}
	l.fresh = true
	return rej
}

// ownFor copies the maps of s that o may change and s shares with states
// handed out.
func (l *Log) ownFor(s *State, o *Op) {
	switch o.Kind {
	case KindPut, KindDelete:
		if l.own&ownRecords == 0 {
			s.Records = maps.Clone(s.Records)
			l.own |= ownRecords
		}
		if l.own&ownAllTables == 0 && !l.ownTables[o.Table] {
			if t := s.Records[o.Table]; t != nil {
				s.Records[o.Table] = maps.Clone(t) // records are replaced, never changed in place
			}
			l.ownTables[o.Table] = true
		}
		return
	case KindAddNode, KindRemoveNode:
	default: // membership and anything new: everything but the records
		if l.own&ownMembership == 0 {
			s.Members = maps.Clone(s.Members) // members are replaced, never changed in place
			s.Invites = cloneValues(s.Invites)
			s.Removed = maps.Clone(s.Removed)
			s.names = maps.Clone(s.names)
			s.Services = maps.Clone(s.Services) // services are replaced, never changed in place
			l.own |= ownMembership
		}
	}
	if l.own&ownNodes == 0 {
		s.Nodes = maps.Clone(s.Nodes) // nodes are replaced, never changed in place
		s.RemovedNodes = maps.Clone(s.RemovedNodes)
		l.own |= ownNodes
	}
}

func cloneValues[K comparable, V any](m map[K]*V) map[K]*V {
	out := make(map[K]*V, len(m))
	for k, v := range m {
		cv := *v
		out[k] = &cv
	}
	return out
}

// future reports whether o is dated too far ahead of now.
func future(o *Op, now time.Time) bool { return o.Time > now.Add(MaxClockSkew).UnixMilli() }
