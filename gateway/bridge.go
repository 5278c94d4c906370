package gateway

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// Service is the request/reply service push servers of a network call on
// each other's nodes (see Bridge).
const Service = "coco.push"

// helloTimeout bounds one hello or bye.
const helloTimeout = 10 * time.Second

// wireMsg is the JSON payload of a coco.push request. Version 1; new
// fields are optional.
type wireMsg struct {
	T string     `json:"t"`           // "hello", "bye", "push" or "raw"
	P []wirePush `json:"p,omitempty"` // push: delivered in this order; raw: the ask
	V int        `json:"v,omitempty"` // hello: the highest version of push requests the sender reads
}

// wirePush is one forwarded push.
type wirePush struct {
	Account string   `json:"a"`
	From    string   `json:"f,omitempty"`
	To      []string `json:"to,omitempty"`
	Data    []byte   `json:"d,omitempty"`
	Loose   bool     `json:"l,omitempty"`
}

// wireReply is the JSON reply to a coco.push request.
type wireReply struct {
	N   []int  `json:"n,omitempty"`   // push: how many ids took each
	Raw string `json:"raw,omitempty"` // raw: rawTold, rawBoth or "" (not here)
	V   int    `json:"v,omitempty"`   // hello: as wireMsg.V
}

// wireBinary is the version of the binary push request and its first
// byte (a JSON request, version 1, starts with '{'): after it, the number
// of pushes, then for each a flags byte (1: loose), the account, the
// sender, the number of ids, the ids and the data, every number an
// unsigned varint and every string or data its length then its bytes. A
// push server sends it only to one whose hello said it reads it.
const wireBinary = 2

// appendBinary encodes pushes as a binary push request.
func appendBinary(b []byte, ps []wirePush) []byte {
	b = append(b, wireBinary)
	b = binary.AppendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		var flags byte
		if p.Loose {
			flags = 1
		}
		b = append(b, flags)
		b = appendBytes(b, p.Account)
		b = appendBytes(b, p.From)
		b = binary.AppendUvarint(b, uint64(len(p.To)))
		for _, id := range p.To {
			b = appendBytes(b, id)
		}
		b = appendBytes(b, p.Data)
	}
	return b
}

func appendBytes[T string | []byte](b []byte, v T) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

var errBinary = errors.New("gateway: bad binary coco.push request")

// parseBinary decodes a binary push request (after its version byte).
func parseBinary(b []byte) (wireMsg, error) {
	m := wireMsg{T: "push"}
	num := func(max uint64) (int, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 || v > max {
			return 0, false
		}
		b = b[n:]
		return int(v), true
	}
	bytesOf := func(max uint64) ([]byte, bool) {
		l, ok := num(min(max, uint64(len(b))))
		if !ok || l > len(b) {
			return nil, false
		}
		v := b[:l:l]
		b = b[l:]
		return v, true
	}
	n, ok := num(maxBatch)
	if !ok {
		return m, errBinary
	}
	m.P = make([]wirePush, n)
	for i := range m.P {
		if len(b) == 0 || b[0] > 1 {
			return m, errBinary
		}
		p := &m.P[i]
		p.Loose = b[0] == 1
		b = b[1:]
		acct, ok1 := bytesOf(maxIDLen)
		from, ok2 := bytesOf(maxIDLen)
		nto, ok3 := num(min(maxGroup, uint64(len(b))))
		if !ok1 || !ok2 || !ok3 {
			return m, errBinary
		}
		p.Account, p.From = string(acct), string(from)
		if nto > 0 {
			p.To = make([]string, nto)
		}
		for j := range p.To {
			id, ok := bytesOf(maxIDLen)
			if !ok {
				return m, errBinary
			}
			p.To[j] = string(id)
		}
		d, ok := bytesOf(maxWireData)
		if !ok {
			return m, errBinary
		}
		if len(d) > 0 {
			p.Data = d
		}
	}
	if len(b) != 0 {
		return m, errBinary
	}
	return m, nil
}

const (
	// maxBatch bounds the pushes of one request.
	maxBatch = 256
	// maxWireData bounds the data of one forwarded push.
	maxWireData = 1 << 20
	// maxIDLen bounds an account, sender or id of a binary request (the
	// ids are checked with validID after).
	maxIDLen = 1024
)

