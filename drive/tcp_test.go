package drive

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
)

// tcpNode serves a replica on a loopback socket. The first line of a
// stream names the caller: a stand-in for the node's authenticated peer
// ID, which the engine takes from Noise and the ledger instead.
type tcpNode struct {
	ln   net.Listener
	r    *Replica
	wg   sync.WaitGroup
	id   PeerID
	addr map[PeerID]string
}

func startTCP(t *testing.T, id PeerID, r *Replica) *tcpNode {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &tcpNode{ln: ln, r: r, id: id, addr: map[PeerID]string{}}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				br := bufio.NewReader(c)
				line, err := br.ReadString('\n')
				if err != nil {
					c.Close()
					return
				}
				r.Serve(context.Background(), PeerID(strings.TrimSpace(line)), struct {
					io.Reader
					io.WriteCloser
				}{br, c})
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); n.wg.Wait() })
	return n
}

func (n *tcpNode) Open(ctx context.Context, peer PeerID) (io.ReadWriteCloser, error) {
	a, ok := n.addr[peer]
	if !ok {
		return nil, errors.New("unknown peer")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", a)
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, string(n.id)+"\n"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// TestSyncTCP: two writers and a blind replicator on real loopback
// sockets converge.
func TestSyncTCP(t *testing.T) {
	a, b := member(t, 1, false), member(t, 2, false)
	rep := openTestStore(t, t.TempDir())
	na := startTCP(t, "a", NewReplica(a.Store(), ReplicaOptions{}))
	nb := startTCP(t, "b", NewReplica(b.Store(), ReplicaOptions{}))
	nr := startTCP(t, "rep", NewReplica(rep, ReplicaOptions{}))
	for _, n := range []*tcpNode{na, nb, nr} {
		for _, m := range []*tcpNode{na, nb, nr} {
			n.addr[m.id] = m.ln.Addr().String()
		}
	}
	big := strings.Repeat("0123456789abcdef", 1<<18) // 4 MiB
	a.WriteFile("big.txt", []byte(big))
	b.WriteFile("small.txt", []byte("hi"))
	ctx := context.Background()
	for _, step := range []struct {
		n    *tcpNode
		peer PeerID
	}{{na, "rep"}, {nb, "rep"}, {na, "rep"}} {
		if _, err := step.n.r.Sync(ctx, step.n, step.peer); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []*Drive{a, b} {
		if got, _ := d.ReadFile("big.txt"); string(got) != big {
			t.Fatalf("big.txt: %d bytes", len(got))
		}
		if got, _ := d.ReadFile("small.txt"); string(got) != "hi" {
			t.Fatalf("small.txt: %q", got)
		}
	}
}
