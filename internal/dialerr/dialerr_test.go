package dialerr

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// refuseAll is a connection gater that admits no inbound connection once it
// is secured, as a node's gater does for a peer its ledger does not list.
type refuseAll struct{}

func (refuseAll) InterceptPeerDial(peer.ID) bool                                  { return true }
func (refuseAll) InterceptAddrDial(peer.ID, ma.Multiaddr) bool                    { return true }
func (refuseAll) InterceptAccept(network.ConnMultiaddrs) bool                     { return true }
func (refuseAll) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }
func (refuseAll) InterceptSecured(d network.Direction, _ peer.ID, _ network.ConnMultiaddrs) bool {
	return d == network.DirOutbound
}

func newHost(t *testing.T, opts ...libp2p.Option) host.Host {
	t.Helper()
	h, err := libp2p.New(append(opts, libp2p.ListenAddrStrings("/ip4/127.0.0.1/udp/0/quic-v1"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestOverQUIC classifies what go-libp2p returns between two real hosts on
// loopback, so an upgrade of go-libp2p that changes its errors fails here
// rather than in a user's `coco send`.
func TestOverQUIC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// A peer that does not serve the protocol.
	a, open := newHost(t), newHost(t)
	open.SetStreamHandler("/served", func(s network.Stream) { s.Close() })
	a.Peerstore().AddAddrs(open.ID(), open.Addrs(), time.Hour)
	_, err := a.NewStream(ctx, open.ID(), "/unknown")
	if !NotSupported(err) || Refused(err) {
		t.Errorf("NewStream(unknown protocol) = %v: NotSupported %v, Refused %v; want NotSupported only", err, NotSupported(err), Refused(err))
	}

	// A peer whose gater refuses this host. The dial succeeds and the peer
	// closes the connection with ConnGated; a stream opened on it says so.
	b, closed := newHost(t), newHost(t, libp2p.ConnectionGater(refuseAll{}))
	conns := make(chan network.Conn, 1)
	gone := make(chan struct{}, 1)
	b.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { conns <- c },
		DisconnectedF: func(network.Network, network.Conn) { gone <- struct{}{} },
	})
	if err := b.Connect(ctx, peer.AddrInfo{ID: closed.ID(), Addrs: closed.Addrs()}); err != nil {
		t.Fatalf("Connect(gated peer) = %v, want the dial to succeed before the peer closes", err)
	}
	c := <-conns
	select {
	case <-gone:
	case <-ctx.Done():
		t.Fatal("the gated peer did not close the connection")
	}
	_, err = c.NewStream(ctx)
	if !Refused(err) || NotSupported(err) {
		t.Errorf("Conn.NewStream(gated) = %v: Refused %v, NotSupported %v; want Refused only", err, Refused(err), NotSupported(err))
	}
	// The host's NewStream, once the connection is gone, loses the reason.
	if _, err := b.NewStream(network.WithNoDial(ctx, "test"), closed.ID(), "/served"); err == nil || Refused(err) {
		t.Errorf("Host.NewStream(gated, connection gone) = %v, Refused %v; want an error that is not Refused", err, Refused(err))
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		err                   error
		refused, notSupported bool
	}{
		{nil, false, false},
		{errors.New("connection gated"), false, false}, // the text alone says nothing
		{context.DeadlineExceeded, false, false},
		{fmt.Errorf("failed to open stream: %w", &network.ConnError{Remote: true, ErrorCode: network.ConnGated}), true, false},
		{&network.ConnError{Remote: true, ErrorCode: network.ConnResourceLimitExceeded}, false, false},
		{errors.New("protocols not supported: [/x]"), false, false},
	}
	for _, tt := range tests {
		if got := Refused(tt.err); got != tt.refused {
			t.Errorf("Refused(%v) = %v, want %v", tt.err, got, tt.refused)
		}
		if got := NotSupported(tt.err); got != tt.notSupported {
			t.Errorf("NotSupported(%v) = %v, want %v", tt.err, got, tt.notSupported)
		}
	}
}
