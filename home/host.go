package home

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/pubsub"
	"github.com/coconet/coconet/rpc"
)

// Services and topics of the home model on a node.
const (
	// ServiceList answers a listRequest with the resources the caller may see.
	ServiceList = "home.list"
	// ServiceCommand runs a cmdRequest's actions and answers their results.
	ServiceCommand = "home.cmd"
	// TopicPrefix starts the topics attribute changes are published on:
	// home/RESOURCE/CAPABILITY/ATTRIBUTE (retained: a new watch gets the
	// current values first).
	TopicPrefix = "home/"
)

// maxActions bounds the actions of one request.
const maxActions = MaxSceneActions

// HostOptions configure a Host.
type HostOptions struct {
	// Name is the device's name shown with its resources; "" means the
	// name of its device record, else "USER/APP" of its node.
	Name string
	// Now is the clock grants are evaluated against; nil means time.Now.
	Now func() time.Time
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
}

// Driver carries out the commands of a resource on its hardware (or its
// bridge). The host has checked the caller's right and the arguments
// first. When Command returns nil the host applies the capability's
// standard effect (on_off.on sets on to true, …); a driver may also change
// attributes itself with Host.Set. A resource with a nil driver is
// simulated: commands have their standard effect only.
type Driver interface {
	Command(ctx context.Context, c Call) error
}

// DriverFunc adapts a function to Driver.
type DriverFunc func(ctx context.Context, c Call) error

// Command calls f.
func (f DriverFunc) Command(ctx context.Context, c Call) error { return f(ctx, c) }

// Call is one authorized, validated command for a driver.
type Call struct {
	Resource   Resource // a copy, with current values
	Capability string
	Command    string
	Args       map[string]any // converted to the parameters' types
	From       node.Sender    // who asked, as the ledger knows them
}

// Host serves resources from a node: it answers listings and commands from
// the network's members, deciding each from its own ledger copy (roles,
// grants, placements) and its own clock, and publishes attribute changes.
// Only the network owner's nodes (its devices and apps) serve resources.
type Host struct {
	n       *engine.Engine
	nd      *node.Node
	self    peer.ID
	selfStr string // self.String(), which costs a base58 encoding
	opts    HostOptions

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	vc   atomic.Pointer[view]
	pubq chan pubItem // to the publisher goroutine, in order
	cmdq chan *cmdJob // to the command workers

	mu     sync.Mutex // guards following fields
	closed bool
	res    map[string]*hosted
}

type hosted struct {
	r Resource
	d Driver
}

// localHost returns the host running on e, if any.
func localHost(e *engine.Engine) *Host {
	h, _ := engine.Lookup[*Host](e)
	return h
}

// NewHost starts serving resources on a running engine (none yet: see Add)
// and attaches itself to it. It stops when Close is called or the engine
// closes. An engine has at most one Host.
func NewHost(e *engine.Engine, opts HostOptions) (*Host, error) {
	if e == nil {
		return nil, errors.New("home: the node is not started; call Start first")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if localHost(e) != nil {
		return nil, errors.New("home: the node already has a host")
	}
	return engine.Attach(e, func(e *engine.Engine) (*Host, error) {
		h := &Host{n: e, nd: e.Node(), self: e.PeerID(), selfStr: e.PeerID().String(), opts: opts, res: map[string]*hosted{},
			pubq: make(chan pubItem, pubQueue), cmdq: make(chan *cmdJob)}
		h.ctx, h.cancel = context.WithCancel(context.Background())
		h.wg.Add(1 + cmdWorkers)
		go h.publisher()
		for range cmdWorkers {
			go h.cmdWorker()
		}
		e.AddPolicy(engine.Policy{Topic: h.topicAllowed})
		// Open to every member and device: the handlers check grants.
		e.Handle(ServiceList, h.handleList, node.Everyone)
		e.Handle(ServiceCommand, h.handleCommand, node.Everyone)
		return h, nil
	})
}

// Close stops serving: resources are no longer listed or commanded. It is
// idempotent.
func (h *Host) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	h.cancel()
	h.n.Handle(ServiceList, nil)
	h.n.Handle(ServiceCommand, nil)
	engine.Detach(h.n, h)
	h.wg.Wait()
	return nil
}

// Done is closed when the host stops; bridges stop their work with it.
func (h *Host) Done() <-chan struct{} { return h.ctx.Done() }

