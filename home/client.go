package home

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
)

// DefaultTimeout bounds a listing, a command or a scene whose context has
// no deadline: an offline device fails its actions within it.
const DefaultTimeout = 10 * time.Second

// unconnectedTimeout bounds the wait for a device node this node has no
// connection to, when listing.
const unconnectedTimeout = 3 * time.Second

// Client uses the resources of a network from any member node: it lists
// them across the owner's device nodes, runs commands and scenes on the
// nodes that serve them, and watches attribute changes. Every decision is
// the serving host's; the client only finds the way.
type Client struct {
	n *engine.Engine

	mu       sync.Mutex         // guards following fields
	where    map[string]peer.ID // resource → node serving it, from listings
	idStr    map[peer.ID]string // id.String() of the nodes in where
	jsonOnly map[peer.ID]bool   // hosts that do not read the compact encoding
}

// NewClient returns a client on a started node.
func NewClient(n *engine.Engine) *Client {
	return &Client{n: n, where: map[string]peer.ID{}, idStr: map[peer.ID]string{}, jsonOnly: map[peer.ID]bool{}}
}

// Store is the client's network's store of zones, grants and scenes.
func (c *Client) Store() *Store { return NodeStore(c.n) }

// Listing is the resources found across the network.
type Listing struct {
	Resources []Resource `json:"resources"`
	// Offline names the device nodes that could not be reached.
	Offline []string `json:"offline,omitempty"`
}

func withDefault(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func (c *Client) self() node.Sender {
	s, _ := c.n.Node().SenderOf(c.n.PeerID())
	return s
}

// hostNodes lists the owner's nodes: the ones that serve resources.
func (c *Client) hostNodes(st *ledger.State) []peer.ID {
	var out []peer.ID
	for _, id := range node.NodesOf(st, st.Owner) {
		if id != c.n.PeerID() || localHost(c.n) != nil {
			out = append(out, id)
		}
	}
	return out
}

// List lists the resources the caller may see on every reachable device
// node (those in zone only, if zone is not ""), sorted by ID.
func (c *Client) List(ctx context.Context, zone string) (Listing, error) {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	st := c.n.Ledger().State()
	if c.self().Role == ledger.RoleNone {
		return Listing{}, fmt.Errorf("you are no longer a member of %q", st.Name)
	}
	req, _ := json.Marshal(listRequest{Zone: zone})
	type answer struct {
		id      peer.ID
		reply   listReply
		offline bool
	}
	ids := c.hostNodes(st)
	answers := make([]answer, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].id = id
			if id == c.n.PeerID() {
				if h := localHost(c.n); h != nil {
					answers[i].reply = h.list(c.self(), zone)
				}
				return
			}
			cctx := ctx
			if !c.n.Connected(id) {
				// A node without a connection is likely offline, and dialing
				// a dead QUIC address waits for a handshake timeout: leave
				// at least half of the time to what comes after the listing.
				wait := unconnectedTimeout
				if d, ok := ctx.Deadline(); ok {
					wait = min(wait, time.Until(d)/2)
				}
				var cancel context.CancelFunc
				cctx, cancel = context.WithTimeout(ctx, wait)
				defer cancel()
			}
			b, err := c.n.RPC().Request(cctx, id, ServiceList, req)
			switch {
			case err == nil:
				if json.Unmarshal(b, &answers[i].reply) != nil {
					answers[i].offline = true
				}
			case errors.Is(err, rpc.ErrUnknownService):
				// A node of the owner's that serves no resources.
			default:
				answers[i].offline = true
			}
		}()
	}
	wg.Wait()
	var out Listing
	out.Resources = []Resource{}
	c.mu.Lock()
	for _, a := range answers {
		if a.offline {
			out.Offline = append(out.Offline, nodeName(st, a.id))
			continue
		}
		idStr := a.id.String()
		for _, r := range a.reply.Resources {
			r.Node = idStr // trust only the node we asked
			c.where[r.ID] = a.id
			out.Resources = append(out.Resources, r)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(out.Resources, func(a, b Resource) int { return strings.Compare(a.ID, b.ID) })
	slices.Sort(out.Offline)
	return out, nil
}

// Command runs one command on the resource, wherever it is served. The
// error, when the command failed, is an *ActionError matching ErrDenied,
// ErrInvalid, ErrNotFound, ErrOffline, ErrTimeout or ErrFailed.
func (c *Client) Command(ctx context.Context, a Action) (Result, error) {
	r := c.Run(ctx, []Action{a})[0]
	return r, r.Err()
}

// Run runs actions concurrently, each on the node that serves its
// resource (one request per node), and returns one result per action in
// order. It returns when every action has a result: an offline device
// fails its actions with CodeOffline, within ctx's deadline (DefaultTimeout
// without one).
func (c *Client) Run(ctx context.Context, actions []Action) []Result {
	ctx, cancel := withDefault(ctx)
	defer cancel()
	start := time.Now()
	out := make([]Result, len(actions))
	var offline []string
	if c.missing(actions) {
		offline = c.locate(ctx)
	}
	retry := c.dispatch(ctx, actions, out, offline, start)
	if len(retry) > 0 {
		// A resource moved or went: find it again once.
		offline = c.locate(ctx)
		sub := make([]Action, len(retry))
		for i, j := range retry {
			sub[i] = actions[j]
		}
		res := make([]Result, len(sub))
		c.dispatch(ctx, sub, res, offline, start)
		for i, j := range retry {
			out[j] = res[i]
		}
	}
	return out
}

// locate lists the resources to learn where they are, within half of the
// time left (the other half is for the commands), and returns the device
// nodes found offline.
func (c *Client) locate(ctx context.Context) []string {
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Until(d)/2)
		defer cancel()
	}
	l, _ := c.List(ctx, "")
	return l.Offline
}

