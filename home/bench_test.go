package home

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coconet/coconet/rpc"
)

// benchHome is the owner's node and a device node of hers serving ten
// simulated bulbs, meshed.
func benchHome(b *testing.B) (*Client, *Host, *rpc.Request) {
	alice, an := network(b)
	dn := device(b, alice, an, "dev")
	mesh(b, an, dn)
	h, err := NewHost(dn, HostOptions{Name: "dev"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	for i := range 10 {
		if err := h.Add(Resource{ID: fmt.Sprintf("bulb-%d", i), Capabilities: Caps("on_off", "level")}, nil); err != nil {
			b.Fatal(err)
		}
	}
	from, ok := dn.Node().SenderOf(an.PeerID())
	if !ok {
		b.Fatal("the device does not know the owner's node")
	}
	return NewClient(an), h, &rpc.Request{From: from, Service: ServiceCommand}
}

func benchAction(i int) Action {
	return Action{Resource: "bulb-3", Capability: "level", Command: "set", Args: map[string]any{"level": i % 101}}
}

// BenchmarkHandleCommand is the device's share of a command, in process:
// the request decoded, the decision from the ledger view, the effect, the
// change queued for publication and the reply encoded (and decoded).
func BenchmarkHandleCommand(b *testing.B) {
	_, h, req := benchHome(b)
	for _, enc := range []string{"json", "compact"} {
		b.Run(enc, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				a := benchAction(i)
				r := *req
				if enc == "json" {
					r.Payload, _ = json.Marshal(cmdRequest{Actions: []Action{a}})
				} else {
					r.Payload = encodeCmdRequest(nil, []Action{a})
				}
				out, err := h.handleCommand(context.Background(), &r)
				if err != nil {
					b.Fatal(err)
				}
				if enc == "json" {
					var rep cmdReply
					err = json.Unmarshal(out, &rep)
				} else {
					_, err = decodeCmdReply(out, 1)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCommand is a command's round trip through the client, beside
// an rpc echo of the same size between the same nodes.
func BenchmarkCommand(b *testing.B) {
	c, h, _ := benchHome(b)
	ctx := context.Background()
	if _, err := c.Command(ctx, benchAction(0)); err != nil {
		b.Fatal(err)
	}
	b.Run("home", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.Command(ctx, benchAction(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	h.n.Handle("bench.echo", func(ctx context.Context, req *rpc.Request) ([]byte, error) { return req.Payload, nil })
	p := encodeCmdRequest(nil, []Action{benchAction(1)})
	b.Run("echo", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if _, err := c.n.RPC().Request(ctx, h.self, "bench.echo", p); err != nil {
				b.Fatal(err)
			}
			cancel()
		}
	})
}
