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
// proportional to the state's size instead of a fold's O(n²); the property
// test (refmodel_test.go) and TestExtendMatchesFold check it against Fold.

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
	old := l.state
	d := old.dag
	n := len(d.ops)
	nd := &dag{
		ops:      append(d.ops[:n:n], o),
		ids:      append(d.ids[:n:n], id),
		idx:      maps.Clone(d.idx),
		anc:      append(d.anc[:n:n], nil),
		byAuthor: maps.Clone(d.byAuthor),
	}
	nd.idx[id] = n
	a := newBitset(n + 1)
	for _, p := range o.Parents {
		j := d.idx[p]
		a.set(j)
		a.or(d.anc[j])
	}
	nd.anc[n] = a
	nd.byAuthor[o.Author] = append(slices.Clone(d.byAuthor[o.Author]), n)

	s := old.clone()
	s.anc, s.dag = nd, nd
	switch {
	case o.Kind == KindGenesis && o.SubjectName != "":
		s.names[o.Author] = o.SubjectName
	case o.Kind == KindAddUser && o.SubjectName != "":
		s.names[o.Subject] = o.SubjectName
	}
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

// clone copies s deeply enough that applying an op to the copy leaves s
// unchanged.
func (s *State) clone() *State {
	c := *s
	c.Members = cloneValues(s.Members)
	c.Nodes = cloneValues(s.Nodes)
	c.Invites = cloneValues(s.Invites)
	c.Removed = maps.Clone(s.Removed)
	c.RemovedNodes = maps.Clone(s.RemovedNodes)
	c.Records = make(map[string]map[string]*Record, len(s.Records))
	for t, rs := range s.Records {
		c.Records[t] = maps.Clone(rs) // records are replaced, never changed in place
	}
	c.Rejected = slices.Clone(s.Rejected)
	c.names = maps.Clone(s.names)
	return &c
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
