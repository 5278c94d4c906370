package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

type regInput struct {
	put   bool
	key   string
	value string
}

// regModel is a map of registers, one partition per key.
var regModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			by[op.Input.(regInput).key] = append(by[op.Input.(regInput).key], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(regInput)
		if in.put {
			return true, in.value
		}
		return output.(string) == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(regInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, output)
	},
}

// partition cuts a host off the internet segment (every packet but
// loopback dropped, both ways) or heals it.
func partition(ns string, cut bool) error {
	if !cut {
		return run("ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "cocopart")
	}
	return runIn([]byte(`table inet cocopart {
	chain in { type filter hook input priority -10; policy drop; iif lo accept; }
	chain out { type filter hook output priority -10; policy drop; oif lo accept; }
}
`), "ip", "netns", "exec", ns, "nft", "-f", "-")
}

// TestConsortiumPartitions: three validating nodes (`coco up` on three
// public hosts of the lab's internet, one consortium network, raft on
// coconet's node streams) under a KV workload of `coco consortium put/get`
// from a client on each host while one node is cut off and healed, and
// another is killed with SIGKILL and restarted. The history (an operation
// that failed may have happened) is checked linearizable with porcupine:
// nothing acknowledged is lost or reordered.
func TestConsortiumPartitions(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	in, err := NewInternet("cocons-")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	dir := t.TempDir()
	var hs []*host
	for _, name := range []string{"alice", "bob", "carol"} {
		h, err := in.Host(name[:1], Public)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, &host{t: t, ns: h.NS, home: filepath.Join(dir, name)})
	}
	for _, h := range hs {
		defer h.stop()
	}
	dump := func() string {
		var b strings.Builder
		for _, h := range hs {
			fmt.Fprintf(&b, "\n--- %s:\n%s", h.home, h.logs())
		}
		return b.String()
	}
	for i, h := range hs {
		h.must("init", "--name", []string{"alice", "bob", "carol"}[i])
	}
	hs[0].must("net", "create", "bank", "--kind", "consortium")
	hs[0].start()
	for _, h := range hs[1:] {
		var inv map[string]any
		json.Unmarshal([]byte(hs[0].must("invite", "bank", "--role", "admin", "--json")), &inv)
		h.must("join", inv["code"].(string))
		h.start()
	}
	var ids []string
	for i, h := range hs {
		f := filepath.Join(dir, fmt.Sprint("id", i, ".json"))
		if err := os.WriteFile(f, []byte(h.must("consortium", "identity", "bank", "--json")), 0o600); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f)
	}
	gFile := filepath.Join(dir, "genesis.json")
	if err := os.WriteFile(gFile, []byte(hs[0].must(append([]string{"consortium", "genesis", "bank"}, ids...)...)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		h.must("consortium", "start", "bank", gFile)
	}
	// The first committed write: a leader and a quorum over the streams.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := hs[0].cocoTimeout(10*time.Second, "consortium", "put", "bank", "ready", "1"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no committed write within 60s%s", dump())
		}
	}

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	var mu sync.Mutex
	var history []porcupine.Operation
	var okPuts, okGets atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl, h := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(cl), 7))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				in := regInput{put: r.IntN(2) == 0, key: fmt.Sprint("k", r.IntN(2)), value: fmt.Sprintf("c%d-%d", cl, i)}
				op := porcupine.Operation{ClientId: cl, Input: in, Call: now()}
				if in.put {
					_, err := h.cocoTimeout(5*time.Second, "consortium", "put", "bank", in.key, in.value)
					op.Return, op.Output = now(), ""
					if err != nil {
						op.Return = math.MaxInt64 // may have happened
					} else {
						okPuts.Add(1)
					}
				} else {
					out, err := h.cocoTimeout(5*time.Second, "consortium", "get", "bank", in.key, "--json")
					op.Return = now()
					var v struct{ Value []byte }
					switch {
					case err != nil && strings.Contains(err.Error(), "not found"):
						op.Output = ""
					case err != nil:
						continue // a failed read has no effect
					default:
						if json.Unmarshal([]byte(out), &v) != nil {
							continue
						}
						op.Output = string(v.Value)
					}
					okGets.Add(1)
				}
				mu.Lock()
				history = append(history, op)
				mu.Unlock()
			}
		}()
	}
	step := func(what string, f func() error) {
		t.Logf("%6.1fs %s", time.Since(start).Seconds(), what)
		if err := f(); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("%s: %v%s", what, err, dump())
		}
	}
	time.Sleep(5 * time.Second)
	step("cut carol off", func() error { return partition(hs[2].ns, true) })
	time.Sleep(8 * time.Second)
	step("heal carol", func() error { return partition(hs[2].ns, false) })
	time.Sleep(5 * time.Second)
	step("kill -9 bob", func() error {
		if hs[1].up == nil || hs[1].up.Process == nil {
			return errors.New("bob is not running")
		}
		hs[1].up.Process.Kill()
		hs[1].up.Wait()
		hs[1].up = nil
		return nil
	})
	time.Sleep(5 * time.Second)
	step("restart bob", func() error { hs[1].start(); return nil })
	time.Sleep(8 * time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d acknowledged puts, %d reads, %d operations", okPuts.Load(), okGets.Load(), len(history))
	if okPuts.Load() == 0 || okGets.Load() == 0 {
		t.Fatalf("no acknowledged puts or reads%s", dump())
	}
	res, _ := porcupine.CheckOperationsVerbose(regModel, history, time.Minute)
	if res != porcupine.Ok {
		t.Fatalf("history not linearizable (%v)", res)
	}
}
