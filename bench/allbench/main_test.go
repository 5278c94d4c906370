package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestParse reads each script's JSON of a real run (testdata/, from
// bench/all.sh --out) into rows with a peer, a ratio and goals.
func TestParse(t *testing.T) {
	for _, name := range []string{"messaging", "stream", "rpc", "pubsub", "tunnel", "home", "control", "push", "controlattack", "pushflood"} {
		b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := parse(name, b)
		if err != nil || len(rows) == 0 {
			t.Fatalf("parse(%s) = %d rows, %v", name, len(rows), err)
		}
		for _, r := range rows {
			if r.Metric == "" || (r.Peer != "" && r.Ratio == 0) {
				t.Errorf("%s: row %+v has no metric, or a peer without a ratio", name, r)
			}
		}
	}
}

func TestGoals(t *testing.T) {
	tests := []struct {
		r    row
		goal string
		met  string
	}{
		{row{Job: "pubsub", Metric: "1KiB 1→10", Peer: "NATS", Ratio: 0.55}, "≥ 1× NATS", "no"},
		{row{Job: "pubsub", Metric: "1KiB 1→100", Peer: "NATS", Ratio: 2.3}, "≥ 1× NATS", "yes"},
		{row{Job: "pubsub", Metric: "1KiB 1→1", Peer: "NATS+TLS", Ratio: 1.2}, "", ""},
		{row{Job: "pubsub", Metric: "16B 1→1", Peer: "Mosquitto", Ratio: 10}, "≥ 2× Mosquitto", "yes"},
		{row{Job: "control", Metric: "registrations/s, renewal", Coconet: 3300}, "≥ 10,000/s", "no"},
		{row{Job: "control", Metric: "relayed throughput, tcp", Peer: "direct tcp", Ratio: 0.61}, "≥ 0.6", "yes"},
		{row{Job: "controlattack", Metric: "peak RSS under attack", Coconet: 264}, "< 300 MB", "yes"},
		{row{Job: "tunnel", Metric: "throughput, 1 connection (median)", Peer: "plain TCP", Ratio: 0.2}, "", ""},
		{row{Job: "messaging", Metric: "rtt p50", Peer: "raw go-libp2p", Ratio: 0.8}, "", ""},
		{row{Job: "pubsub", Metric: "CPU per delivery, 1KiB 1→1", Peer: "NATS", Ratio: 0.9}, "", ""},
		{row{Job: "control", Metric: "CPU per GB relayed (hosts + relay), tcp", Peer: "direct tcp", Ratio: 0.3}, "", ""},
	}
	for _, tt := range tests {
		r := tt.r
		applyGoal(&r)
		if !strings.HasPrefix(r.Goal, tt.goal) || r.Met != tt.met || (tt.goal == "" && r.Goal != "") {
			t.Errorf("applyGoal(%s %s %s) = %q, %q; want %q…, %q", r.Job, r.Metric, r.Peer, r.Goal, r.Met, tt.goal, tt.met)
		}
	}
}

// TestLastJSON: a script may print a line of text before its JSON.
func TestLastJSON(t *testing.T) {
	var v struct{ A int }
	if err := lastJSON([]byte("building…\n{\"A\": 3}\n"), &v); err != nil || v.A != 3 {
		t.Fatalf("lastJSON = %v, %+v; want A 3", err, v)
	}
}
