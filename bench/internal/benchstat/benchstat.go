// Package benchstat holds the arithmetic the benchmark programs share.
//
// It holds the arithmetic the benchmark programs share: latency summaries of round-
// trip samples and ratios between two sides.
package benchstat

import (
	"math"
	"slices"
	"time"
)

// Latency summarizes round-trip samples, in microseconds.
type Latency struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_us"`
	P99     float64 `json:"p99_us"`
	Mean    float64 `json:"mean_us"`
}

// Summarize computes the median, 99th percentile (nearest rank) and mean of d.
func Summarize(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	us := func(x time.Duration) float64 { return float64(x) / 1e3 }
	n := len(d)
	return Latency{Samples: n, P50: us(d[(n-1)/2]), P99: us(d[int(math.Ceil(0.99*float64(n)))-1]), Mean: us(sum / time.Duration(n))}
}

// Ratio is a/b, or 0 when either side measured nothing.
func Ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return 0
	}
	return a / b
}
