package ledger

import "hash/maphash"

// pmap is a persistent hash map: a hash trie of fanout 16 whose versions
// share their unchanged nodes, so that a snapshot of it costs nothing and an
// update O(log n). It has no delete (the ledger's indexes only grow).
//
// A version may be updated in place while it is private: set mutates the
// nodes stamped with the token it is given and copies the others (a
// "transient", as in Clojure), so a fold that owns its maps allocates only
// new nodes, and a log that has handed a version out switches to a new token
// and copies each path once.
type pmap[K comparable, V any] struct {
	root *pnode[K, V]
	n    int
}

type pnode[K comparable, V any] struct {
	tok  *token
	kids [16]*pnode[K, V]
	ents []pent[K, V]
}

type pent[K comparable, V any] struct {
	k K
	v V
}

// token marks the nodes one owner may change in place.
type token struct{ _ byte }

const pnodeCap = 4 // entries a node holds before new keys go below it

var pmapSeed = maphash.MakeSeed()

func (m *pmap[K, V]) len() int { return m.n }

func (m *pmap[K, V]) get(k K) (v V, ok bool) {
	h := maphash.Comparable(pmapSeed, k)
	for n, d := m.root, 0; n != nil; n, d = n.kids[h>>(4*d)&15], d+1 {
		for i := range n.ents {
			if n.ents[i].k == k {
				return n.ents[i].v, true
			}
		}
		if d == 15 {
			break
		}
	}
	return v, false
}

// set makes k map to v, changing in place the nodes stamped tok.
//
// A key is stored in the first node of its path that had room when it was
// added; nodes never lose entries, so below a node with room there is no
// key of that path, and the search stops there.
func (m *pmap[K, V]) set(k K, v V, tok *token) {
	h := maphash.Comparable(pmapSeed, k)
	own := func(n *pnode[K, V]) *pnode[K, V] {
		switch {
		case n == nil:
			return &pnode[K, V]{tok: tok}
		case n.tok == tok:
			return n
		}
		c := *n
		c.tok = tok
		c.ents = append([]pent[K, V](nil), n.ents...)
		return &c
	}
	m.root = own(m.root)
	for n, d := m.root, 0; ; d++ {
		for i := range n.ents {
			if n.ents[i].k == k {
				n.ents[i].v = v
				return
			}
		}
		if len(n.ents) < pnodeCap || d == 15 {
			n.ents = append(n.ents, pent[K, V]{k, v})
			m.n++
			return
		}
		j := h >> (4 * d) & 15
		n.kids[j] = own(n.kids[j])
		n = n.kids[j]
	}
}