// Go runs fn in a goroutine the host owns: Close waits for it, and ctx
// ends when the host stops. It reports false if the host is closed.
func (h *Host) Go(fn func(ctx context.Context)) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn(h.ctx)
	}()
	return true
}

// Engine is the engine the host serves from.
func (h *Host) Engine() *engine.Engine { return h.n }

// Now is the host's clock.
func (h *Host) Now() time.Time { return h.opts.Now() }

// view returns the parsed view of the node's current ledger state.
func (h *Host) view() *view {
	st := h.n.Ledger().State()
	if v := h.vc.Load(); v != nil && v.st == st {
		return v
	}
	v := newView(st)
	v.device = h.deviceName(st)
	h.vc.Store(v)
	return v
}

// DeviceName is the name the host's resources are listed under.
func (h *Host) DeviceName() string { return h.deviceName(h.n.Ledger().State()) }

func (h *Host) deviceName(st *ledger.State) string {
	if h.opts.Name != "" {
		return h.opts.Name
	}
	if rec := st.Record(ledger.TableDevice, h.selfStr); rec != nil {
		var d struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(rec.Value, &d) == nil && d.Name != "" {
			return d.Name
		}
	}
	return nodeName(st, h.self)
}

// nodeName names a node "USER/APP" from the ledger.
func nodeName(st *ledger.State, id peer.ID) string {
	k, err := node.KeyOf(id)
	if err != nil {
		return id.ShortString()
	}
	ni := st.Nodes[k]
	if ni == nil {
		return id.ShortString()
	}
	user := ni.User.Short()
	if m := st.Members[ni.User]; m != nil {
		user = m.Name
	}
	return user + "/" + ni.Name
}

// Add serves a resource with its driver (nil: simulated). The resource's
// capabilities are checked and their current values set to their types.
// Only a node of the network's owner serves resources.
func (h *Host) Add(r Resource, d Driver) error {
	r = r.clone()
	if err := r.Validate(); err != nil {
		return fmt.Errorf("home: %w", err)
	}
	st := h.n.Ledger().State()
	s, ok := h.nd.SenderOf(h.self)
	if !ok || s.User != st.Owner {
		owner := st.Owner.Short()
		if m := st.Members[st.Owner]; m != nil {
			owner = m.Name
		}
		return fmt.Errorf("home: resources are served by the owner's devices, and this node is not %s's: %w", owner, ErrDenied)
	}
	r.Node = h.selfStr
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errors.New("home: host closed")
	}
	if h.res[r.ID] != nil {
		h.mu.Unlock()
		return fmt.Errorf("home: resource %s is already served here", r.ID)
	}
	h.res[r.ID] = &hosted{r: r, d: d}
	h.mu.Unlock()
	var changes []Change
	for _, c := range r.Capabilities {
		for _, a := range c.Attributes {
			changes = append(changes, Change{Resource: r.ID, Capability: c.Name, Attribute: a.Name, Value: a.Value, Type: a.Type})
		}
	}
	h.publish(changes)
	return nil
}

// Remove stops serving a resource and clears its published values.
func (h *Host) Remove(id string) error {
	h.mu.Lock()
	hr := h.res[id]
	delete(h.res, id)
	h.mu.Unlock()
	if hr == nil {
		return fmt.Errorf("home: no resource %s here: %w", id, ErrNotFound)
	}
	var clear []string
	for _, c := range hr.r.Capabilities {
		for _, a := range c.Attributes {
			clear = append(clear, topic(id, c.Name, a.Name))
		}
	}
	h.enqueue(pubItem{clear: clear, done: make(chan struct{})})
	return nil
}