// missing reports whether some action's resource has no known node.
func (c *Client) missing(actions []Action) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range actions {
		if _, ok := c.where[a.Resource]; !ok {
			return true
		}
	}
	return false
}

// dispatch runs actions grouped by node and fills out; it returns the
// indexes of the actions whose host no longer served their resource.
func (c *Client) dispatch(ctx context.Context, actions []Action, out []Result, offline []string, start time.Time) (retry []int) {
	if len(actions) == 1 {
		c.mu.Lock()
		id, ok := c.where[actions[0].Resource]
		c.mu.Unlock()
		if ok { // the common case, without the grouping
			out[0] = c.call(ctx, id, actions, start)[0]
			if out[0].Code == CodeNotFound {
				retry = []int{0}
			}
			return retry
		}
	}
	groups := map[peer.ID][]int{}
	c.mu.Lock()
	for i, a := range actions {
		id, ok := c.where[a.Resource]
		if !ok {
			why := ""
			if len(offline) > 0 {
				why = fmt.Sprintf(" (offline: %s)", strings.Join(offline, ", "))
			}
			out[i] = failed(a, CodeNotFound, "no resource %s on any reachable device of %q that you may see%s", a.Resource, c.n.Ledger().State().Name, why)
			out[i].Took = time.Since(start)
			continue
		}
		groups[id] = append(groups[id], i)
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	one := func(id peer.ID, idx []int) {
		sub := make([]Action, len(idx))
		for i, j := range idx {
			sub[i] = actions[j]
		}
		res := c.call(ctx, id, sub, start)
		mu.Lock()
		defer mu.Unlock()
		for i, j := range idx {
			out[j] = res[i]
			if res[i].Code == CodeNotFound {
				retry = append(retry, j)
			}
		}
	}
	for id, idx := range groups {
		if len(groups) == 1 {
			one(id, idx) // no goroutine for the common case
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(id, idx)
		}()
	}
	wg.Wait()
	slices.Sort(retry)
	return retry
}

// call runs actions on one node.
// ReachTimeout bounds how long a command waits to reach a device that is
// not connected before its actions fail as offline.
var ReachTimeout = 3 * time.Second

func (c *Client) call(ctx context.Context, id peer.ID, actions []Action, start time.Time) []Result {
	if id == c.n.PeerID() {
		if h := localHost(c.n); h != nil {
			return h.run(ctx, c.self(), actions)
		}
	}
	st := c.n.Ledger().State()
	idStr := c.nodeString(id)
	fail := func(code Code, format string, args ...any) []Result {
		out := make([]Result, len(actions))
		dev := nodeName(st, id)
		for i, a := range actions {
			out[i] = failed(a, code, format, args...)
			out[i].Device, out[i].Node, out[i].Took = dev, idStr, time.Since(start)
		}
		return out
	}
	dev := func() string { return nodeName(st, id) }
	if !st.IsMemberNode(mustKey(id)) {
		c.forget(id)
		return fail(CodeNotFound, "device %s is no longer a node of %q", dev(), st.Name)
	}
	connected := c.n.Connected(id)
	if !connected {
		// A device that is off fails its actions within ReachTimeout, not
		// at the request's deadline (a dial to a closed QUIC port waits).
		cctx, cancel := context.WithTimeout(ctx, ReachTimeout)
		err := c.n.Node().Host().Connect(cctx, peer.AddrInfo{ID: id})
		cancel()
		if err != nil && ctx.Err() == nil {
			return fail(CodeOffline, "device %s is offline (it could not be reached within %s)", dev(), time.Since(start).Round(time.Millisecond))
		}
	}
	b, err := c.request(ctx, id, actions)
	var re *rpc.RemoteError
	switch {
	case err == nil:
	case errors.Is(err, rpc.ErrUnreachable):
		return fail(CodeOffline, "device %s is offline (it could not be reached)", dev())
	case (errors.Is(err, rpc.ErrDeadline) || errors.Is(err, context.DeadlineExceeded)) && !connected:
		return fail(CodeOffline, "device %s is offline (it could not be reached within %s)", dev(), time.Since(start).Round(time.Millisecond))
	case errors.Is(err, rpc.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return fail(CodeTimeout, "device %s did not answer within %s", dev(), time.Since(start).Round(time.Millisecond))
	case errors.Is(err, rpc.ErrNotAllowed):
		return fail(CodeDenied, "device %s refused: %v", dev(), err)
	case errors.Is(err, rpc.ErrUnknownService):
		c.forget(id)
		return fail(CodeNotFound, "device %s serves no resources now", dev())
	case errors.As(err, &re):
		return fail(CodeFailed, "device %s: %s", dev(), re.Message)
	default:
		return fail(CodeOffline, "device %s: %v", dev(), err)
	}
	var rep cmdReply
	if isCompact(b) {
		rep.Results, err = decodeCmdReply(b, len(actions))
	} else {
		err = json.Unmarshal(b, &rep)
	}
	if err != nil || len(rep.Results) != len(actions) {
		return fail(CodeFailed, "device %s answered something that is not %d results", dev(), len(actions))
	}
	for i := range rep.Results {
		rep.Results[i].Action = actions[i] // what we asked, not what it says we asked
		rep.Results[i].Node = idStr
		for j := range rep.Results[i].Changes {
			rep.Results[i].Changes[j].normalize()
		}
	}
	return rep.Results
}

// request sends actions to the host on id in the compact encoding, or in
// JSON to a host that does not read it (an older version).
func (c *Client) request(ctx context.Context, id peer.ID, actions []Action) ([]byte, error) {
	c.mu.Lock()
	old := c.jsonOnly[id]
	c.mu.Unlock()
	if !old {
		b, err := c.n.RPC().Request(ctx, id, ServiceCommand, encodeCmdRequest(make([]byte, 0, 64*len(actions)), actions))
		var re *rpc.RemoteError
		if !errors.As(err, &re) || !strings.Contains(re.Message, "bad command request: invalid character") {
			return b, err
		}
		c.mu.Lock()
		c.jsonOnly[id] = true
		c.mu.Unlock()
	}
	req, _ := json.Marshal(cmdRequest{Actions: actions})
	return c.n.RPC().Request(ctx, id, ServiceCommand, req)
}

// nodeString is id.String(), remembered (it costs a base58 encoding).
func (c *Client) nodeString(id peer.ID) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.idStr[id]
	if !ok {
		s = id.String()
		if len(c.idStr) > 4096 {
			clear(c.idStr)
		}
		c.idStr[id] = s
	}
	return s
}

func mustKey(id peer.ID) [32]byte {
	k, _ := node.KeyOf(id)
	return k
}

// forget drops the known locations on a node.
func (c *Client) forget(id peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for r, p := range c.where {
		if p == id {
			delete(c.where, r)
		}
	}
}

// RunScene runs a scene of the network (see Run); the error is only for a
// scene that does not exist: failed actions are in the result (see
// SceneResult.Err).
func (c *Client) RunScene(ctx context.Context, name string) (SceneResult, error) {
	sc, err := c.Store().Scene(name)
	if err != nil {
		return SceneResult{}, err
	}
	start := time.Now()
	res := c.Run(ctx, sc.Actions)
	out := SceneResult{Scene: sc.Name, Results: res, Took: time.Since(start)}
	for _, r := range res {
		if !r.OK {
			out.Failed++
		}
	}
	return out, nil
}

// Watch delivers the attribute changes of one resource ("" for all) that
// the caller may see, current values first, until ctx ends; then the
// channel closes. Only changes published by the owner's nodes (those that
// serve resources) are delivered.
func (c *Client) Watch(ctx context.Context, resource string) (<-chan Change, error) {
	pattern := TopicPrefix + "#"
	if resource != "" {
		if err := ValidID(resource); err != nil {
			return nil, err
		}
		pattern = TopicPrefix + resource + "/#"
	}
	sub, err := c.n.Subscribe(ctx, pattern, pubsub.SubscribeOptions{})
	if err != nil {
		return nil, err
	}
	out := make(chan Change, 64)
	go func() {
		defer close(out)
		defer sub.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case m, ok := <-sub.C():
				if !ok {
					return
				}
				ch, ok := c.change(m)
				if !ok {
					continue
				}
				select {
				case out <- ch:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// change reads a published attribute change, trusting the topic and the
// ledger's word on who published it.
func (c *Client) change(m pubsub.Message) (Change, bool) {
	if len(m.Data) == 0 || m.From.User != c.n.Ledger().State().Owner {
		return Change{}, false
	}
	return parseChange(m.Topic, m.Data, m.Retained)
}

func parseChange(topic string, data []byte, retained bool) (Change, bool) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	if !ok {
		return Change{}, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return Change{}, false
	}
	var ch Change
	if json.Unmarshal(data, &ch) != nil {
		return Change{}, false
	}
	ch.Resource, ch.Capability, ch.Attribute, ch.Retained = parts[0], parts[1], parts[2], retained
	ch.normalize()
	return ch, true
}

// normalize converts a decoded value to its type (JSON numbers are float64).
func (ch *Change) normalize() {
	if ch.Type == "" || ch.Value == nil {
		return
	}
	if ch.Type == Enum { // the enum's values are not carried; it is a string
		return
	}
	if v, err := (Spec{Type: ch.Type}).Coerce(ch.Attribute, ch.Value); err == nil {
		ch.Value = v
	}
}
