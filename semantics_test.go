package coconet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/transfer"
)

// pair makes alice (owner) and bob (guest) connected on loopback.
func pair(t *testing.T) (an, bn *Node) {
	t.Helper()
	alice, bob := newUser(t, "alice"), newUser(t, "bob")
	if _, err := CreateNetwork(alice.home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	an = alice.start(t, "home")
	peers := bob.join(t, makeInvite(t, an, ledger.RoleGuest, 1))
	bn = bob.start(t, "home")
	bn.engine().Node().AddPeerAddrs(peers)
	waitConnected(t, bn, "alice")
	waitConnected(t, an, "bob")
	return an, bn
}

func TestRequestReply(t *testing.T) {
	an, bn := pair(t)
	an.Handle("thermo.read", func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		return []byte(fmt.Sprintf("21.5C for %s", req.From.Name)), nil
	}, Access{Roles: []ledger.Role{ledger.RoleGuest}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := bn.Request(ctx, "alice", "thermo.read", nil)
	if err != nil || string(got) != "21.5C for bob" {
		t.Fatalf("Request = %q, %v; want 21.5C for bob", got, err)
	}
	if _, err := bn.Request(ctx, "alice", "nope", nil); !errors.Is(err, rpc.ErrUnknownService) {
		t.Fatalf("unknown service: err = %v", err)
	}
}

func TestStreamAndTunnel(t *testing.T) {
	an, bn := pair(t)
	// An HTTP server on alice's machine, exposed to the network.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello through the tunnel, %s", r.URL.Path)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ex, err := an.Expose(ctx, "web", srv.Listener.Addr().String(), Access{Users: []identity.UserID{bn.User()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ex.Close()
	op, err := bn.OpenTunnel(ctx, "alice", "web", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer op.Close()
	resp, err := http.Get("http://" + op.Addr().String() + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello through the tunnel, /x" {
		t.Fatalf("GET through tunnel = %q", body)
	}
	// A plain stream with half-close.
	l, err := an.Listen("echo", Access{Roles: []ledger.Role{ledger.RoleGuest}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := bn.Dial(ctx, "alice", "echo")
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("ping"))
	c.CloseWrite()
	got, _ := io.ReadAll(c)
	if string(got) != "ping" {
		t.Fatalf("echo = %q", got)
	}
}

func TestSendFile(t *testing.T) {
	an, bn := pair(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Not receiving yet: a clear error.
	src := filepath.Join(t.TempDir(), "photo.jpg")
	data := make([]byte, 5<<20)
	rand.Read(data)
	os.WriteFile(src, data, 0o600)
	if _, err := bn.SendFile(ctx, "alice", src, nil); err == nil {
		t.Fatal("SendFile to a node that is not receiving succeeded")
	}
	events := make(chan transfer.Event, 4)
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go an.ReceiveFiles(rctx, dir, nil, func(e transfer.Event) { events <- e }, ReceiveOptions{Allow: Access{Roles: []ledger.Role{ledger.RoleGuest}}})
	var last int64
	var res transfer.Result
	var err error
	for i := 0; i < 50; i++ { // until the receiver's listener is up
		res, err = bn.SendFile(ctx, "alice", src, func(phase string, done, total int64) {
			if phase == "send" {
				last = done
			}
		})
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, res.Path))
	if !bytes.Equal(got, data) || last != int64(len(data)) || res.Path != "photo.jpg" {
		t.Fatalf("received %d bytes (progress %d) as %q, want %d as photo.jpg", len(got), last, res.Path, len(data))
	}
	if e := <-events; e.From != "bob" || e.Path != filepath.Join(dir, res.Path) {
		t.Fatalf("event = %+v", e)
	}
}

// TestAddPolicy checks that a policy added while the node runs narrows who
// may call a service, and that the refusal reaches the caller.
func TestAddPolicy(t *testing.T) {
	an, bn := pair(t)
	an.Handle("door.open", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return []byte("opened"), nil }, Everyone)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if got, err := bn.Request(ctx, "alice", "door.open", nil); err != nil || string(got) != "opened" {
		t.Fatalf("before the policy: Request = %q, %v; want opened", got, err)
	}
	an.AddPolicy(Policy{Request: func(from node.Sender, service string) error {
		if from.Role == ledger.RoleGuest && service == "door.open" {
			return errors.New("guests may not open the door")
		}
		return nil
	}})
	_, err := bn.Request(ctx, "alice", "door.open", nil)
	if err == nil || !strings.Contains(err.Error(), "guests may not open the door") {
		t.Fatalf("after the policy: err = %v, want the policy's refusal", err)
	}
	if got, err := an.Request(ctx, "bob", "coco.unknown", nil); err == nil {
		t.Fatalf("alice calling bob: got %q, want unknown service", got)
	}
}
