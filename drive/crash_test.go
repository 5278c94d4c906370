package drive

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestKillDuringSync kills -9, 30 times, a process that appends to its own
// log, stores chunks and receives batches of another writer's log from a
// peer's store, each acknowledged on stdout once durable. After every kill
// the store reopens, holds at least everything acknowledged, and serves
// nothing that does not verify.
func TestKillDuringSync(t *testing.T) {
	if os.Getenv("DRIVE_CRASH_CHILD") != "" {
		t.Skip("in the child")
	}
	if testing.Short() {
		t.Skip("short")
	}
	src := openTestStore(t, t.TempDir())
	k2 := testKey(t, 2)
	for i := range 2000 {
		src.Append(k2, block(i))
	}
	dir := t.TempDir()
	w1, w2 := WriterOf(testKey(t, 1)), WriterOf(k2)
	var ackOwn, ackPeer uint64
	for round := range 30 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "DRIVE_CRASH_CHILD="+dir, "DRIVE_CRASH_SRC="+src.dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		stopAfter := 1 + rand.IntN(40)
		for n := 0; sc.Scan(); n++ {
			f := strings.Fields(sc.Text())
			if len(f) == 2 {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				switch f[0] {
				case "own":
					ackOwn = max(ackOwn, v)
				case "peer":
					ackPeer = max(ackPeer, v)
				}
			}
			if n == stopAfter {
				cmd.Process.Kill()
				break
			}
		}
		cmd.Wait()
		st, err := OpenStore(dir, testAddr, StoreOptions{Logf: t.Logf})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if h := st.Head(w1); h.Size < ackOwn || h.Verify(testAddr) != nil {
			t.Fatalf("round %d: own log at %d, %d acknowledged", round, h.Size, ackOwn)
		}
		if h := st.Head(w2); h.Size < ackPeer || h.Verify(testAddr) != nil || h.Root != src.mustRoot(t, h.Size) {
			t.Fatalf("round %d: peer log at %d, %d acknowledged", round, h.Size, ackPeer)
		}
		for c := range st.chunks {
			if _, err := st.Chunk(c); err != nil {
				t.Fatalf("round %d: chunk: %v", round, err)
			}
		}
		for i, b := range st.Blocks(w1, 0, st.Head(w1).Size) {
			e, _ := decodeEntry(b)
			for _, r := range e.Refs {
				if !st.HasChunk(r) {
					t.Fatalf("round %d: own block %d needs chunk %x, not held", round, i, r[:6])
				}
			}
		}
		// What a replica would be served verifies.
		if b, ok := st.BatchFrom(w1, 0, 1<<20, 1<<30); ok {
			fresh := openTestStore(t, t.TempDir())
			if err := fresh.AddBatch(b); err != nil {
				t.Fatalf("round %d: served batch: %v", round, err)
			}
		}
		st.Close()
	}
	t.Logf("after 30 kills: %d own blocks, %d received blocks acknowledged", ackOwn, ackPeer)
}

func (s *Store) mustRoot(t *testing.T, n uint64) Hash {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.logs {
		return l.t.root(n)
	}
	t.Fatal("empty source")
	return Hash{}
}

// TestCrashChild is the process TestKillDuringSync kills.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("DRIVE_CRASH_CHILD")
	if dir == "" {
		t.Skip("run by TestKillDuringSync")
	}
	st, err := OpenStore(dir, testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	src, err := OpenStore(os.Getenv("DRIVE_CRASH_SRC"), testAddr, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := testKey(t, 1), WriterOf(testKey(t, 2))
	chunk := func() []byte {
		c := make([]byte, 1000+rand.IntN(50000))
		for j := range c {
			c[j] = byte(rand.Uint32())
		}
		return c
	}
	for i := 0; ; i++ {
		var h SignedRoot
		var err error
		if i%2 == 0 {
			if _, err := st.PutChunk(chunk()); err != nil {
				t.Fatal(err)
			}
			h, err = st.Append(k1, block(i))
		} else {
			// A group commit: chunks flushed together, then the
			// entries with one fsync.
			n := 1 + rand.IntN(8)
			cs, blocks := make([][]byte, n), make([][]byte, n)
			for j := range n {
				cs[j] = chunk()
			}
			hs, err := st.putChunks(cs)
			if err != nil {
				t.Fatal(err)
			}
			for j := range n {
				blocks[j] = encodeEntry(Entry{Refs: []Hash{hs[j]}, Sealed: []byte(fmt.Sprintf("batch %d.%d", i, j))})
			}
			h, err = st.AppendBatch(k1, blocks)
		}
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("own %d\n", h.Size)
		if b, ok := src.BatchFrom(k2, st.Head(k2).Size, 1+rand.IntN(5), 1<<20); ok {
			if err := st.AddBatch(b); err != nil {
				t.Fatal(err)
			}
			fmt.Printf("peer %d\n", b.Root.Size)
		}
	}
}
