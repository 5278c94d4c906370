package control

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/coconet/coconet/member"
)

// proofCacheSize bounds the proofs a control plane remembers as verified
// (about 200 bytes each), and genesisCacheSize the genesis operations.
const (
	proofCacheSize   = 1 << 16
	genesisCacheSize = 1 << 14
)

// proofCache remembers membership proofs that verified, keyed by the hash
// of the node key and the proof's bytes, so that a node coming back with
// the same proof (every registration renewal and lookup) costs no
// signature check. Only successes are kept; an entry is used only while
// the proof is still valid and the clock has not gone back past when it
// was checked, and revocations are checked on every request apart from
// this. Past its size the oldest entry is forgotten.
type proofCache struct {
	mu      sync.Mutex // guards following fields
	max     int
	entries map[[32]byte]proofEntry
	ring    [][32]byte // keys in the order added; next is the oldest once full
	next    int
}

type proofEntry struct {
	v  *member.Verified
	at time.Time // when it was verified
}

func newProofCache(max int) *proofCache {
	return &proofCache{max: max, entries: map[[32]byte]proofEntry{}}
}

func proofCacheKey(proof []byte) [32]byte { return sha256.Sum256(proof) }

// get returns the verified proof under key if it is still valid at now.
func (c *proofCache) get(key [32]byte, now time.Time) *member.Verified {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.v.Until) || now.Before(e.at) {
		return nil
	}
	return e.v
}

func (c *proofCache) add(key [32]byte, v *member.Verified, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; ok {
		c.entries[key] = proofEntry{v: v, at: now}
		return
	}
	if len(c.ring) < c.max {
		c.ring = append(c.ring, key)
	} else {
		delete(c.entries, c.ring[c.next])
		c.ring[c.next] = key
		c.next = (c.next + 1) % c.max
	}
	c.entries[key] = proofEntry{v: v, at: now}
}

func (c *proofCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