// Resources lists the served resources with their current values, by ID.
func (h *Host) Resources() []Resource {
	h.mu.Lock()
	out := make([]Resource, 0, len(h.res))
	for _, hr := range h.res {
		out = append(out, hr.r.clone())
	}
	h.mu.Unlock()
	slices.SortFunc(out, func(a, b Resource) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Get returns a served resource with its current values.
func (h *Host) Get(id string) (Resource, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	hr := h.res[id]
	if hr == nil {
		return Resource{}, false
	}
	return hr.r.clone(), true
}

// Set changes an attribute's current value (checked against its type) and
// publishes the change. Drivers and bridges call it when the hardware
// reports a change.
func (h *Host) Set(resource, capability, attribute string, value any) error {
	ch, err := h.apply(resource, capability, map[string]any{attribute: value})
	if err != nil {
		return err
	}
	h.publish(ch)
	return nil
}

// apply sets attribute values of one capability and returns the changes.
func (h *Host) apply(resource, capability string, values map[string]any) ([]Change, error) {
	now := h.opts.Now()
	h.mu.Lock()
	defer h.mu.Unlock()
	hr := h.res[resource]
	if hr == nil {
		return nil, fmt.Errorf("home: no resource %s here: %w", resource, ErrNotFound)
	}
	c := hr.r.Capability(capability)
	if c == nil {
		return nil, fmt.Errorf("home: %s has no capability %s: %w", resource, capability, ErrInvalid)
	}
	// Check every value before changing any.
	conv := make(map[string]any, len(values))
	for name, v := range values {
		a := c.Attribute(name)
		if a == nil {
			return nil, fmt.Errorf("home: %s.%s has no attribute %s: %w", resource, capability, name, ErrInvalid)
		}
		x, err := a.Spec.Coerce(name, v)
		if err != nil {
			return nil, fmt.Errorf("home: %s.%s: %w: %w", resource, capability, err, ErrInvalid)
		}
		conv[name] = x
	}
	var out []Change
	for i := range c.Attributes {
		a := &c.Attributes[i]
		if v, ok := conv[a.Name]; ok {
			a.Value = v
			out = append(out, Change{Resource: resource, Capability: capability, Attribute: a.Name, Value: v, Type: a.Type, Time: now})
		}
	}
	return out, nil
}

func topic(resource, capability, attribute string) string {
	return TopicPrefix + resource + "/" + capability + "/" + attribute
}

// pubQueue bounds the publications waiting for the publisher; a full
// queue holds back the commands that change attributes.
const pubQueue = 1024

// pubItem is work for the publisher: changes to publish as retained
// values, or topics whose retained value to clear. done, if not nil, is
// closed when it has been done.
type pubItem struct {
	changes []Change
	clear   []string
	done    chan struct{}
}

// publish sends changes as retained values on their topics, and returns
// when they have been sent (or the host closes).
func (h *Host) publish(changes []Change) {
	if len(changes) == 0 {
		return
	}
	h.enqueue(pubItem{changes: changes, done: make(chan struct{})})
}

// publishLater queues changes for the publisher without waiting: a
// command's reply does not wait for its change to reach the watchers.
// Changes are published in the order they were queued.
func (h *Host) publishLater(changes []Change) {
	if len(changes) == 0 {
		return
	}
	h.enqueue(pubItem{changes: changes})
}

func (h *Host) enqueue(it pubItem) {
	select {
	case h.pubq <- it:
	case <-h.ctx.Done():
		return
	}
	if it.done != nil {
		select {
		case <-it.done:
		case <-h.ctx.Done():
		}
	}
}

// publisher publishes the queued changes, one item after the other, until
// the host closes.
func (h *Host) publisher() {
	defer h.wg.Done()
	// A publication waits at most 1 to 2 s for a slow subscriber: the
	// deadline is renewed when less than 1 s of it is left (a new timer
	// per publication cost more than the rest of it).
	ctx, stop := h.ctx, context.CancelFunc(func() {})
	defer func() { stop() }()
	var deadline time.Time
	for {
		select {
		case <-h.ctx.Done():
			return
		case it := <-h.pubq:
			if time.Until(deadline) < time.Second {
				stop()
				deadline = time.Now().Add(2 * time.Second)
				c, cancel := context.WithDeadline(h.ctx, deadline)
				ctx, stop = c, cancel
			}
			// What queued up meanwhile (a few dozen items at most) goes
			// out too.
			h.publishNow(ctx, it)
		batch:
			for range 32 {
				select {
				case it := <-h.pubq:
					h.publishNow(ctx, it)
				default:
					break batch
				}
			}
		}
	}
}

func (h *Host) publishNow(ctx context.Context, it pubItem) {
	if it.done != nil {
		defer close(it.done)
	}
	for _, t := range it.clear {
		h.n.Publish(ctx, t, nil, pubsub.PublishOptions{Retain: true})
	}
	if len(it.changes) == 0 {
		return
	}
	dev := h.view().device
	for _, c := range it.changes {
		c.Device = dev
		if c.Time.IsZero() {
			c.Time = h.opts.Now()
		}
		b := appendChangeJSON(make([]byte, 0, 192), c)
		if err := h.n.Publish(ctx, topic(c.Resource, c.Capability, c.Attribute), b, pubsub.PublishOptions{Retain: true}); err != nil && h.ctx.Err() == nil {
			h.opts.Logf("home: publish %s.%s.%s: %v", c.Resource, c.Capability, c.Attribute, err)
		}
	}
}

// topicAllowed is the host's pub-sub policy: a guest receives the changes
// of what she may see; every other topic is left to other policies.
func (h *Host) topicAllowed(sub node.Sender, t string) bool {
	rest, ok := strings.CutPrefix(t, TopicPrefix)
	if !ok {
		return true
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return true
	}
	v := h.view()
	role, grants := v.access(sub)
	if role >= ledger.RoleAdmin {
		return true
	}
	h.mu.Lock()
	declared := ""
	if hr := h.res[parts[0]]; hr != nil {
		declared = hr.r.Zone
	}
	h.mu.Unlock()
	return visible(role, grants, parts[0], v.zoneOf(parts[0], declared), parts[1], h.opts.Now())
}

// listRequest asks a host for the resources the caller may see.
type listRequest struct {
	Zone string `json:"zone,omitempty"`
}

// listReply is a host's answer.
type listReply struct {
	Device    string     `json:"device"`
	Resources []Resource `json:"resources"`
}

// cmdRequest asks a host to run actions (concurrently).
type cmdRequest struct {
	Actions []Action `json:"actions"`
}

// cmdReply holds one result per action, in order.
type cmdReply struct {
	Results []Result `json:"results"`
}

func (h *Host) handleList(ctx context.Context, req *rpc.Request) ([]byte, error) {
	lr, err := parseListRequest(req.Payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(h.list(req.From, lr.Zone))
}

func parseListRequest(b []byte) (listRequest, error) {
	var lr listRequest
	if len(b) > 0 {
		if err := json.Unmarshal(b, &lr); err != nil {
			return lr, fmt.Errorf("home: bad list request: %w", err)
		}
	}
	return lr, nil
}

// list is what from may see, optionally in one zone.
func (h *Host) list(from node.Sender, zone string) listReply {
	v := h.view()
	role, grants := v.access(from)
	now := h.opts.Now()
	out := listReply{Device: v.device, Resources: []Resource{}}
	for _, r := range h.Resources() {
		r.Zone = v.zoneOf(r.ID, r.Zone)
		if zone != "" && !strings.EqualFold(zone, r.Zone) {
			continue
		}
		r.Capabilities = slices.DeleteFunc(r.Capabilities, func(c Capability) bool {
			return !visible(role, grants, r.ID, r.Zone, c.Name, now)
		})
		if len(r.Capabilities) == 0 {
			continue
		}
		r.Device = out.Device
		out.Resources = append(out.Resources, r)
	}
	return out
}

// cmdWorkers is the number of long-lived goroutines that run commands.
// The rpc service runs each request on a new goroutine, whose small stack
// grew (copied) twice on the way through a command: a worker's has grown
// once for all. When every worker is busy, the request's goroutine runs
// the command itself.
const cmdWorkers = 4

// cmdJob is a command request handed to a worker, and its answer.
type cmdJob struct {
	ctx  context.Context
	req  *rpc.Request
	out  []byte
	err  error
	done chan struct{}
}

func (h *Host) cmdWorker() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case j := <-h.cmdq:
			j.out, j.err = h.command(j.ctx, j.req)
			close(j.done)
		}
	}
}

