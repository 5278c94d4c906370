package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/internal/atomicfile"
)

// Control-plane usage over time. The control plane reports only this
// month's totals; the app samples them (every UsageEvery while it runs,
// and on each view of the usage page) into a small ring kept in the home
// (web.usage, JSON: at most usageKeep samples a network, none older than
// usageAge), so the chart survives restarts. The chart is SVG drawn on
// the server: no script, no library.

// DefaultUsageEvery is how often the app samples each network's usage.
const DefaultUsageEvery = 15 * time.Minute

const (
	usageKeep = 3000                // samples a network: a month at 15 minutes
	usageAge  = 62 * 24 * time.Hour // this month's and the last
)

// UsagePath is where the home keeps the usage samples.
func UsagePath(home string) string { return filepath.Join(home, "web.usage") }

// usageSample is one reading of a network's usage.
type usageSample struct {
	T          int64  `json:"t"` // Unix seconds
	Month      string `json:"month"`
	Bytes      int64  `json:"bytes"`
	LimitBytes int64  `json:"limit_bytes,omitempty"`
	Nodes      int    `json:"nodes"`
	LimitNodes int    `json:"limit_nodes,omitempty"`
}

// usageRing holds the samples of every network, by network ID.
type usageRing struct {
	path  string // "" keeps them in memory only
	every time.Duration

	mu   sync.Mutex
	nets map[string][]usageSample
}

func loadUsage(path string, every time.Duration) (*usageRing, error) {
	r := &usageRing{path: path, every: every, nets: map[string][]usageSample{}}
	if path == "" {
		return r, nil
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &r.nets)
	}
	if err != nil {
		return nil, fmt.Errorf("web: read usage samples: %w", err)
	}
	return r, nil
}

// add records u for network at now; a sample less than every after the
// last one replaces it (page views do not flood the ring).
func (r *usageRing) add(network string, u api.Usage, now time.Time) error {
	s := usageSample{T: now.Unix(), Month: u.Month, Bytes: u.Bytes, LimitBytes: u.LimitBytes, Nodes: u.Nodes, LimitNodes: u.LimitNodes}
	r.mu.Lock()
	defer r.mu.Unlock()
	ss := r.nets[network]
	if n := len(ss); n > 1 && now.Sub(time.Unix(ss[n-2].T, 0)) < r.every {
		ss[n-1] = s
	} else {
		ss = append(ss, s)
	}
	cut := 0
	for cut < len(ss) && (len(ss)-cut > usageKeep || now.Sub(time.Unix(ss[cut].T, 0)) > usageAge) {
		cut++
	}
	r.nets[network] = append([]usageSample(nil), ss[cut:]...)
	if r.path == "" {
		return nil
	}
	b, _ := json.Marshal(r.nets)
	if err := atomicfile.Write(r.path, b, 0o600); err != nil {
		return fmt.Errorf("web: write usage samples: %w", err)
	}
	return nil
}

// month is network's samples of month.
func (r *usageRing) month(network, month string) []usageSample {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []usageSample
	for _, s := range r.nets[network] {
		if s.Month == month {
			out = append(out, s)
		}
	}
	return out
}

// sample reads the usage of every network and records it.
func (s *Server) sample(ctx context.Context) {
	nets, err := s.svc.Networks(ctx)
	if err != nil {
		return
	}
	for _, n := range nets {
		uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		u, err := s.svc.Usage(uctx, n.ID.String())
		cancel()
		if err != nil {
			continue // no control plane, or the node is not running
		}
		if err := s.usage.add(n.ID.String(), u, time.Now()); err != nil {
			s.logf("%v", err)
		}
	}
}

