package msg_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/coconet/coconet/internal/nodetest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/msg"
	"github.com/coconet/coconet/rpc"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// libp2p and quic-go keep package-level workers alive.
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/resource-manager.(*resourceManager).background"),
		goleak.IgnoreAnyFunction("github.com/quic-go/quic-go.(*Transport).listen"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/net/swarm.(*Swarm).dialWorkerLoop"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/host/basic.(*BasicHost).background"),
		goleak.IgnoreAnyFunction("net.(*netFD).Read"),
		goleak.IgnoreAnyFunction("internal/poll.runtime_pollWait"),
	)
}

// member is a started node with request/reply and messaging.
type member struct {
	*nodetest.Member
	rpc *rpc.Service
	msg *msg.Service
}

// start makes a network of alice (owner) and the others as guests, each
// with messaging; opts[name] configures that member's msg.Service.
func start(t *testing.T, opts map[string]msg.Options, others ...string) (*nodetest.Net, []*member) {
	t.Helper()
	users := []nodetest.User{{Name: "alice"}}
	for _, name := range others {
		users = append(users, nodetest.User{Name: name, Role: ledger.RoleGuest})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	net, err := nodetest.Start(ctx, t.TempDir(), t.Logf, users...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	var ms []*member
	for _, m := range net.Members {
		r, err := rpc.New(m.Node, rpc.Options{Logf: t.Logf})
		if err != nil {
			t.Fatalf("%s: rpc.New: %v", m.Name, err)
		}
		s, err := msg.New(r, opts[m.Name])
		if err != nil {
			t.Fatalf("%s: msg.New: %v", m.Name, err)
		}
		t.Cleanup(func() { s.Close(); r.Close() })
		ms = append(ms, &member{Member: m, rpc: r, msg: s})
	}
	return net, ms
}

func send(t *testing.T, from, to *member, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := from.msg.Send(ctx, to.Node.ID(), []byte(data)); err != nil {
		t.Fatalf("%s: Send(%s, %q) = %v, want nil", from.Name, to.Name, data, err)
	}
}

// next receives one message or fails after a generous guard.
func next(t *testing.T, ch <-chan msg.Message) msg.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return m
	case <-time.After(20 * time.Second):
		t.Fatal("no message after 20s")
	}
	panic("unreachable")
}

func expectNone(t *testing.T, ch <-chan msg.Message) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("received %q from %s, want nothing", m.Data, m.FromName)
	default:
	}
}
