package main

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestShare(t *testing.T) {
	for _, tc := range []struct{ total, rounds int }{{10, 3}, {2000, 3}, {2, 3}, {0, 3}, {7, 1}} {
		sum := 0
		for r := range tc.rounds {
			sum += share(tc.total, tc.rounds, r)
		}
		if sum != tc.total {
			t.Errorf("sum of share(%d, %d, r) = %d, want %d", tc.total, tc.rounds, sum, tc.total)
		}
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		d = append(d, time.Duration(i)*time.Microsecond)
	}
	got := summarize(d)
	want := rttResult{Samples: 100, P50: 50 * time.Microsecond, P99: 99 * time.Microsecond, Mean: 50500 * time.Nanosecond}
	if got != want {
		t.Errorf("summarize(1..100µs) = %+v, want %+v", got, want)
	}
	if d[0] != 100*time.Microsecond {
		t.Errorf("summarize sorted its argument in place")
	}
}

// TestRunSmoke runs the whole benchmark with tiny counts so that it keeps
// working as the library changes. It checks no timings.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two nodes and two libp2p hosts; skipped with -short")
	}
	var out bytes.Buffer
	cfg := config{size: 1024, samples: 20, count: 60, conc: 4, warmup: 5, rounds: 2,
		transport: "auto", only: "all", jsonOut: true}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out.Bytes())
	}
	for _, side := range []string{"msg", "rpc", "raw_libp2p"} {
		if n := rep.RTT[side].Samples; n != 20 {
			t.Errorf("%s: %d round-trip samples, want 20", side, n)
		}
		for _, tp := range rep.Throughput[side] {
			if tp.Messages != 60 {
				t.Errorf("%s, %d senders: %d messages, want 60", side, tp.Senders, tp.Messages)
			}
		}
	}
	if rep.Goal == nil || rep.Goal.Senders != 4 || rep.Goal.Ratio <= 0 {
		t.Errorf("goal = %+v, want msg/rpc with 4 senders", rep.Goal)
	}
	if rep.Transport != "tcp" && rep.Transport != "quic" {
		t.Errorf("transport = %q, want tcp or quic", rep.Transport)
	}
}
