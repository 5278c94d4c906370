package consortium

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

type kvInput struct {
	put        bool
	key, value string
}

type kvOutput struct {
	value string // "" = absent
}

// kvModel is a map of registers, one partition per key.
var kvModel = porcupine.Model{
	Partition: func(h []porcupine.Operation) [][]porcupine.Operation {
		by := map[string][]porcupine.Operation{}
		for _, op := range h {
			k := op.Input.(kvInput).key
			by[k] = append(by[k], op)
		}
		var out [][]porcupine.Operation
		for _, ops := range by {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return "" },
	Step: func(state, input, output any) (bool, any) {
		in := input.(kvInput)
		if in.put {
			return true, in.value
		}
		return output.(kvOutput).value == state.(string), state
	},
	DescribeOperation: func(input, output any) string {
		in := input.(kvInput)
		if in.put {
			return fmt.Sprintf("put(%s, %s)", in.key, in.value)
		}
		return fmt.Sprintf("get(%s) -> %q", in.key, output.(kvOutput).value)
	},
}

// TestLinearizableUnderFaults runs clients doing puts and gets through random
// nodes while a nemesis crashes and restarts nodes and partitions the
// network, and checks the history with porcupine. A put whose outcome is
// unknown (timeout, node closed) may have happened at any time after its call.
func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs faults for seconds")
	}
	for _, size := range []int{3, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { linearRun(t, size) })
	}
}

func linearRun(t *testing.T, size int) {
	c := newCluster(t, size, 1)
	c.snapN = 50
	c.leader()
	caller := c.members[0].ID()

	var mu sync.Mutex
	live := map[uint64]*Node{}
	for id, n := range c.nodes {
		live[id] = n
	}
	pick := func(r *rand.Rand) *Node {
		mu.Lock()
		defer mu.Unlock()
		ids := make([]uint64, 0, len(live))
		for id := range live {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return nil
		}
		return live[ids[r.IntN(len(ids))]]
	}

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	ctx, stop := context.WithTimeout(context.Background(), 6*time.Second)
	defer stop()
	var hmu sync.Mutex
	var history []porcupine.Operation
	var wg sync.WaitGroup
	var okPuts, okGets atomic.Int64
	for cl := 0; cl < 4; cl++ {
		wg.Add(1)
		go func(cl int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(cl), uint64(size)))
			for i := 0; ctx.Err() == nil; i++ {
				n := pick(r)
				if n == nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				in := kvInput{put: r.IntN(2) == 0, key: fmt.Sprint("k", r.IntN(3)), value: fmt.Sprintf("c%d-%d", cl, i)}
				op := porcupine.Operation{ClientId: cl, Input: in, Call: now()}
				octx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				if in.put {
					txn := put("kv", in.key, in.value)
					txn.Caller = caller
					_, err := n.Transact(octx, txn)
					op.Return = now()
					if err != nil {
						op.Return = math.MaxInt64 // may have happened
					} else {
						okPuts.Add(1)
					}
					op.Output = kvOutput{}
				} else {
					v, _, err := n.Get(octx, "kv", []byte(in.key))
					op.Return = now()
					switch {
					case errors.Is(err, ErrNotFound):
						op.Output = kvOutput{}
					case err != nil:
						cancel()
						continue // a failed read has no effect
					default:
						op.Output = kvOutput{string(v)}
					}
					okGets.Add(1)
				}
				cancel()
				hmu.Lock()
				history = append(history, op)
				hmu.Unlock()
			}
		}(cl)
	}

	// The nemesis: at most a minority down or cut off at a time.
	r := rand.New(rand.NewPCG(42, uint64(size)))
	down := map[uint64]bool{}
	for ctx.Err() == nil {
		time.Sleep(time.Duration(150+r.IntN(300)) * time.Millisecond)
		switch r.IntN(4) {
		case 0:
			if len(down) < (size-1)/2 {
				id := uint64(r.IntN(size) + 1)
				if !down[id] {
					mu.Lock()
					delete(live, id)
					mu.Unlock()
					c.crash(id)
					down[id] = true
				}
			}
		case 1:
			for id := range down {
				n := c.start(id, false)
				mu.Lock()
				live[id] = n
				mu.Unlock()
				delete(down, id)
			}
		case 2:
			var minority, rest []uint64
			for _, id := range r.Perm(size) {
				if len(minority) < (size-1)/2 {
					minority = append(minority, uint64(id+1))
				} else {
					rest = append(rest, uint64(id+1))
				}
			}
			c.net.Partition(minority, rest)
		case 3:
			c.net.Heal()
		}
	}
	wg.Wait()
	c.net.Heal()
	for id := range down {
		c.start(id, false)
	}
	hmu.Lock()
	defer hmu.Unlock()
	if okPuts.Load() == 0 || okGets.Load() == 0 {
		t.Fatalf("%d puts and %d gets succeeded; the nemesis left no progress", okPuts.Load(), okGets.Load())
	}
	res, info := porcupine.CheckOperationsVerbose(kvModel, history, time.Minute)
	if res != porcupine.Ok {
		if f, err := writeVisualization(t, info); err == nil {
			t.Logf("history visualization: %s", f)
		}
		t.Fatalf("history of %d operations is %v", len(history), res)
	}
	t.Logf("%d operations (%d puts, %d gets acknowledged) linearizable", len(history), okPuts.Load(), okGets.Load())
}

func writeVisualization(t *testing.T, info porcupine.LinearizationInfo) (string, error) {
	f := t.TempDir() + "/history.html"
	return f, porcupine.VisualizePath(kvModel, info, f)
}