// parseWire decodes and checks a coco.push request from another node.
func parseWire(b []byte) (wireMsg, error) {
	var m wireMsg
	if len(b) > 0 && b[0] == wireBinary {
		var err error
		if m, err = parseBinary(b[1:]); err != nil {
			return m, err
		}
	} else if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("gateway: bad coco.push request: %w", err)
	}
	switch m.T {
	case "hello", "bye":
		return m, nil
	case "push":
		if len(m.P) == 0 || len(m.P) > maxBatch {
			return m, errors.New("gateway: coco.push: no pushes or too many")
		}
	case "raw":
		if len(m.P) != 1 || m.P[0].From == "" || len(m.P[0].To) != 1 || len(m.P[0].Data) > 0 || m.P[0].Loose {
			return m, errors.New("gateway: coco.push: a raw ask names one sender and one id, and no data")
		}
	default:
		return m, fmt.Errorf("gateway: unknown coco.push request %.16q", m.T)
	}
	for _, p := range m.P {
		if !validID([]byte(p.Account)) || (p.From != "" && !validID([]byte(p.From))) {
			return m, errors.New("gateway: coco.push: malformed account or sender")
		}
		if len(p.To) > maxGroup || len(p.Data) > maxWireData {
			return m, errors.New("gateway: coco.push: too many ids or too much data")
		}
		for _, id := range p.To {
			if !validID([]byte(id)) {
				return m, errors.New("gateway: coco.push: malformed id")
			}
		}
		if slices.Contains(p.Data, '\n') {
			return m, errors.New("gateway: coco.push: data holds a newline")
		}
	}
	return m, nil
}

// Bridge runs a push server on a coconet node: its account keys, groups,
// routers and aliases come from the network's ledger (LedgerStore), and
// pushes to ids that are not connected to it go over the network to the
// other push servers of the network, which deliver them with DeliverPush.
// A raw channel with an id connected to another push server runs over one
// stream between the two nodes (RawService). How the servers find each
// other and what a forwarded push costs: see "Across the network" and
// "Raw channels across push servers" in the package documentation.
type Bridge struct {
	n    *engine.Engine
	nd   *node.Node // n.Node() at the start: n may close first
	s    *Server
	logf func(string, ...any)
	nb   *network.NotifyBundle
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	once sync.Once

	nmu     sync.Mutex       // guards nstate and nok
	nstate  *ledger.State    // the ledger state nok was found in
	nok     map[peer.ID]bool // Named in nstate, by node
	mu      sync.Mutex       // guards all following fields
	closed  bool
	servers map[peer.ID]*outbox // member nodes that run a push server

	rawLn net.Listener // RawService
}

// outbox holds the pushes waiting to go to one push server; one request at
// a time carries them, in order.
type outbox struct {
	items   []outItem
	sending bool
	binary  bool // the far server reads binary push requests (its hello said so)
}

type outItem struct {
	p   wirePush
	agg *aggregate
}

// aggregate adds up what the push servers a push went to delivered.
type aggregate struct {
	mu    sync.Mutex
	left  int // servers yet to answer
	total int
	errs  []error
	max   int // cap of total (an id connected to two servers counts once); -1 none
	done  func(int, error)
}

func (a *aggregate) add(n int, err error) {
	a.mu.Lock()
	a.total += max(n, 0)
	if err != nil {
		a.errs = append(a.errs, err)
	}
	a.left--
	last := a.left == 0
	total, errs := a.total, a.errs
	a.mu.Unlock()
	if !last {
		return
	}
	if a.max >= 0 {
		total = min(total, a.max)
	}
	switch {
	case total > 0:
		a.done(total, nil)
	case len(errs) > 0:
		a.done(0, fmt.Errorf("gateway: forward: %w", errors.Join(errs...)))
	default:
		a.done(0, ErrOffline)
	}
}

// StartBridge starts s on n's network and bridges it to the network's
// other push servers. n must be a push server of the network (Named; else
// the error wraps ErrNotPushServer). s.Keys and s.Dir, if nil, become a
// LedgerStore of n's ledger that opens the keys with n's node key;
// s.Forward becomes the bridge. A node runs at most one bridged push
// server. ctx bounds only the start.
func StartBridge(ctx context.Context, n *engine.Engine, s *Server) (*Bridge, error) {
	if n == nil {
		return nil, errors.New("gateway: the node is not started")
	}
	if other, ok := engine.Lookup[*Bridge](n); ok {
		return nil, fmt.Errorf("gateway: a push server already runs on this node, on %s; stop it first", other.s.Addr())
	}
	if !Named(n.Ledger().State(), n.PeerID()) {
		return nil, fmt.Errorf("%w: node %s; an admin names it with `coco push server add NET %s`", ErrNotPushServer, n.PeerID().ShortString(), n.PeerID())
	}
	key, err := nodeKey(n.Node())
	if err != nil {
		return nil, err
	}
	store := NewLedgerStore(n.Ledger(), key)
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
	return engine.Attach(n, func(n *engine.Engine) (*Bridge, error) { return runBridge(ctx, n, s, logf) })
}

