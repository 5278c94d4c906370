package control_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/ledger"
)

// TestCachedProofStolen: a node's proof, once verified (and so remembered
// by the control plane), gets a stranger who copied its bytes nothing: the
// certificate names the node key, and a request proves another.
func TestCachedProofStolen(t *testing.T) {
	srv := startServer(t, control.Config{})
	alice := newNet(t, "alice")[0]
	an := newRawNode(t, srv)
	proof := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, time.Now())
	if err := an.register(t, proof); err != nil {
		t.Fatalf("Register = %v, want ok", err)
	}
	mallory := newRawNode(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := controlproto.Lookup(ctx, mallory.h, srv.ID(), proof); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Errorf("Lookup with alice's node's proof from another key = %v, want ErrUnauthorized", err)
	}
	if _, err := controlproto.GetUsage(ctx, mallory.h, srv.ID(), proof); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Errorf("GetUsage with alice's node's proof from another key = %v, want ErrUnauthorized", err)
	}
	if err := mallory.register(t, proof); !errors.Is(err, controlproto.ErrUnauthorized) {
		t.Errorf("Register with alice's node's proof from another key = %v, want ErrUnauthorized", err)
	}
	// The proof still works for its own node.
	if _, err := controlproto.Lookup(ctx, an.h, srv.ID(), proof); err != nil {
		t.Errorf("Lookup by alice's node again = %v, want ok", err)
	}
}

// TestCachedProofExpires: a proof remembered as verified is refused once
// its certificate has expired, and if the clock goes back to before it was
// issued.
func TestCachedProofExpires(t *testing.T) {
	var skew atomic.Int64
	srv := startServer(t, control.Config{Now: func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }})
	alice := newNet(t, "alice")[0]
	an := newRawNode(t, srv)
	proof := an.proof(alice, alice.id(), ledger.RoleOwner, alice.seed.UserKey(), nil, time.Now())
	if err := an.register(t, proof); err != nil {
		t.Fatalf("Register = %v, want ok", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range []struct {
		name string
		skew time.Duration
	}{
		{"certificate expired", 2 * time.Hour},
		{"clock before the certificate", -time.Hour},
	} {
		skew.Store(int64(tt.skew))
		if _, err := controlproto.Lookup(ctx, an.h, srv.ID(), proof); !errors.Is(err, controlproto.ErrUnauthorized) {
			t.Errorf("%s: Lookup = %v, want ErrUnauthorized", tt.name, err)
		}
	}
}