// sampler samples every UsageEvery until ctx ends.
func (s *Server) sampler(ctx context.Context) {
	t := time.NewTicker(s.usage.every)
	defer t.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// usageChart is a month of one measure against its limit, drawn.
type usageChart struct {
	Title, Desc string
	SVG         template.HTML
	Rows        []usageRow
	Projection  string
}

type usageRow struct{ When, Value string }

// chart geometry (viewBox units).
const (
	chartW, chartH         = 640.0, 220.0
	chartLeft, chartBottom = 72.0, 28.0
	chartTop, chartRight   = 12.0, 12.0
)

// drawUsage draws samples of month (YYYY-MM) with value and limit read by
// get, each value written by format. A cumulative measure (the month's
// bytes) is projected to the month's end at its pace so far.
func drawUsage(title, month string, cumulative bool, samples []usageSample, get func(usageSample) (float64, float64), format func(float64) string) (usageChart, error) {
	start, err := time.Parse("2006-01", month)
	if err != nil {
		return usageChart{}, fmt.Errorf("web: month %q: %w", month, err)
	}
	end := start.AddDate(0, 1, 0)
	c := usageChart{Title: title}
	top, limit := 0.0, 0.0
	for _, s := range samples {
		v, l := get(s)
		top, limit = math.Max(top, v), l
	}
	top = math.Max(top, limit) * 1.1
	if top == 0 {
		top = 1
	}
	x := func(t time.Time) float64 {
		return chartLeft + (chartW-chartLeft-chartRight)*float64(t.Sub(start))/float64(end.Sub(start))
	}
	y := func(v float64) float64 { return chartH - chartBottom - (chartH-chartBottom-chartTop)*v/top }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %g %g" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(title))
	// Axes, with the month's weeks and the value's quarters.
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, chartLeft, chartH-chartBottom, chartW-chartRight, chartH-chartBottom)
	fmt.Fprintf(&b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`, chartLeft, chartTop, chartLeft, chartH-chartBottom)
	for d := 1; d <= 29; d += 7 {
		t := start.AddDate(0, 0, d-1)
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%g" text-anchor="middle">%s</text>`, x(t), chartH-8, t.Format("Jan 2"))
	}
	for q := 1; q <= 4; q++ {
		v := top / 1.1 * float64(q) / 4
		fmt.Fprintf(&b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="tick" x="%g" y="%.1f" text-anchor="end">%s</text>`,
			chartLeft, y(v), chartW-chartRight, y(v), chartLeft-6, y(v)+4, template.HTMLEscapeString(format(v)))
	}
	if limit > 0 {
		fmt.Fprintf(&b, `<line class="limit" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text class="limit-label" x="%g" y="%.1f" text-anchor="end">plan limit</text>`,
			chartLeft, y(limit), chartW-chartRight, y(limit), chartW-chartRight-4, y(limit)-4)
	}
	if len(samples) > 0 {
		var pts []string
		for _, s := range samples {
			v, _ := get(s)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(time.Unix(s.T, 0)), y(v)))
		}
		fmt.Fprintf(&b, `<polyline class="series" points="%s"/>`, strings.Join(pts, " "))
		last := samples[len(samples)-1]
		lv, _ := get(last)
		fmt.Fprintf(&b, `<circle class="series-dot" cx="%s" r="3"/>`, strings.Replace(pts[len(pts)-1], ",", `" cy="`, 1))
		// At this month's pace so far, where it ends.
		if el := time.Unix(last.T, 0).Sub(start); cumulative && el > time.Hour && lv > 0 {
			proj := lv * float64(end.Sub(start)) / float64(el)
			c.Projection = fmt.Sprintf("At this pace, %s by the end of the month", format(proj))
			if limit > 0 {
				c.Projection += fmt.Sprintf(" (%.0f%% of the plan's %s)", 100*proj/limit, format(limit))
			}
		}
	}
	b.WriteString(`</svg>`)
	c.SVG = template.HTML(b.String()) // every text in it escaped above
	for i := len(samples) - 1; i >= 0 && len(c.Rows) < 12; i-- {
		v, _ := get(samples[i])
		c.Rows = append(c.Rows, usageRow{When: time.Unix(samples[i].T, 0).UTC().Format("Jan 2 15:04 UTC"), Value: format(v)})
	}
	c.Desc = fmt.Sprintf("%d samples this month", len(samples))
	return c, nil
}
