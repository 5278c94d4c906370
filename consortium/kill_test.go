package consortium

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestKillChild is the child process of TestKill9KeepsAcknowledged: a
// one-node consortium that answers "put K V" with "ok K SEQ" once committed
// and "get K" with "val K V" or "missing K".
func TestKillChild(t *testing.T) {
	dir := os.Getenv("CONSORTIUM_KILL_DIR")
	if dir == "" {
		t.Skip("child of TestKill9KeepsAcknowledged")
	}
	var g Genesis
	gb, err := os.ReadFile(filepath.Join(dir, "genesis"))
	if err != nil {
		t.Fatal(err)
	}
	if err := decMode.Unmarshal(gb, &g); err != nil {
		t.Fatal(err)
	}
	key, _ := os.ReadFile(filepath.Join(dir, "key"))
	net := NewMemNetwork()
	n, err := Start(Config{ID: 1, Dir: filepath.Join(dir, "node"), Genesis: &g, Key: ed25519.PrivateKey(key),
		Transport: net.Transport(1), TickInterval: 10 * time.Millisecond, SnapshotEvery: 64})
	if err != nil {
		t.Fatal(err)
	}
	caller := CertID(g.Members[0])
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, "ready")
	out.Flush()
	for in.Scan() {
		f := strings.Fields(in.Text())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		switch f[0] {
		case "put":
			txn := put("kv", f[1], f[2])
			txn.Caller = caller
			r, err := n.Transact(ctx, txn)
			if err != nil {
				fmt.Fprintln(out, "err", f[1], err)
			} else {
				fmt.Fprintln(out, "ok", f[1], r.Seqno)
			}
		case "get":
			v, _, err := n.Get(ctx, "kv", []byte(f[1]))
			if err != nil {
				fmt.Fprintln(out, "missing", f[1])
			} else {
				fmt.Fprintln(out, "val", f[1], string(v))
			}
		}
		cancel()
		out.Flush()
	}
	n.Close()
}

type child struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CONSORTIUM_KILL_DIR="+dir)
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	if !c.out.Scan() || c.out.Text() != "ready" {
		t.Fatalf("child did not start: %q", c.out.Text())
	}
	return c
}

// TestKill9KeepsAcknowledged kills a node process with SIGKILL while it
// commits puts, restarts it from its directory, and checks that every put it
// acknowledged is there (and the log carries on).
func TestKill9KeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ca := newCA(t, "org")
	m := issue(t, ca, "m", false)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	g := Genesis{Name: "kill", Members: [][]byte{m.Cert}, Code: [][]byte{testCode[:]}, Envs: []string{EnvSoftware},
		Nodes: []NodeInfo{nodeInfo(1, key)}}
	gb, _ := encMode.Marshal(&g)
	os.WriteFile(filepath.Join(dir, "genesis"), gb, 0o600)
	os.WriteFile(filepath.Join(dir, "key"), key, 0o600)

	acked := map[string]bool{}
	var mu sync.Mutex
	next := 0
	for round := 0; round < 3; round++ {
		c := startChild(t, dir)
		// Pipeline puts; kill the child while some are in flight.
		done := make(chan struct{})
		go func() {
			defer close(done)
			for c.out.Scan() {
				f := strings.Fields(c.out.Text())
				if len(f) >= 2 && f[0] == "ok" {
					mu.Lock()
					acked[f[1]] = true
					mu.Unlock()
				}
			}
		}()
		for i := 0; i < 150; i++ {
			fmt.Fprintf(c.in, "put k%d v%d\n", next, next)
			next++
		}
		// Wait for some acks, then kill without warning.
		for i := 0; i < 2000; i++ {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n > round*150+40 {
				break
			}
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
		<-done
	}
	if len(acked) == 0 {
		t.Fatal("no put was acknowledged")
	}
	c := startChild(t, dir)
	defer func() { c.in.Close(); c.cmd.Wait() }()
	for k := range acked {
		fmt.Fprintf(c.in, "get %s\n", k)
		if !c.out.Scan() {
			t.Fatal("child died")
		}
		want := "val " + k + " v" + strings.TrimPrefix(k, "k")
		if c.out.Text() != want {
			t.Fatalf("after kill -9: %q, want %q", c.out.Text(), want)
		}
	}
	t.Logf("%d acknowledged puts survived 3 kills", len(acked))
}