func (h *Host) handleCommand(ctx context.Context, req *rpc.Request) ([]byte, error) {
	j := &cmdJob{ctx: ctx, req: req, done: make(chan struct{})}
	select {
	case h.cmdq <- j:
		<-j.done
		return j.out, j.err
	default:
		return h.command(ctx, req)
	}
}

func (h *Host) command(ctx context.Context, req *rpc.Request) ([]byte, error) {
	cr, err := parseCmdRequest(req.Payload)
	if err != nil {
		return nil, err
	}
	res := h.run(ctx, req.From, cr.Actions)
	for i := range res {
		// The caller knows what it asked and whom: keep the reply small.
		res[i].Action, res[i].Node = Action{}, ""
	}
	if isCompact(req.Payload) {
		return encodeCmdReply(make([]byte, 0, 64+96*len(res)), res), nil
	}
	return json.Marshal(cmdReply{Results: res})
}

// isCompact says whether a command request (or reply) is in the compact
// encoding rather than JSON.
func isCompact(b []byte) bool { return len(b) > 0 && b[0] == wireV1 }

func parseCmdRequest(b []byte) (cmdRequest, error) {
	var cr cmdRequest
	if isCompact(b) {
		actions, err := decodeCmdRequest(b)
		if err != nil {
			return cr, fmt.Errorf("home: bad command request: %w", err)
		}
		cr.Actions = actions
		return cr, nil
	}
	if err := json.Unmarshal(b, &cr); err != nil {
		return cr, fmt.Errorf("home: bad command request: %w", err)
	}
	if len(cr.Actions) == 0 || len(cr.Actions) > maxActions {
		return cr, fmt.Errorf("home: a command request holds 1 to %d actions, not %d", maxActions, len(cr.Actions))
	}
	return cr, nil
}

