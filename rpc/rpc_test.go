package rpc_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

var (
	pair  = nettest.Pair
	start = nettest.Start
)

func newService(t *testing.T, n *engine.Engine, opts rpc.Options) *rpc.Service {
	t.Helper()
	opts.Logf = t.Logf
	s, err := rpc.New(n.Node(), opts)
	if err != nil {
		t.Fatalf("rpc.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func echo(ctx context.Context, req *rpc.Request) ([]byte, error) { return req.Payload, nil }

func TestRequestReply(t *testing.T) {
	alice, bob := pair(t, ledger.RoleAdmin)
	as := newService(t, alice, rpc.Options{})
	bs := newService(t, bob, rpc.Options{})
	as.Handle("echo", echo)
	var from node.Sender
	as.Handle("whoami", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		from = req.From
		return []byte(req.From.Name), nil
	})
	as.Handle("fail", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		return nil, errors.New("sensor offline")
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	t.Run("echo", func(t *testing.T) {
		got, err := bs.Request(ctx, alice.PeerID(), "echo", []byte("hello"))
		if err != nil || string(got) != "hello" {
			t.Fatalf("Request(echo, hello) = %q, %v, want hello", got, err)
		}
		got, err = bs.Request(ctx, alice.PeerID(), "whoami", nil)
		if err != nil || string(got) != "bob" || from.Node != bob.PeerID() || from.Role != ledger.RoleAdmin {
			t.Fatalf("Request(whoami) = %q, %v (from %+v), want bob, admin, his node", got, err, from)
		}
	})
	t.Run("both ways", func(t *testing.T) {
		bs.Handle("echo", echo)
		defer bs.Handle("echo", nil)
		got, err := as.Request(ctx, bob.PeerID(), "echo", []byte("back"))
		if err != nil || string(got) != "back" {
			t.Fatalf("alice: Request(echo, back) = %q, %v, want back", got, err)
		}
	})
	t.Run("unknown service", func(t *testing.T) {
		_, err := bs.Request(ctx, alice.PeerID(), "nope", nil)
		if !errors.Is(err, rpc.ErrUnknownService) {
			t.Fatalf("Request(nope) err = %v, want ErrUnknownService", err)
		}
		as.Handle("gone", echo)
		as.Handle("gone", nil)
		if _, err := bs.Request(ctx, alice.PeerID(), "gone", nil); !errors.Is(err, rpc.ErrUnknownService) {
			t.Fatalf("Request(removed handler) err = %v, want ErrUnknownService", err)
		}
	})
	t.Run("remote error", func(t *testing.T) {
		_, err := bs.Request(ctx, alice.PeerID(), "fail", nil)
		var re *rpc.RemoteError
		if !errors.As(err, &re) || re.Message != "sensor offline" || re.Service != "fail" {
			t.Fatalf("Request(fail) err = %v, want RemoteError{fail, sensor offline}", err)
		}
	})
	t.Run("deadline reaches handler", func(t *testing.T) {
		seen := make(chan error, 1)
		as.Handle("slow", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
			_, hasDeadline := ctx.Deadline()
			<-ctx.Done()
			if !hasDeadline {
				seen <- errors.New("handler context had no deadline")
			} else {
				seen <- ctx.Err()
			}
			return nil, ctx.Err()
		})
		dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer dcancel()
		_, err := bs.Request(dctx, alice.PeerID(), "slow", nil)
		if !errors.Is(err, rpc.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Request(slow) err = %v, want ErrDeadline matching context.DeadlineExceeded", err)
		}
		select {
		case err := <-seen:
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				t.Fatalf("handler's ctx ended with %v, want deadline exceeded or canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's context did not end after the caller's deadline")
		}
	})
	t.Run("cancel reaches handler", func(t *testing.T) {
		seen := make(chan error, 1)
		as.Handle("wait", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
			<-ctx.Done()
			seen <- ctx.Err()
			return nil, ctx.Err()
		})
		cctx, ccancel := context.WithCancel(ctx)
		go func() { time.Sleep(100 * time.Millisecond); ccancel() }()
		if _, err := bs.Request(cctx, alice.PeerID(), "wait", nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Request(wait) err = %v, want context.Canceled", err)
		}
		select {
		case err := <-seen:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("handler's ctx ended with %v, want canceled", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's context did not end after the caller cancelled")
		}
	})
	t.Run("large payload", func(t *testing.T) {
		for _, size := range []int{64 << 10, 64<<10 + 1, 4 << 20, rpc.MaxPayload} {
			p := make([]byte, size)
			rand.Read(p)
			got, err := bs.Request(ctx, alice.PeerID(), "echo", p)
			if err != nil || !bytes.Equal(got, p) {
				t.Fatalf("Request(echo, %d bytes) = %d bytes, %v, want the same bytes", size, len(got), err)
			}
		}
		if _, err := bs.Request(ctx, alice.PeerID(), "echo", make([]byte, rpc.MaxPayload+1)); err == nil {
			t.Fatal("Request with a payload over MaxPayload succeeded")
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for i := range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 20 {
					want := fmt.Sprintf("req %d.%d", i, j)
					got, err := bs.Request(ctx, alice.PeerID(), "echo", []byte(want))
					if err != nil || string(got) != want {
						errs <- fmt.Errorf("Request(echo, %s) = %q, %v", want, got, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		aliceID := alice.PeerID()
		alice.Close()
		uctx, ucancel := context.WithTimeout(ctx, 15*time.Second)
		defer ucancel()
		for range 2 { // first on the old stream or a redial, then a fresh dial
			_, err := bs.Request(uctx, aliceID, "echo", []byte("anyone?"))
			if !errors.Is(err, rpc.ErrUnreachable) {
				t.Fatalf("Request to a stopped node err = %v, want ErrUnreachable", err)
			}
		}
	})
}

// TestNotAllowed: the Authorize hook refuses guests; the caller hears why.
func TestNotAllowed(t *testing.T) {
	alice, bob := pair(t, ledger.RoleGuest)
	as := newService(t, alice, rpc.Options{Authorize: func(from node.Sender, service string) error {
		if from.Role == ledger.RoleGuest && service != "public" {
			return fmt.Errorf("guest %s has no grant for %q", from.Name, service)
		}
		return nil
	}})
	bs := newService(t, bob, rpc.Options{})
	as.Handle("thermo.read", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return []byte("21.5"), nil }, node.Everyone)
	as.Handle("public", echo, node.Everyone)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := bs.Request(ctx, alice.PeerID(), "thermo.read", nil)
	if !errors.Is(err, rpc.ErrNotAllowed) {
		t.Fatalf("guest Request(thermo.read) err = %v, want ErrNotAllowed", err)
	}
	if got, err := bs.Request(ctx, alice.PeerID(), "public", []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("guest Request(public) = %q, %v, want ok", got, err)
	}
}
