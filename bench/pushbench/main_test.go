package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary be the push server child too.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-serve" {
		fs := flag.NewFlagSet("serve", flag.ExitOnError)
		mode := fs.String("serve", "", "")
		relayTo := fs.String("relay-to", "", "")
		dialect := fs.String("dialect", "p2pcluster", "")
		fs.Parse(os.Args[1:])
		p2p = *dialect == "p2pcluster"
		if err := serve(*mode, benchKey, *relayTo); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestAppendLen(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want []byte
	}{
		{0, []byte{0}}, {127, []byte{0x7f}}, {128, []byte{0x80, 0x01}},
		{16383, []byte{0xff, 0x7f}}, {16384, []byte{0x80, 0x80, 0x01}}, // MQTT 3.1.1, 2.2.3
	} {
		if got := appendLen(nil, tt.n); !bytes.Equal(got, tt.want) {
			t.Errorf("appendLen(%d) = %x, want %x", tt.n, got, tt.want)
		}
	}
}

func TestPayload(t *testing.T) {
	p := payload(42, 32)
	if len(p) != 32 || seqOf(p) != 42 || bytes.ContainsAny(p, "\n:") {
		t.Errorf("payload(42, 32) = %q: want 32 printable bytes starting with the sequence number", p)
	}
}

// TestRunSmoke runs the push server side of the bench with tiny counts
// (Mosquitto only if bench/push.sh started it) so that it keeps working
// as the gateway changes. It checks no timings.
func TestRunSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts push servers and two libp2p hosts; skipped with -short")
	}
	for _, d := range []bool{true, false} {
		p2p = d
		t.Run(benchDialect().String(), runSmoke)
	}
	p2p = true
}

func runSmoke(t *testing.T) {
	var out bytes.Buffer
	cfg := config{conns: 200, samples: 30, duration: 300 * time.Millisecond, size: 32, window: 8,
		rawMB: 4, rounds: 2, only: "conns,rid,p2p,raw", jsonOut: true}
	if err := run(cfg, &out); err != nil {
		t.Fatalf("run: %v", err)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out.Bytes())
	}
	if len(rep.Rows) != 15 {
		t.Errorf("%d rows, want 15:\n%s", len(rep.Rows), out.Bytes())
	}
	for _, r := range rep.Rows {
		// Goroutines per connection may be 0: idle device connections are
		// parked with no goroutine (gateway/park.go), which is the point.
		parked := strings.Contains(r.Metric, "goroutines per connection")
		if r.Unit != "KiB" && (r.Coconet < 0 || (r.Coconet == 0 && !parked)) {
			t.Errorf("row %q = %v, want a positive figure", r.Metric, r.Coconet)
		}
	}
	if rep.BusyRuns != 0 {
		t.Errorf("%d BUSY replies with %d in flight, want none", rep.BusyRuns, cfg.window)
	}
}