func runBridge(ctx context.Context, n *engine.Engine, s *Server, logf func(string, ...any)) (*Bridge, error) {
	b := &Bridge{n: n, nd: n.Node(), s: s, logf: logf, servers: map[peer.ID]*outbox{}}
	s.Forward = b
	ln, err := n.Listen(RawService, node.Everyone) // push servers are often devices
	if err == nil {
		b.rawLn = ln
		if err = s.Start(ctx); err != nil {
			ln.Close()
		}
	} else {
		err = fmt.Errorf("gateway: raw channels: %w", err)
	}
	if err != nil {
		return nil, err
	}
	b.ctx, b.stop = context.WithCancel(context.Background())
	b.wg.Add(1)
	go b.acceptRaw()
	n.Handle(Service, b.handle, node.Everyone)
	nd := b.nd
	b.nb = &network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			if p := c.RemotePeer(); nd.IsMember(p) && b.named(p) {
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
	b.helloNamed()
	// A node named (or a hello refused) before the ledger reached both
	// ends: say hello again when the ledger changes. (The hook cannot be
	// removed; after Close it does nothing.)
	n.Ledger().OnChange(func(*ledger.State) { b.helloNamed() })
	return b, nil
}

// helloNamed says hello to the connected push servers not yet known.
func (b *Bridge) helloNamed() {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return
	}
	for _, p := range b.nd.ConnectedMembers() {
		b.mu.Lock()
		known := b.servers[p] != nil
		b.mu.Unlock()
		if !known && b.named(p) {
			b.hello(p)
		}
	}
}

// nodeKey is the private key of nd (its libp2p identity).
func nodeKey(nd *node.Node) (ed25519.PrivateKey, error) {
	k := nd.Host().Peerstore().PrivKey(nd.ID())
	if k == nil {
		return nil, errors.New("gateway: the node's key is not in its peerstore")
	}
	raw, err := k.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, errors.New("gateway: the node's key is not an ed25519 key")
	}
	return ed25519.PrivateKey(raw), nil
}

// named reports whether p is a push server of the network now: only those
// exchange pushes and raw channels with this one.
func (b *Bridge) named(p peer.ID) bool {
	st := b.n.Ledger().State() // a state handed out never changes
	b.nmu.Lock()
	defer b.nmu.Unlock()
	if b.nstate != st {
		b.nstate, b.nok = st, make(map[peer.ID]bool)
	}
	ok, known := b.nok[p]
	if !known {
		ok = Named(st, p)
		b.nok[p] = ok
	}
	return ok
}

// Server is the push server the bridge runs.
func (b *Bridge) Server() *Server { return b.s }

// Engine is the engine the bridge runs on.
func (b *Bridge) Engine() *engine.Engine { return b.n }

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
		b.rawLn.Close()
		b.nd.Host().Network().StopNotify(b.nb)
		b.mu.Lock()
		b.closed = true
		peers := make([]peer.ID, 0, len(b.servers))
		for p := range b.servers {
			peers = append(peers, p)
		}
		b.mu.Unlock()
		b.stop() // forwards in flight fail now, so no device waits for them
		err = b.s.Close()
		bye, _ := json.Marshal(wireMsg{T: "bye"})
		var wg sync.WaitGroup
		for _, p := range peers { // best effort, briefly
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				b.n.RPC().Request(ctx, p, Service, bye)
			}()
		}
		wg.Wait()
		b.wg.Wait()
		engine.Detach(b.n, b)
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
		msg, _ := json.Marshal(wireMsg{T: "hello", V: wireBinary})
		ctx, cancel := context.WithTimeout(b.ctx, helloTimeout)
		defer cancel()
		out, err := b.n.RPC().Request(ctx, p, Service, msg)
		switch {
		case err == nil:
			var r wireReply
			json.Unmarshal(out, &r)
			b.learnVersion(p, r.V)
		case errors.Is(err, rpc.ErrUnknownService):
			b.forget(p)
		case b.ctx.Err() == nil:
			b.logf("gateway: hello to %s: %v", p.ShortString(), err)
		}
	}()
}

func (b *Bridge) learn(p peer.ID) {
	if !b.named(p) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed && b.servers[p] == nil {
		b.servers[p] = &outbox{}
	}
}

// learnVersion learns p and the version of push requests its hello said
// it reads.
func (b *Bridge) learnVersion(p peer.ID, v int) {
	b.learn(p)
	b.mu.Lock()
	if ob := b.servers[p]; ob != nil {
		ob.binary = v >= wireBinary
	}
	b.mu.Unlock()
}

// forget drops p; pushes waiting for it fail as offline.
func (b *Bridge) forget(p peer.ID) {
	b.mu.Lock()
	ob := b.servers[p]
	delete(b.servers, p)
	var items []outItem
	if ob != nil && !ob.sending {
		items, ob.items = ob.items, nil
	}
	b.mu.Unlock()
	for _, it := range items {
		it.agg.add(0, nil)
	}
}

