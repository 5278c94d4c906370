package control_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
)

// natProxy is a one-client UDP NAT on loopback: it forwards the client's
// datagrams to the server from its current outside socket and the
// server's answers back. rebind moves it to a new outside socket, as a NAT
// whose public address changed.
type natProxy struct {
	in     *net.UDPConn
	server *net.UDPAddr
	mu     sync.Mutex
	out    *net.UDPConn
	client *net.UDPAddr
}

func newNATProxy(t *testing.T, server *net.UDPAddr) *natProxy {
	t.Helper()
	in, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := &natProxy{in: in, server: server}
	t.Cleanup(func() {
		in.Close()
		p.mu.Lock()
		p.out.Close()
		p.mu.Unlock()
	})
	p.rebind(t)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, from, err := in.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.client = from
			out := p.out
			p.mu.Unlock()
			out.WriteToUDP(buf[:n], server)
		}
	}()
	return p
}

// rebind switches to a new outside socket (a new public address:port).
func (p *natProxy) rebind(t *testing.T) string {
	t.Helper()
	out, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	old := p.out
	p.out = out
	p.mu.Unlock()
	if old != nil {
		old.Close() // the old mapping is gone
	}
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
			if c != nil {
				p.in.WriteToUDP(buf[:n], c)
			}
		}
	}()
	return out.LocalAddr().String()
}

// observedBy asks the control plane (any request: a stranger's is refused,
// but every answer carries the observed address) how it sees h now.
func observedBy(t *testing.T, h host.Host, srv peer.ID) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := h.NewStream(ctx, srv, controlproto.Protocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	if err := controlproto.WriteMsg(s, &controlproto.Request{V: controlproto.WireVersion, Op: controlproto.OpLookup}); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	b, err := controlproto.ReadFrame(bufio.NewReader(s), controlproto.MaxResponse)
	if err != nil {
		t.Fatal(err)
	}
	var resp controlproto.Response
	if err := json.Unmarshal(b, &resp); err != nil {
		t.Fatal(err)
	}
	return resp.Observed
}

// TestObservedFollowsMigration: a node's NAT changes its public address
// under a live QUIC connection to the control plane; quic-go follows the
// connection, and the control plane must reflect the address packets now
// come from, not the one the connection was opened from (else the node
// keeps offering its dead address for hole punching).
func TestObservedFollowsMigration(t *testing.T) {
	srv := startServer(t, control.Config{})
	var quicAddr *net.UDPAddr
	for _, a := range srv.Addrs() {
		if strings.Contains(a.String(), "/quic-v1") {
			na, err := net.ResolveUDPAddr("udp4", udpHostPort(t, a))
			if err != nil {
				t.Fatal(err)
			}
			quicAddr = na
		}
	}
	if quicAddr == nil {
		t.Fatal("control plane has no QUIC address")
	}
	proxy := newNATProxy(t, quicAddr)
	h, _ := stranger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	via := ma.StringCast("/ip4/127.0.0.1/udp/" + portOf(proxy.in.LocalAddr()) + "/quic-v1")
	if err := h.Connect(ctx, peer.AddrInfo{ID: srv.ID(), Addrs: []ma.Multiaddr{via}}); err != nil {
		t.Fatal(err)
	}
	first := proxy.out.LocalAddr().String()
	if got := observedBy(t, h, srv.ID()); got != udpMA(first) {
		t.Fatalf("observed %s, want %s", got, udpMA(first))
	}
	moved := proxy.rebind(t)
	var got string
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if got = observedBy(t, h, srv.ID()); got == udpMA(moved) {
			break
		}
	}
	if got != udpMA(moved) {
		t.Fatalf("after the address change the control plane reflects %s, want %s (first %s)", got, udpMA(moved), udpMA(first))
	}
	if n := len(h.Network().ConnsToPeer(srv.ID())); n != 1 {
		t.Errorf("%d connections to the control plane, want the one that migrated", n)
	}
}

func udpMA(hostport string) string {
	host, port, _ := net.SplitHostPort(hostport)
	return "/ip4/" + host + "/udp/" + port + "/quic-v1"
}

func portOf(a net.Addr) string {
	_, port, _ := net.SplitHostPort(a.String())
	return port
}

func udpHostPort(t *testing.T, a ma.Multiaddr) string {
	t.Helper()
	ip, err := a.ValueForProtocol(ma.P_IP4)
	if err != nil {
		t.Fatal(err)
	}
	port, err := a.ValueForProtocol(ma.P_UDP)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(ip, port)
}
