package device

import (
	"container/list"
	"errors"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/internal/srckey"
)

// ErrTooManyTries is the claim host's answer to a peer or an address that
// tried too many claims in a short time. The code itself does not change:
// a 128-bit secret cannot be guessed, and changing it on strangers' failures
// would let a neighbour keep the owner locked out.
var ErrTooManyTries = errors.New("too many claim tries from your node or address: wait a minute and try again")

// Claim tries are limited by a token bucket per peer ID and one per source
// address (an IPv6 address by its /64), so that throwaway keys do not help.
// Both tables are bounded: a stranger with many keys or addresses cannot
// grow them without bound.
var (
	peerTries = bucketSpec{burst: 5, every: 12 * time.Second} // 5 a minute
	addrTries = bucketSpec{burst: 20, every: 3 * time.Second} // 20 a minute
	maxTable  = 1024                                          // entries per table
)

type bucketSpec struct {
	burst float64
	every time.Duration // one token comes back every so often
}

type bucket struct {
	tokens float64
	last   time.Time // of the last refill
}

// refill brings b's tokens up to date at now.
func (b *bucket) refill(s bucketSpec, now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(s.burst, b.tokens+float64(d)/float64(s.every))
		b.last = now
	}
}

// table is a bounded set of buckets by key, least recently used first to
// go when it is full. Evicting a stranger's empty bucket gives it fresh
// tries, but only after max other keys were used, which the address bucket
// slows down; an evicted bucket of the owner's comes back full.
type table struct {
	spec bucketSpec
	max  int
	m    map[string]*list.Element // of *entry
	lru  list.List                // most recently used at the front
}

type entry struct {
	key string
	bucket
}

func newTable(spec bucketSpec, max int) *table {
	return &table{spec: spec, max: max, m: map[string]*list.Element{}}
}

// get returns key's bucket refilled to now, stored and marked used.
func (t *table) get(key string, now time.Time) *bucket {
	if el := t.m[key]; el != nil {
		t.lru.MoveToFront(el)
		e := el.Value.(*entry)
		e.refill(t.spec, now)
		return &e.bucket
	}
	if t.lru.Len() >= t.max {
		old := t.lru.Back()
		t.lru.Remove(old)
		delete(t.m, old.Value.(*entry).key)
	}
	e := &entry{key: key, bucket: bucket{tokens: t.spec.burst, last: now}}
	t.m[key] = t.lru.PushFront(e)
	return &e.bucket
}

// limiter decides whether a claim try may go on.
type limiter struct {
	now func() time.Time

	mu      sync.Mutex
	peers   *table
	addrs   *table
	refused int       // tries refused since the last report
	told    time.Time // when refused was last reported
}

func newLimiter(now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{
		now:   now,
		peers: newTable(peerTries, maxTable),
		addrs: newTable(addrTries, maxTable),
	}
}

// allow takes a token from p's bucket and from its address's, or returns
// ErrTooManyTries and takes none. A try refused by its address's bucket
// makes no entry for p: keys thrown away after one try do not fill the
// peer table faster than the address bucket lets them.
func (l *limiter) allow(p peer.ID, remote ma.Multiaddr) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	ak := addrKey(remote)
	a := l.addrs.get(ak, now)
	if a.tokens < 1 {
		l.refused++
		return ErrTooManyTries
	}
	b := l.peers.get(string(p), now)
	if b.tokens < 1 {
		l.refused++
		return ErrTooManyTries
	}
	a.tokens--
	b.tokens--
	return nil
}

// report returns how many tries were refused since it last returned a
// count, at most once a minute, so that refusals are logged without a
// stranger flooding the log.
func (l *limiter) report() (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.refused == 0 || now.Sub(l.told) < time.Minute {
		return 0, false
	}
	n := l.refused
	l.refused, l.told = 0, now
	return n, true
}

// size is how many entries the limiter holds (peers, addresses).
func (l *limiter) size() (peers, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers.m), len(l.addrs.m)
}

// addrKey is what a connection's source address counts under: its IP, an
// IPv6 address by its /64 (one host's share), "" when it has none.
func addrKey(a ma.Multiaddr) string {
	return srckey.Multiaddr(a)
}
