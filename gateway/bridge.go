package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// Service is the request/reply service push servers of a network call on
// each other's nodes (see Bridge).
const Service = "coco.push"

const (
	// helloTimeout bounds one hello or bye.
	helloTimeout = 10 * time.Second
	// maxWireData bounds the data of a forwarded push.
	maxWireData = 1 << 20
)

// wireMsg is the JSON payload of a coco.push request. Version 1; new
// fields are optional.
type wireMsg struct {
	T       string   `json:"t"` // "hello", "bye" or "push"
	Account string   `json:"a,omitempty"`
	From    string   `json:"f,omitempty"`
	To      []string `json:"to,omitempty"`
	Data    []byte   `json:"d,omitempty"`
	Loose   bool     `json:"l,omitempty"`
}

// wireReply is the JSON reply to a coco.push request.
type wireReply struct {
	N int `json:"n"` // push: how many ids took it
}

// parseWire decodes and checks a coco.push request from another node.
func parseWire(b []byte) (wireMsg, error) {
	var m wireMsg
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("gateway: bad coco.push request: %w", err)
	}
	switch m.T {
	case "hello", "bye":
		return m, nil
	case "push":
	default:
		return m, fmt.Errorf("gateway: unknown coco.push request %.16q", m.T)
	}
	if !validID([]byte(m.Account)) || (m.From != "" && !validID([]byte(m.From))) {
		return m, errors.New("gateway: coco.push: malformed account or sender")
	}
	if len(m.To) > maxGroup || len(m.Data) > maxWireData {
		return m, errors.New("gateway: coco.push: too many ids or too much data")
	}
	for _, id := range m.To {
		if !validID([]byte(id)) {
			return m, errors.New("gateway: coco.push: malformed id")
		}
	}
	if slices.Contains(m.Data, '\n') {
		return m, errors.New("gateway: coco.push: data holds a newline")
	}
	return m, nil
}

// Bridge runs a push server on a coconet node: its account keys, groups,
// routers and aliases come from the network's ledger (LedgerStore), and
// pushes to ids that are not connected to it go over the network to the
// other push servers of the network, which deliver them with DeliverPush.
//
// How a push server finds the others: it serves the request/reply service
// coco.push on its node and says hello to every member node it is
// connected to, now and whenever a connection opens; a node that answers
// runs a push server, one that does not know the service does not. A
// server that receives a hello knows the sender runs one. A server that
// stops says bye; one whose node disconnects is forgotten. A push for ids
// not connected here goes to every known push server at once (fan-out),
// and their counts add up — which costs one request per push server and
// push, fine for the handful of gateways a network has.
//
// Only member nodes ever take part: the node admits no one else and the
// request/reply service checks membership on every request.
type Bridge struct {
	n    *coconet.Node
	nd   *node.Node // n.Internal() at the start: n may close first
	s    *Server
	logf func(string, ...any)
	nb   *network.NotifyBundle
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once

	mu      sync.Mutex // guards all following fields
	closed  bool
	servers map[peer.ID]bool // member nodes that run a push server
}

var (
	bridgesMu sync.Mutex
	bridges   = map[*coconet.Node]*Bridge{}
)

// StartBridge starts s on n's network and bridges it to the network's
// other push servers. s.Keys and s.Dir, if nil, become a LedgerStore of
// n's ledger; s.Forward becomes the bridge. A node runs at most one
// bridged push server. ctx bounds only the start.
func StartBridge(ctx context.Context, n *coconet.Node, s *Server) (*Bridge, error) {
	if n.Internal() == nil {
		return nil, errors.New("gateway: the node is not started")
	}
	store := NewLedgerStore(n.Ledger())
	if s.Keys == nil {
		s.Keys = store
	}
	if s.Dir == nil {
		s.Dir = store
	}
	logf := s.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	b := &Bridge{n: n, nd: n.Internal(), s: s, logf: logf, servers: map[peer.ID]bool{}}
	s.Forward = b
	bridgesMu.Lock()
	if other := bridges[n]; other != nil {
		bridgesMu.Unlock()
		return nil, fmt.Errorf("gateway: a push server already runs on this node, on %s; stop it first", other.s.Addr())
	}
	bridges[n] = b
	bridgesMu.Unlock()
	if err := s.Start(ctx); err != nil {
		bridgesMu.Lock()
		delete(bridges, n)
		bridgesMu.Unlock()
		return nil, err
	}
	b.ctx, b.stop = context.WithCancel(context.Background())
	n.Handle(Service, b.handle)
	nd := b.nd
	b.nb = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if p := c.RemotePeer(); nd.IsMember(p) {
				b.hello(p)
			}
		},
		DisconnectedF: func(nw network.Network, c network.Conn) {
			if p := c.RemotePeer(); len(nw.ConnsToPeer(p)) == 0 {
				b.forget(p)
			}
		},
	}
	nd.Host().Network().Notify(b.nb)
	for _, p := range nd.ConnectedMembers() {
		b.hello(p)
	}
	return b, nil
}

