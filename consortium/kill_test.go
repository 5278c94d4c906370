package consortium

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	id, _ := strconv.ParseUint(os.Getenv("CONSORTIUM_KILL_ID"), 10, 64)
	if id == 0 {
		id = 1
	}
	key, _ := os.ReadFile(filepath.Join(dir, fmt.Sprint("key", id)))
	var tr Transport
	var inbound func(Receiver)
	if peers := os.Getenv("CONSORTIUM_KILL_PEERS"); peers != "" {
		addrs := map[uint64]string{}
		for _, p := range strings.Split(peers, ",") {
			pid, addr, _ := strings.Cut(p, "=")
			i, _ := strconv.ParseUint(pid, 10, 64)
			addrs[i] = addr
		}
		tcp, err := ListenTCP(id, addrs[id])
		if err != nil {
			t.Fatal(err)
		}
		defer tcp.Close()
		for i, a := range addrs {
			tcp.SetPeer(i, a)
		}
		tr, inbound = tcp, tcp.Handle
	} else {
		net := NewMemNetwork()
		defer net.Close()
		tr = net.Transport(id)
	}
	n, err := Start(Config{ID: id, Dir: filepath.Join(dir, fmt.Sprint("node", id)), Genesis: &g, Key: ed25519.PrivateKey(key),
		Transport: tr, TickInterval: 50 * time.Millisecond, SnapshotEvery: 64,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, fmt.Sprintf("child %d: ", id)+f+"\n", a...) }})
	if err != nil {
		t.Fatal(err)
	}
	if inbound != nil {
		inbound(n.Receive)
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

func startChild(t *testing.T, dir string, env ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), "CONSORTIUM_KILL_DIR="+dir), env...)
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
	os.WriteFile(filepath.Join(dir, "key1"), key, 0o600)

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

// TestKill9Cluster runs 3 node processes over TCP on loopback, kills them
// with SIGKILL one at a time and then all at once while clients put through
// each, restarts them from their directories, and checks that every
// acknowledged put is on every node.
func TestKill9Cluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dir := t.TempDir()
	ca := newCA(t, "org")
	m := issue(t, ca, "m", false)
	g := Genesis{Name: "kill3", Members: [][]byte{m.Cert}, Code: [][]byte{testCode[:]}, Envs: []string{EnvSoftware}}
	var peers []string
	for id := uint64(1); id <= 3; id++ {
		_, key, _ := ed25519.GenerateKey(rand.Reader)
		os.WriteFile(filepath.Join(dir, fmt.Sprint("key", id)), key, 0o600)
		g.Nodes = append(g.Nodes, nodeInfo(id, key))
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, fmt.Sprintf("%d=%s", id, ln.Addr()))
		ln.Close()
	}
	gb, _ := encMode.Marshal(&g)
	os.WriteFile(filepath.Join(dir, "genesis"), gb, 0o600)
	env := func(id int) []string {
		return []string{fmt.Sprint("CONSORTIUM_KILL_ID=", id), "CONSORTIUM_KILL_PEERS=" + strings.Join(peers, ",")}
	}

	var mu sync.Mutex
	acked := map[string]bool{}
	children := map[int]*child{}
	var readers sync.WaitGroup
	start := func(id int) {
		c := startChild(t, dir, env(id)...)
		children[id] = c
		readers.Add(1)
		go func() {
			defer readers.Done()
			for c.out.Scan() {
				f := strings.Fields(c.out.Text())
				if len(f) >= 2 && f[0] == "ok" {
					mu.Lock()
					acked[f[1]] = true
					mu.Unlock()
				}
			}
		}()
	}
	kill := func(id int) {
		children[id].cmd.Process.Signal(syscall.SIGKILL)
		children[id].cmd.Wait()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for id := 1; id <= 3; id++ {
		start(id)
	}
	next := 0
	for round, victims := range [][]int{{1}, {2}, {3}, {1, 2, 3}} {
		before := count()
		for id := 1; id <= 3; id++ {
			for i := 0; i < 40; i++ {
				fmt.Fprintf(children[id].in, "put k%d v%d\n", next, next)
				next++
			}
		}
		waitFor(t, fmt.Sprintf("acks in round %d", round), func() bool { return count() >= before+30 })
		for _, id := range victims {
			kill(id)
		}
		for _, id := range victims {
			start(id)
		}
	}
	for id := 1; id <= 3; id++ {
		kill(id)
	}
	readers.Wait()
	mu.Lock()
	keys := make([]string, 0, len(acked))
	for k := range acked {
		keys = append(keys, k)
	}
	mu.Unlock()
	for id := 1; id <= 3; id++ {
		c := startChild(t, dir, env(id)...)
		defer func() { c.in.Close(); c.cmd.Wait() }()
		children[id] = c
	}
	for id := 1; id <= 3; id++ {
		c := children[id]
		for _, k := range keys {
			fmt.Fprintf(c.in, "get %s\n", k)
			if !c.out.Scan() {
				t.Fatalf("node %d died", id)
			}
			if want := "val " + k + " v" + strings.TrimPrefix(k, "k"); c.out.Text() != want {
				t.Fatalf("node %d after kill -9: %q, want %q", id, c.out.Text(), want)
			}
		}
	}
	t.Logf("%d acknowledged puts on all 3 nodes after 5 kills of one node and one of all", len(keys))
}

// TestAckedBeforeStateCommitSurvivesCrash: a put is answered once applied
// into the open state transaction, before state.db commits (group commit);
// when every node crashes before that commit, the restarted nodes apply it
// again from their WALs and it reads back, once.
func TestAckedBeforeStateCommitSurvivesCrash(t *testing.T) {
	c := newClusterWith(t, 3, 1, func(c *cluster) { c.commit = time.Hour })
	n := c.leader()
	res := c.put(n, "k", "v1")
	if n.Applied() >= res.Index {
		t.Fatalf("the state committed index %d already: the test needs it open", res.Index)
	}
	for id := range c.nodes {
		c.crash(id)
	}
	c.commit = 0
	for id := uint64(1); id <= 3; id++ {
		c.start(id, false)
	}
	n = c.leader()
	v, ver, err := n.Get(ctxT(t), "accounts", []byte("k"))
	if err != nil || string(v) != "v1" || ver != res.Seqno {
		t.Fatalf("after the crash: Get = %q version %d, %v; want v1 version %d", v, ver, err, res.Seqno)
	}
	res2 := c.put(n, "k2", "v2")
	if res2.Seqno != res.Seqno+1 {
		t.Fatalf("the next put is seqno %d, want %d: the crashed entry was applied twice or lost", res2.Seqno, res.Seqno+1)
	}
}
