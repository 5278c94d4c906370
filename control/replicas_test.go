package control_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/internal/ctlsim"
)

// TestReplicasSurviveKill is issue 13's test of the replicated control
// plane, with real processes on loopback: three `coco control` replicas
// over a three-member etcd cluster (each member its own process), 1,000
// simulated nodes registered through the control protocol across the
// replicas; then one replica and one etcd member are killed with SIGKILL.
// Lookups keep answering at the other replicas with every node, new
// registrations still land and reach the other replica, and the usage the
// survivors report counts every request any replica answered (the dead
// one's included): it may over-count, never under-count.
func TestReplicasSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds coco and runs etcd and control planes as processes")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go tool to build coco")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	coco, etcdBin, err := ctlsim.Build(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	members, endpoints, err := ctlsim.StartEtcd(etcdBin, dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range members {
			m.Kill()
		}
	})
	plans := filepath.Join(dir, "plans.json")
	if err := os.WriteFile(plans, []byte(`{"default":"big","plans":{"big":{"networks":10,"nodes":100000,"bytes":1000000000000}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var cps []*ctlsim.Control
	for i := range 3 {
		// Each replica is given every etcd member but the one that
		// dies first last, so the kill also tests the client's failover.
		eps := []string{endpoints[(i+1)%3], endpoints[(i+2)%3], endpoints[i]}
		c, err := ctlsim.StartControl(coco, fmt.Sprintf("control%d", i), filepath.Join(dir, fmt.Sprintf("home%d", i)),
			filepath.Join(dir, fmt.Sprintf("state%d", i)), "--plans", plans, "--etcd", join(eps))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Kill)
		cps = append(cps, c)
	}

	net := ctlsim.NewNetwork()
	const n = 1000
	nodes := make([]*ctlsim.Node, n)
	for i := range nodes {
		nodes[i] = net.Node(time.Hour)
	}
	// answered counts every request a replica answered: each is one
	// control message of the network's usage.
	var answered atomic.Int64
	clients := make([]host.Host, 3)
	for i := range clients {
		h, err := ctlsim.Client()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		for _, c := range cps {
			if err := h.Connect(ctx, c.AddrInfo()); err != nil {
				t.Fatal(err)
			}
		}
		clients[i] = h
	}
	registerRange := func(from, to int, at func(i int) int) {
		t.Helper()
		var wg sync.WaitGroup
		var next atomic.Int64
		next.Store(int64(from))
		errs := make(chan error, 24)
		for w := range 24 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= to {
						return
					}
					c := cps[at(i)]
					rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
					err := ctlsim.Register(rctx, clients[w%3], c.ID, nodes[i], time.Hour)
					cancel()
					if err != nil {
						errs <- fmt.Errorf("register node %d at replica %d: %w", i, at(i), err)
						return
					}
					answered.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	registerRange(0, n, func(i int) int { return i % 3 })
	t.Logf("%d nodes registered across 3 replicas", n)

	lookup := func(c *ctlsim.Control, nd *ctlsim.Node) (int, error) {
		h, err := nd.Host()
		if err != nil {
			return 0, err
		}
		defer h.Close()
		lctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := h.Connect(lctx, c.AddrInfo()); err != nil {
			return 0, err
		}
		infos, err := controlproto.Lookup(lctx, h, c.ID, nd.Proof)
		if err == nil {
			answered.Add(1)
		}
		return len(infos), err
	}
	for i, c := range cps {
		waitForLong(t, fmt.Sprintf("replica %d to list every node", i), func() bool {
			got, err := lookup(c, nodes[i])
			return err == nil && got == n-1
		})
	}

	// Renewals at the replica about to die, answered and (most of them)
	// not yet saved as used when it is killed: only its claims in etcd
	// keep them counted.
	registerRange(0, 60, func(int) int { return 0 })
	cps[0].Kill()
	members[0].Kill()
	t.Logf("killed replica 0 and etcd member 0 (SIGKILL)")

	for i, c := range cps[1:] {
		got, err := lookup(c, nodes[10+i])
		if err != nil || got != n-1 {
			t.Fatalf("after the kill, lookup at replica %d: %d records, %v; want %d", i+1, got, err, n-1)
		}
	}
	// New registrations still land (two of three etcd members are a
	// quorum) and reach the other replica.
	late := net.Node(time.Hour)
	nodes = append(nodes, late)
	waitForLong(t, "a registration at replica 1 after the kill", func() bool {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := ctlsim.Register(rctx, clients[0], cps[1].ID, late, time.Hour); err != nil {
			t.Logf("register after the kill: %v", err)
			return false
		}
		answered.Add(1)
		return true
	})
	waitForLong(t, "replica 2 to list the node registered after the kill", func() bool {
		got, err := lookup(cps[2], nodes[0])
		return err == nil && got == n
	})

	// Usage: every answered request counted, the dead replica's too.
	var last controlproto.Usage
	waitForLong(t, "the survivors' usage to count every answered request", func() bool {
		h, err := nodes[1].Host()
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := h.Connect(uctx, cps[1].AddrInfo()); err != nil {
			return false
		}
		want := answered.Load()
		u, err := controlproto.GetUsage(uctx, h, cps[1].ID, nodes[1].Proof)
		if err != nil {
			return false
		}
		answered.Add(1)
		last = u
		return u.ControlMessages >= want
	})
	// Over-counting is bounded by what a replica claims ahead (256
	// messages a chunk, the dead replica's at most twice that).
	if over := last.ControlMessages - answered.Load(); over > 3*512 {
		t.Fatalf("usage %d messages for %d answered: over-counts by %d", last.ControlMessages, answered.Load(), over)
	}
	t.Logf("usage after the kill: %d control messages for %d answered requests", last.ControlMessages, answered.Load())
}

func join(s []string) string {
	out := ""
	for i, v := range s {
		if i > 0 {
			out += ","
		}
		out += v
	}
	return out
}

// waitForLong polls cond until it holds or 90 s pass (etcd elects a new
// leader, a dead replica's liveness lease runs out).
func waitForLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}
