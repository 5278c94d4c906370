package consortium

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// TestExecuteTransfers runs concurrent read-modify-write handlers (bank
// transfers) through every node: conflicts re-run, and no money is created
// or lost.
func TestExecuteTransfers(t *testing.T) {
	c := newCluster(t, 3, 1)
	n := c.leader()
	caller := c.members[0].ID()
	for _, acct := range []string{"a", "b", "c"} {
		c.put(n, acct, "100")
	}
	transfer := func(from, to string, amount int) Handler {
		return func(ctx context.Context, r Reader) ([]Write, error) {
			fv, _, err := r.Get("accounts", []byte(from))
			if err != nil {
				return nil, err
			}
			tv, _, err := r.Get("accounts", []byte(to))
			if err != nil {
				return nil, err
			}
			f, _ := strconv.Atoi(string(fv))
			g, _ := strconv.Atoi(string(tv))
			if f < amount {
				return nil, fmt.Errorf("insufficient funds")
			}
			return []Write{
				{Table: "accounts", Key: []byte(from), Value: []byte(strconv.Itoa(f - amount))},
				{Table: "accounts", Key: []byte(to), Value: []byte(strconv.Itoa(g + amount))},
			}, nil
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	accts := []string{"a", "b", "c"}
	for i := 0; i < 30; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			node := c.nodes[uint64(i%3+1)]
			if _, err := node.Execute(ctxT(t), caller, 50, transfer(accts[i%3], accts[(i+1)%3], 7)); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Execute = %v", err)
	}
	total := 0
	kvs, err := n.Range(ctxT(t), "accounts", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		v, _ := strconv.Atoi(string(kv.Value))
		total += v
	}
	if total != 300 {
		t.Fatalf("total after concurrent transfers = %d, want 300 (%v)", total, kvs)
	}
}
