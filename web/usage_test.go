package web

import (
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/api"
)

// The usage samples are kept in the home: a restarted app draws the
// month it sampled before. Samples closer than the interval replace the
// latest one, and the ring keeps at most usageKeep of a network.
func TestUsageRingKeptAndBounded(t *testing.T) {
	path := UsagePath(t.TempDir())
	r, err := loadUsage(path, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	u := api.Usage{Month: "2026-12", Bytes: 10, LimitBytes: 1000, Nodes: 1, LimitNodes: 5}
	for i := range 4 { // every 15 minutes: the 3rd and 4th replace the 2nd
		u.Bytes = int64(10 * (i + 1))
		if err := r.add("n1", u, t0.Add(time.Duration(i)*15*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.month("n1", "2026-12"); len(got) != 2 || got[1].Bytes != 40 {
		t.Fatalf("samples %+v: want the first and the latest", got)
	}
	r.add("n1", u, t0.Add(2*time.Hour))
	r2, err := loadUsage(path, time.Hour) // the app restarted
	if err != nil {
		t.Fatal(err)
	}
	if got := r2.month("n1", "2026-12"); len(got) != 3 {
		t.Fatalf("after a restart: %d samples, want 3", len(got))
	}
	if got := r2.month("n1", "2026-11"); len(got) != 0 {
		t.Fatalf("another month: %d samples", len(got))
	}
	mem, _ := loadUsage("", 0) // in memory, no coalescing: only the bound
	for i := range usageKeep + 10 {
		mem.add("n2", u, t0.Add(time.Duration(i)*time.Second))
	}
	if n := len(mem.nets["n2"]); n != usageKeep {
		t.Fatalf("%d samples kept, want %d", n, usageKeep)
	}
	mem.add("n2", u, t0.Add(usageAge+time.Hour)) // two months on: the old ones go
	if n := len(mem.nets["n2"]); n != 1 {
		t.Fatalf("%d samples kept after two months, want 1", n)
	}
}

// The chart draws the samples against the plan's limit, and says where
// the month ends at its pace.
func TestUsageChart(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ss := []usageSample{{T: t0.Add(24 * time.Hour).Unix(), Bytes: 100e6, LimitBytes: 500e6}, {T: t0.Add(10 * 24 * time.Hour).Unix(), Bytes: 200e6, LimitBytes: 500e6}}
	c, err := drawUsage("Traffic <this> month", "2026-12", true, ss,
		func(s usageSample) (float64, float64) { return float64(s.Bytes), float64(s.LimitBytes) },
		func(f float64) string { return bytes(int64(f)) })
	if err != nil {
		t.Fatal(err)
	}
	svg := string(c.SVG)
	if !strings.Contains(svg, `class="limit"`) || strings.Count(strings.Split(strings.Split(svg, `points="`)[1], `"`)[0], ",") != 2 {
		t.Fatalf("chart without its limit or two points: %s", svg)
	}
	if strings.Contains(svg, "<this>") {
		t.Fatal("the title is not escaped in the SVG")
	}
	if !strings.Contains(c.Projection, "of the plan") {
		t.Fatalf("projection %q", c.Projection)
	}
}
