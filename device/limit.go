package device

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
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

// table is a bounded set of buckets by key.
type table struct {
	spec bucketSpec
	max  int
	m    map[string]*bucket
}

// get returns key's bucket refilled to now, or a full one that is not yet
// stored.
func (t *table) get(key string, now time.Time) *bucket {
	if b := t.m[key]; b != nil {
		b.refill(t.spec, now)
		return b
	}
	return &bucket{tokens: t.spec.burst, last: now}
}

// put stores b under key, making room when the table is full: buckets that
// are full again carry nothing and go first, then the least recently used
// one. Evicting a stranger's empty bucket gives it fresh tries, but only
// after it made max other entries, which the address bucket slows down.
func (t *table) put(key string, b *bucket, now time.Time) {
	if _, ok := t.m[key]; ok || len(t.m) < t.max {
		t.m[key] = b
		return
	}
	var oldest string
	var oldestAt time.Time
	for k, e := range t.m {
		e.refill(t.spec, now)
		if e.tokens >= t.spec.burst {
			delete(t.m, k)
			continue
		}
		if oldest == "" || e.last.Before(oldestAt) {
			oldest, oldestAt = k, e.last
		}
	}
	if len(t.m) >= t.max {
		delete(t.m, oldest)
	}
	t.m[key] = b
}

// limiter decides whether a claim try may go on.
type limiter struct {
	now func() time.Time

	mu    sync.Mutex
	peers table
	addrs table
}

func newLimiter(now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	return &limiter{
		now:   now,
		peers: table{spec: peerTries, max: maxTable, m: map[string]*bucket{}},
		addrs: table{spec: addrTries, max: maxTable, m: map[string]*bucket{}},
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
		return ErrTooManyTries
	}
	b := l.peers.get(string(p), now)
	if b.tokens < 1 {
		return ErrTooManyTries
	}
	a.tokens--
	b.tokens--
	l.addrs.put(ak, a, now)
	l.peers.put(string(p), b, now)
	return nil
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
	if a == nil {
		return ""
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return ""
	}
	if ip4 := ip.To4(); ip4 != nil {
		return ip4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