// handle serves coco.push: requests from the push servers of other member
// nodes (the rpc service has checked membership; handle checks that the
// node is a push server of the network, and that this one still is).
func (b *Bridge) handle(ctx context.Context, req *rpc.Request) ([]byte, error) {
	from := req.From.Node
	if !b.named(from) {
		return nil, fmt.Errorf("%w: coco.push from node %s of %s refused", ErrNotPushServer, from.ShortString(), req.From.Name)
	}
	if !b.named(b.nd.ID()) {
		return nil, fmt.Errorf("%w: this node no longer is", ErrNotPushServer)
	}
	m, err := parseWire(req.Payload)
	if err != nil {
		return nil, err
	}
	switch m.T {
	case "hello":
		b.learnVersion(from, m.V)
		return json.Marshal(wireReply{V: wireBinary})
	case "bye":
		b.forget(from)
		return json.Marshal(wireReply{})
	case "raw":
		b.learn(from)
		p := m.P[0]
		return json.Marshal(wireReply{Raw: b.s.rawAsked(p.Account, p.From, p.To[0], from.String())})
	}
	if req.Payload[0] == wireBinary {
		b.learnVersion(from, wireBinary) // it pushes, so it runs a push server
	} else {
		b.learn(from)
	}
	r := wireReply{N: make([]int, len(m.P))}
	var k kicks // each receiver gets what it has in this request with one write
	for i, p := range m.P {
		r.N[i] = b.s.deliverPush(&k, Push{Account: p.Account, From: p.From, To: p.To, Data: p.Data, Loose: p.Loose})
	}
	k.kick()
	return json.Marshal(r)
}

// Forward implements Forwarder: it sends p to every known push server of
// the network at once and adds up what they delivered.
func (b *Bridge) Forward(ctx context.Context, p Push) (int, error) {
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	b.ForwardAsync(p, func(n int, err error) { ch <- result{n, err} })
	select {
	case r := <-ch:
		return r.n, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// ForwardAsync implements AsyncForwarder: p joins the outbox of every known
// push server; one request at a time per server carries what waits there,
// in order, and done gets the sum of what they delivered.
func (b *Bridge) ForwardAsync(p Push, done func(int, error)) {
	agg := &aggregate{max: len(p.To), done: done}
	if p.Loose {
		agg.max = -1
	}
	wp := wirePush{Account: p.Account, From: p.From, To: p.To, Data: p.Data, Loose: p.Loose}
	b.mu.Lock()
	if b.closed || len(b.servers) == 0 {
		b.mu.Unlock()
		done(0, ErrOffline)
		return
	}
	for id := range b.servers {
		if !b.named(id) { // no longer a push server: it gets nothing more
			delete(b.servers, id)
		}
	}
	if len(b.servers) == 0 {
		b.mu.Unlock()
		done(0, ErrOffline)
		return
	}
	agg.left = len(b.servers)
	for id, ob := range b.servers {
		ob.items = append(ob.items, outItem{wp, agg})
		if !ob.sending {
			ob.sending = true
			b.wg.Add(1)
			go b.send(id, ob)
		}
	}
	b.mu.Unlock()
}

// send carries the outbox of one push server until it is empty.
func (b *Bridge) send(id peer.ID, ob *outbox) {
	defer b.wg.Done()
	for {
		b.mu.Lock()
		if b.closed || b.servers[id] != ob || len(ob.items) == 0 {
			// Done, or forgotten or closing meanwhile: what waits is offline.
			items := ob.items
			ob.items, ob.sending = nil, false
			b.mu.Unlock()
			for _, it := range items {
				it.agg.add(0, nil)
			}
			return
		}
		items := ob.items[:min(len(ob.items), maxBatch)]
		ob.items = ob.items[len(items):]
		bin := ob.binary
		b.mu.Unlock()
		m := wireMsg{T: "push", P: make([]wirePush, len(items))}
		for i, it := range items {
			m.P[i] = it.p
		}
		var payload []byte
		if bin {
			payload = appendBinary(nil, m.P)
		} else {
			payload, _ = json.Marshal(m)
		}
		ctx, cancel := context.WithTimeout(b.ctx, forwardTimeout)
		out, err := b.n.RPC().Request(ctx, id, Service, payload)
		cancel()
		var r wireReply
		if err == nil {
			if err = json.Unmarshal(out, &r); err == nil && len(r.N) != len(items) {
				err = fmt.Errorf("%d counts for %d pushes", len(r.N), len(items))
			}
		}
		switch {
		case errors.Is(err, rpc.ErrUnknownService):
			b.forget(id) // its push server stopped
			err = nil
		case err != nil:
			err = fmt.Errorf("%s: %w", id.ShortString(), err)
		}
		for i, it := range items {
			n := 0
			if err == nil && r.N != nil {
				n = r.N[i]
			}
			it.agg.add(n, err)
		}
	}
}
