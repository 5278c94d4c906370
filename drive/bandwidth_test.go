package drive

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	s, err := ParseSchedule("mon-fri 19:00-07:00", loc)
	if err != nil {
		t.Fatal(err)
	}
	at := func(day, hh, mm int) time.Time { return time.Date(2026, 11, 30+day, hh, mm, 0, 0, loc) } // 2026-11-30 is a Monday
	for _, c := range []struct {
		t    time.Time
		want bool
	}{
		{at(0, 18, 59), false}, {at(0, 19, 0), true}, {at(1, 6, 59), true}, {at(1, 7, 0), false},
		{at(4, 23, 0), true},  // friday night
		{at(5, 3, 0), true},   // saturday morning: friday's window
		{at(5, 20, 0), false}, // saturday night
		{at(7, 3, 0), false},  // monday morning: sunday had no window
		{at(0, 19, 0).In(time.UTC), true},
	} {
		if got := s.Active(c.t); got != c.want {
			t.Errorf("Active(%v) = %v, want %v", c.t, got, c.want)
		}
	}
	d, _ := ParseSchedule("sat,sun 00:00-24:00", loc)
	if !d.Active(at(5, 12, 0)) || d.Active(at(4, 12, 0)) {
		t.Error("weekend schedule")
	}
	for _, bad := range []string{"", "mon-fri", "mon-fry 1:00-2:00", "mon 25:00-01:00", "mon 1:00"} {
		if _, err := ParseSchedule(bad, loc); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSchedule(%q) = %v", bad, err)
		}
	}
	for in, want := range map[string]int64{"2MB/s": 2e6, "500KiB/s": 500 << 10, "1000": 1000, "1.5MiB": 3 << 19} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v, want %d", in, got, err, want)
		}
	}
}

// fakeClock is a clock that only sleeping moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return nil
}

// TestLimit: a sync through a 2 MB/s limit takes, on an injected clock,
// the time its bytes need at that rate (the measured rate is the limit,
// give or take one burst).
func TestLimit(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	lim := NewLimiter(2e6)
	lim.now, lim.sleep = clk.Now, clk.Sleep
	n := newPipeNet(t)
	a, b := member(t, 1, true), member(t, 2, true)
	data := make([]byte, 10<<20)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	a.WriteFile("big", data)
	n.add("a", a.Store(), ReplicaOptions{})
	rb, db := n.add("b", b.Store(), ReplicaOptions{Limit: lim})
	start := clk.Now()
	st := syncOK(t, rb, db, "a")
	elapsed := clk.Now().Sub(start).Seconds()
	moved := float64(st.BytesSent + st.BytesReceived)
	rate := moved / elapsed
	t.Logf("moved %.0f bytes in %.2f s of the injected clock: %.0f B/s (limit 2e6)", moved, elapsed, rate)
	if rate > 2e6*1.05 || rate < 2e6*0.8 {
		t.Fatalf("measured rate %.0f B/s, limit 2e6", rate)
	}
	if got, _ := b.ReadFile("big"); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestScheduleMetadataOnly: outside its window a replica syncs logs but
// not chunks; inside, the chunks follow.
func TestScheduleMetadataOnly(t *testing.T) {
	clk := &fakeClock{now: time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)} // monday noon
	sched, _ := ParseSchedule("mon-fri 19:00-07:00", time.UTC)
	n := newPipeNet(t)
	a, b := member(t, 1, true), member(t, 2, true)
	a.WriteFile("x", []byte("content"))
	n.add("a", a.Store(), ReplicaOptions{})
	rb, db := n.add("b", b.Store(), ReplicaOptions{Schedule: sched, Now: clk.Now})
	st := syncOK(t, rb, db, "a")
	if st.BlocksReceived != 1 || st.ChunksReceived != 0 {
		t.Fatalf("outside the window: %+v", st)
	}
	if _, err := b.Stat("x"); err != nil {
		t.Fatal("metadata did not sync")
	}
	clk.Sleep(context.Background(), 8*time.Hour) // 20:00
	if st := syncOK(t, rb, db, "a"); st.ChunksReceived != 1 {
		t.Fatalf("inside the window: %+v", st)
	}
	if got, _ := b.ReadFile("x"); string(got) != "content" {
		t.Fatalf("ReadFile = %q", got)
	}
}
