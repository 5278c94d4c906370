package node

import (
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// udpPath is a UDP forwarder on loopback standing for a NATed path to one
// QUIC listener: break makes it drop everything, as a path whose NAT
// changed its public address.
type udpPath struct {
	in     *net.UDPConn
	out    *net.UDPConn
	broken atomic.Bool
	mu     sync.Mutex
	client *net.UDPAddr
}

func newUDPPath(t *testing.T, to *net.UDPAddr) *udpPath {
	t.Helper()
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &udpPath{in: in, out: out}
	t.Cleanup(func() { in.Close(); out.Close() })
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.client = from
			p.mu.Unlock()
			if !p.broken.Load() {
				out.WriteToUDP(buf[:n], to)
			}
		}
	}()
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := out.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			c := p.client
			p.mu.Unlock()
			if c != nil && !p.broken.Load() {
				in.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return p
}

func (p *udpPath) addr() ma.Multiaddr {
	_, port, _ := net.SplitHostPort(p.in.LocalAddr().String())
	return ma.StringCast("/ip4/127.0.0.1/udp/" + port + "/quic-v1")
}

// quicAddr is n's QUIC listen address on loopback.
func quicAddr(t *testing.T, n *Node) *net.UDPAddr {
	t.Helper()
	for _, a := range n.Host().Addrs() {
		if port, err := a.ValueForProtocol(ma.P_UDP); err == nil && strings.Contains(a.String(), "127.0.0.1") {
			ua, err := net.ResolveUDPAddr("udp4", "127.0.0.1:"+port)
			if err != nil {
				t.Fatal(err)
			}
			return ua
		}
	}
	t.Fatal("no QUIC address on loopback")
	return nil
}

// connectVia connects from to to over path only, and returns that
// connection's remote address as from sees it.
func connectVia(t *testing.T, from, to *Node, path *udpPath) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := from.host.Connect(ctx, peer.AddrInfo{ID: to.ID(), Addrs: []ma.Multiaddr{path.addr()}}); err != nil {
		t.Fatal(err)
	}
	return path.addr().String()
}

// TestDeadPathNoticedWhileSending: the direct path between two members
// dies silently (no packet gets through any more) while carol sends to
// alice. Carol's node notices with a ping on that connection while the
// message is pending, closes it, and the message goes through on a new
// connection; QUIC alone would notice only at its 30 s idle timeout.
func TestDeadPathNoticedWhileSending(t *testing.T) {
	alice, carol, al, cl := smallNet(t)
	an := startNode(t, alice, al, newLogLines(t, "alice").logf)
	serveAck(an)
	clogs := newLogLines(t, "carol")
	cn := startNode(t, carol, cl, clogs.logf)
	path := newUDPPath(t, quicAddr(t, an))
	connectVia(t, cn, an, path)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := sendAck(ctx, cn, an.ID(), []byte("before")); err != nil {
		t.Fatal(err)
	}
	path.broken.Store(true)
	dead := clogs.first("is dead")
	var err error
	for range 10 {
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		err = sendAck(sctx, cn, an.ID(), []byte("after"))
		scancel()
		if err == nil {
			break
		}
		t.Logf("send: %v", err)
	}
	if err != nil {
		t.Fatalf("no message after the path died: %v", err)
	}
	select {
	case line := <-dead:
		if !strings.Contains(line, path.addr().String()) {
			t.Errorf("declared dead: %s, want the path through %s", line, path.addr())
		}
	default:
		t.Fatal("the message went through without the dead path being noticed")
	}
	for _, c := range cn.host.Network().ConnsToPeer(an.ID()) {
		if c.RemoteMultiaddr().Equal(path.addr()) {
			t.Error("the dead connection is still open")
		}
	}
}

// TestPeersTruthful: with no traffic at all, `coco peers` (Node.Peers)
// does not report a dead direct path: it checks the connection it would
// report and closes it when it does not answer.
func TestPeersTruthful(t *testing.T) {
	alice, carol, al, cl := smallNet(t)
	an := startNode(t, alice, al, newLogLines(t, "alice").logf)
	cn := startNode(t, carol, cl, newLogLines(t, "carol").logf)
	path := newUDPPath(t, quicAddr(t, an))
	via := connectVia(t, cn, an, path)
	if pi := peerInfo(cn, an.ID()); pi.Path != "direct" || pi.Addr != via {
		t.Fatalf("before: %+v, want direct via %s", pi, via)
	}
	path.broken.Store(true)
	if pi := peerInfo(cn, an.ID()); pi.Addr == via {
		t.Fatalf("after the path died, peers says %s via %s", pi.Path, pi.Addr)
	}
}

func peerInfo(n *Node, p peer.ID) PeerInfo {
	for _, pi := range n.Peers(context.Background()) {
		if pi.Node == p {
			return pi
		}
	}
	return PeerInfo{}
}

// protoTestAck is a request on a stream of its own, answered by one byte:
// the shape of a pending request the liveness checks watch.
const protoTestAck = "/coco/test/ack/1.0.0"

// serveAck makes n answer every protoTestAck stream with one byte.
func serveAck(n *Node) {
	n.host.SetStreamHandler(protoTestAck, func(s network.Stream) {
		defer s.Close()
		io.Copy(io.Discard, io.LimitReader(s, 1<<16))
		s.Write([]byte{0})
	})
}

// sendAck sends data to member to and waits for the byte back, as rpc
// does for a request: one bounded dial when not connected, and the
// connection watched (WatchPending) while the answer is pending.
func sendAck(ctx context.Context, from *Node, to peer.ID, data []byte) error {
	if from.host.Network().Connectedness(to) != network.Connected {
		if err := from.connectOnce(ctx, to); err != nil && from.host.Network().Connectedness(to) != network.Connected {
			return err
		}
	}
	s, err := from.host.NewStream(network.WithNoDial(ctx, "dialed"), to, protoTestAck)
	if err != nil {
		return err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(data); err != nil {
		s.Reset()
		return err
	}
	s.CloseWrite()
	stop := from.WatchPending(s.Conn())
	defer stop()
	var b [1]byte
	_, err = io.ReadFull(s, b[:])
	return err
}
