package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
)

// Config.Host gives the node its host, built with the node's own key; the
// node then opens no sockets and keeps no ports file.
func TestConfigHost(t *testing.T) {
	n := enginetest.New(t, "alice")
	mn := mocknet.New()
	defer mn.Close()
	dir := t.TempDir()
	var built host.Host
	e, err := engine.Start(context.Background(), engine.Config{
		Identity: n.Owner(), Log: n.Log(), Dir: dir,
		Host: func(key crypto.PrivKey) (host.Host, error) {
			h, err := mn.AddPeer(key, ma.StringCast("/ip4/10.9.9.9/tcp/4242"))
			built = h
			return h, err
		},
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer e.Close()
	if e.Node().Host() != built || built.ID() != e.PeerID() {
		t.Fatalf("the node runs host %v, not the one Config.Host built with its key (%v)", e.Node().Host().ID(), e.PeerID())
	}
	for _, f := range []string{"ports.json", "ports-coco.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); !os.IsNotExist(err) {
			t.Errorf("%s written with Config.Host (%v)", f, err)
		}
	}
}
