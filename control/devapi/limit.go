package devapi

import (
	"sync"
	"time"
)

// Rate is a token bucket's refill rate and depth.
type Rate struct {
	PerSecond float64
	Burst     int
}

// limiter keeps a token bucket per name (an API key's ID, or a source
// address for requests that fail to authenticate), at most max of them;
// past that, full buckets are forgotten first, then the table is cleared
// (a flood of names cannot grow it without bound).
type limiter struct {
	rate Rate
	max  int
	now  func() time.Time

	mu      sync.Mutex // guards following fields
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(r Rate, max int, now func() time.Time) *limiter {
	return &limiter{rate: r, max: max, now: now, buckets: map[string]*bucket{}}
}

// allow takes one token from name's bucket; if there is none it reports
// how long until there is.
func (l *limiter) allow(name string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[name]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.trimLocked(now)
		}
		b = &bucket{tokens: float64(l.rate.Burst), last: now}
		l.buckets[name] = b
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = min(float64(l.rate.Burst), b.tokens+dt*l.rate.PerSecond)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate.PerSecond * float64(time.Second))
	return false, wait
}

func (l *limiter) trimLocked(now time.Time) {
	for name, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate.PerSecond >= float64(l.rate.Burst) {
			delete(l.buckets, name)
		}
	}
	if len(l.buckets) >= l.max {
		// Every bucket is in use: a flood of names. Starting them all
		// full again costs at most one burst each.
		clear(l.buckets)
	}
}