// Server is the push server the bridge runs.
func (b *Bridge) Server() *Server { return b.s }

// Node is the node the bridge runs on.
func (b *Bridge) Node() *coconet.Node { return b.n }

// Servers lists the member nodes known to run a push server of the network.
func (b *Bridge) Servers() []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]peer.ID, 0, len(b.servers))
	for p := range b.servers {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Close stops the push server, tells the other push servers and waits for
// every goroutine. It is idempotent.
func (b *Bridge) Close() error {
	var err error
	b.once.Do(func() {
		b.n.Handle(Service, nil)
		b.nd.Host().Network().StopNotify(b.nb)
		err = b.s.Close()
		b.mu.Lock()
		b.closed = true
		peers := make([]peer.ID, 0, len(b.servers))
		for p := range b.servers {
			peers = append(peers, p)
		}
		b.mu.Unlock()
		bye, _ := json.Marshal(wireMsg{T: "bye"})
		var wg sync.WaitGroup
		for _, p := range peers { // best effort, briefly
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(b.ctx, time.Second)
				defer cancel()
				b.n.RPC().Request(ctx, p, Service, bye)
			}()
		}
		wg.Wait()
		b.stop()
		b.wg.Wait()
		bridgesMu.Lock()
		if bridges[b.n] == b {
			delete(bridges, b.n)
		}
		bridgesMu.Unlock()
	})
	return err
}

// hello asks p, in the background, whether it runs a push server.
func (b *Bridge) hello(p peer.ID) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.wg.Done()
		msg, _ := json.Marshal(wireMsg{T: "hello"})
		ctx, cancel := context.WithTimeout(b.ctx, helloTimeout)
		defer cancel()
		_, err := b.n.RPC().Request(ctx, p, Service, msg)
		switch {
		case err == nil:
			b.learn(p)
		case errors.Is(err, rpc.ErrUnknownService):
			b.forget(p)
		case b.ctx.Err() == nil:
			b.logf("gateway: hello to %s: %v", p.ShortString(), err)
		}
	}()
}

func (b *Bridge) learn(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.servers[p] = true
	}
}

func (b *Bridge) forget(p peer.ID) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.servers, p)
}

// handle serves coco.push: requests from the push servers of other member
// nodes (the rpc service has checked membership).
func (b *Bridge) handle(ctx context.Context, req *rpc.Request) ([]byte, error) {
	m, err := parseWire(req.Payload)
	if err != nil {
		return nil, err
	}
	from := req.From.Node
	switch m.T {
	case "hello":
		b.learn(from)
		return json.Marshal(wireReply{})
	case "bye":
		b.forget(from)
		return json.Marshal(wireReply{})
	}
	b.learn(from) // it pushes, so it runs a push server
	n := b.s.DeliverPush(Push{Account: m.Account, From: m.From, To: m.To, Data: m.Data, Loose: m.Loose})
	return json.Marshal(wireReply{N: n})
}

// Forward implements Forwarder: it sends p to every known push server of
// the network at once and adds up what they delivered.
func (b *Bridge) Forward(ctx context.Context, p Push) (int, error) {
	peers := b.Servers()
	if len(peers) == 0 {
		return 0, ErrOffline
	}
	msg, err := json.Marshal(wireMsg{T: "push", Account: p.Account, From: p.From, To: p.To, Data: p.Data, Loose: p.Loose})
	if err != nil {
		return 0, err
	}
	var (
		mu    sync.Mutex
		total int
		errs  []error
		wg    sync.WaitGroup
	)
	for _, peer := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := b.n.RPC().Request(ctx, peer, Service, msg)
			var r wireReply
			if err == nil {
				err = json.Unmarshal(out, &r)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, rpc.ErrUnknownService):
				b.forget(peer) // its push server stopped
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %w", peer.ShortString(), err))
			default:
				total += max(r.N, 0)
			}
		}()
	}
	wg.Wait()
	if !p.Loose {
		total = min(total, len(p.To)) // an id connected to two servers counts once
	}
	if total == 0 {
		if len(errs) > 0 {
			return 0, fmt.Errorf("gateway: forward: %w", errors.Join(errs...))
		}
		return 0, ErrOffline
	}
	return total, nil
}