// maxParallel bounds the actions of one request a host runs at once.
const maxParallel = 64

// run runs actions concurrently for from and returns their results in order.
func (h *Host) run(ctx context.Context, from node.Sender, actions []Action) []Result {
	out := make([]Result, len(actions))
	v := h.view()
	if len(actions) == 1 {
		out[0] = h.do(ctx, from, v, actions[0])
		return out
	}
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, a := range actions {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			out[i] = h.do(ctx, from, v, a)
			<-sem
		}()
	}
	wg.Wait()
	return out
}

// do runs one action for from, deciding from the view v.
func (h *Host) do(ctx context.Context, from node.Sender, v *view, a Action) (res Result) {
	start := time.Now()
	dev := v.device
	defer func() {
		res.Device, res.Node, res.Took = dev, h.selfStr, time.Since(start)
	}()
	if err := a.check(); err != nil {
		return failed(a, CodeInvalid, "%v", err)
	}
	h.mu.Lock()
	hr := h.res[a.Resource]
	var r Resource
	var d Driver
	if hr != nil {
		d = hr.d
		if d != nil {
			r = hr.r.clone() // the driver's copy
		} else {
			r = hr.r.shallow(a.Capability)
		}
	}
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return failed(a, CodeOffline, "device %s is shutting down", dev)
	}
	if hr == nil {
		return failed(a, CodeNotFound, "device %s serves no resource %s", dev, a.Resource)
	}
	r.Zone = v.zoneOf(r.ID, r.Zone)
	role, grants := v.access(from)
	who := from.Name
	if who == "" {
		who = from.User.Short()
	}
	if err := decide(who, role, grants, r.ID, r.Zone, a.Capability, a.Command, h.opts.Now()); err != nil {
		return failed(a, CodeDenied, "%v", err)
	}
	c := r.Capability(a.Capability)
	if c == nil {
		var names []string
		for _, x := range r.Capabilities {
			names = append(names, x.Name)
		}
		return failed(a, CodeInvalid, "%s has no capability %s; it has %s", r.ID, a.Capability, strings.Join(names, ", "))
	}
	args, err := c.Args(a.Command, a.Args)
	if err != nil {
		return failed(a, CodeInvalid, "%v", err)
	}
	if d != nil {
		err := d.Command(ctx, Call{Resource: r, Capability: a.Capability, Command: a.Command, Args: args, From: from})
		switch {
		case err == nil:
		case ctx.Err() != nil:
			return failed(a, CodeTimeout, "%s did not finish %s.%s in time: %v", dev, a.Capability, a.Command, err)
		case errors.Is(err, ErrInvalid):
			return failed(a, CodeInvalid, "%v", err)
		case errors.Is(err, ErrNotFound):
			return failed(a, CodeNotFound, "%v", err)
		default:
			return failed(a, CodeFailed, "%s failed %s.%s: %v", dev, a.Capability, a.Command, err)
		}
	}
	res = Result{Action: a, OK: true}
	if eff := effect(a.Capability, a.Command); eff != nil {
		cur := map[string]any{}
		for _, at := range c.Attributes {
			cur[at.Name] = at.Value
		}
		if vals := eff(args, cur); len(vals) > 0 {
			ch, err := h.apply(r.ID, a.Capability, vals)
			if err != nil {
				return failed(a, CodeFailed, "%v", err)
			}
			h.publishLater(slices.Clone(ch)) // the caller may change res
			res.Changes = ch
		}
	}
	return res
}
