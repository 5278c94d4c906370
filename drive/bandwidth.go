package drive

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Schedule is a weekly window in which a drive syncs content; outside it
// a replica exchanges only logs (metadata) and neither asks for nor serves
// chunks. Parsed from "mon-fri 19:00-07:00" (a window may cross
// midnight: it belongs to the day it starts on).
type Schedule struct {
	Days       [7]bool // by time.Weekday
	Start, End int     // minutes after midnight; End <= Start crosses midnight
	Loc        *time.Location
}

var dayNames = map[string]time.Weekday{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

// ParseSchedule reads "DAYS HH:MM-HH:MM" where DAYS is "daily" or a comma
// list of days and day ranges ("mon-fri", "sat,sun", "mon,wed-fri"), in
// loc (nil: the machine's zone).
func ParseSchedule(s string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.Local
	}
	bad := func(why string) (*Schedule, error) {
		return nil, fmt.Errorf("%w: schedule %q: %s (want e.g. \"mon-fri 19:00-07:00\")", ErrMalformed, s, why)
	}
	f := strings.Fields(strings.ToLower(s))
	if len(f) != 2 {
		return bad("two parts")
	}
	sc := &Schedule{Loc: loc}
	if f[0] == "daily" {
		f[0] = "sun-sat"
	}
	for _, part := range strings.Split(f[0], ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, ok1 := dayNames[a]
		db, ok2 := dayNames[b]
		if !isRange {
			db, ok2 = da, ok1
		}
		if !ok1 || !ok2 {
			return bad("unknown day in " + part)
		}
		for d := da; ; d = (d + 1) % 7 {
			sc.Days[d] = true
			if d == db {
				break
			}
		}
	}
	from, to, ok := strings.Cut(f[1], "-")
	var err1, err2 error
	sc.Start, err1 = parseClock(from)
	sc.End, err2 = parseClock(to)
	if !ok || err1 != nil || err2 != nil {
		return bad("times")
	}
	return sc, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh*60+mm > 24*60 {
		return 0, fmt.Errorf("bad time %q", s)
	}
	return hh*60 + mm, nil
}

// Active reports whether t is inside the window.
func (s *Schedule) Active(t time.Time) bool {
	t = t.In(s.Loc)
	m := t.Hour()*60 + t.Minute()
	wd := t.Weekday()
	if s.Start < s.End {
		return s.Days[wd] && m >= s.Start && m < s.End
	}
	return (s.Days[wd] && m >= s.Start) || (s.Days[(wd+6)%7] && m < s.End)
}

// Limiter bounds the bytes per second a replica's sessions read and write,
// together (a token bucket). It is safe for concurrent use.
type Limiter struct {
	rate  float64
	burst int
	now   func() time.Time
	sleep func(context.Context, time.Duration) error

	mu     sync.Mutex // guards all following fields
	tokens float64
	last   time.Time
}

// NewLimiter allows bytesPerSec, in bursts of up to a tenth of a second
// (at least 16 KiB).
func NewLimiter(bytesPerSec int64) *Limiter {
	return &Limiter{rate: float64(bytesPerSec), burst: max(16<<10, int(bytesPerSec/10)), now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wait takes n <= burst tokens, sleeping for what is missing.
func (l *Limiter) wait(ctx context.Context, n int) error {
	l.mu.Lock()
	now := l.now()
	if l.last.IsZero() {
		l.tokens = float64(l.burst)
	} else {
		l.tokens = min(float64(l.burst), l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	l.tokens -= float64(n)
	deficit := -l.tokens
	l.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	return l.sleep(ctx, time.Duration(deficit/l.rate*float64(time.Second)))
}

type limited struct {
	io.ReadWriteCloser
	ctx context.Context
	l   *Limiter
}

func (s limited) Read(p []byte) (int, error) {
	n, err := s.ReadWriteCloser.Read(p[:min(len(p), s.l.burst)])
	if n > 0 {
		if werr := s.l.wait(s.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

func (s limited) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		k := min(len(p)-done, s.l.burst)
		if err := s.l.wait(s.ctx, k); err != nil {
			return done, err
		}
		n, err := s.ReadWriteCloser.Write(p[done : done+k])
		done += n
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// ParseRate reads a rate like "2MB/s", "500KiB/s" or "1000000" (bytes per
// second; KB, MB, GB are powers of 1000, KiB, MiB, GiB of 1024).
func ParseRate(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSpace(s), "/s")
	mult := int64(1)
	for _, u := range []struct {
		suf string
		m   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if v, ok := strings.CutSuffix(t, u.suf); ok {
			t, mult = v, u.m
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || f <= 0 {
		return 0, fmt.Errorf("%w: rate %q (want e.g. 2MB/s)", ErrMalformed, s)
	}
	return int64(f * float64(mult)), nil
}
