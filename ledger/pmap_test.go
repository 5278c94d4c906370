package ledger

import (
	"math/rand/v2"
	"testing"
)

// TestPmap checks the persistent map against a Go map, and that versions
// handed out do not change when a later version is updated.
func TestPmap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var m pmap[uint32, int]
	ref := map[uint32]int{}
	tok := new(token)
	type snap struct {
		m   pmap[uint32, int]
		ref map[uint32]int
	}
	var snaps []snap
	for i := range 20000 {
		k := r.Uint32N(5000)
		m.set(k, i, tok)
		ref[k] = i
		if i%997 == 0 {
			c := make(map[uint32]int, len(ref))
			for k, v := range ref {
				c[k] = v
			}
			snaps = append(snaps, snap{m, c})
			tok = new(token) // the version is out: copy its nodes from now on
		}
	}
	check := func(m pmap[uint32, int], ref map[uint32]int) {
		t.Helper()
		if m.len() != len(ref) {
			t.Fatalf("len = %d, want %d", m.len(), len(ref))
		}
		for k := range uint32(5100) {
			v, ok := m.get(k)
			w, wok := ref[k]
			if ok != wok || v != w {
				t.Fatalf("get(%d) = %d, %v; want %d, %v", k, v, ok, w, wok)
			}
		}
	}
	check(m, ref)
	for _, s := range snaps {
		check(s.m, s.ref)
	}
}
