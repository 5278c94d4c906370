package coconet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
	"github.com/coconet/coconet/transfer"
	"github.com/coconet/coconet/tunnel"
)

// The ways of talking on a network, on top of acknowledged messages:
// request/reply, streams, tunnels and file copies (pub-sub is in pubsub.go).

func (n *Node) startSemantics() error {
	var err error
	if n.rpc, err = rpc.New(n.n, rpc.Options{Authorize: n.AuthorizeRequest, Logf: n.Logf}); err != nil {
		return err
	}
	if n.streams, err = stream.New(n.n, stream.Options{Authorize: n.AuthorizeStream, Logf: n.Logf}); err != nil {
		return err
	}
	return n.startPubSub()
}

func (n *Node) closeSemantics() {
	n.closePubSub()
	if n.streams != nil {
		n.streams.Close()
	}
	if n.rpc != nil {
		n.rpc.Close()
	}
}

// PeerNodes resolves a member (name, user ID prefix, or a node's peer ID) to
// the nodes to try, those of this node's app and connected ones first.
func (n *Node) PeerNodes(to string) ([]peer.ID, error) {
	_, ids, err := n.resolve(to)
	return ids, err
}

// resolve is PeerNodes that also names the member, for messages.
func (n *Node) resolve(to string) (string, []peer.ID, error) {
	st := n.log.State()
	if id, err := peer.Decode(to); err == nil {
		s, ok := n.n.SenderOf(id)
		if !ok {
			return "", nil, fmt.Errorf("node %s is not a member node of %q", id.ShortString(), st.Name)
		}
		return s.Name, []peer.ID{id}, nil
	}
	m, err := ResolveMember(st, to)
	if err != nil {
		// A device, by the name its owner's ledger gives it.
		for _, r := range st.Table(ledger.TableDevice) {
			if ni := nodeNamed(st, r.Key); ni != nil && strings.EqualFold(ni.Name, to) {
				id, _ := peer.Decode(r.Key)
				return ni.Name, []peer.ID{id}, nil
			}
		}
		return "", nil, err
	}
	self := n.n.ID()
	app := n.App
	if app == "" {
		app = node.DefaultApp
	}
	var first, rest []peer.ID
	for k, ni := range st.Nodes {
		if ni.User != m.User {
			continue
		}
		id, err := node.PeerIDOf(k)
		if err != nil || id == self || (ni.User == st.Owner && st.Record(ledger.TableDevice, id.String()) != nil) {
			continue // a device of the member's is not the member
		}
		if ni.Name == app || len(n.n.Host().Network().ConnsToPeer(id)) > 0 {
			first = append(first, id)
		} else {
			rest = append(rest, id)
		}
	}
	out := append(first, rest...)
	if len(out) == 0 {
		return "", nil, fmt.Errorf("%s has no node in %q", m.Name, st.Name)
	}
	return m.Name, out, nil
}

// Handle serves a named request/reply service; Handle(name, nil) removes it.
// access says who may call it: by default the owner and admins only (and
// this user's own nodes); pass e.g. Access{Roles: []ledger.Role{ledger.RoleGuest}}
// to open it to guests, or Everyone. Guests refused read why.
func (n *Node) Handle(service string, h rpc.Handler, access ...Access) {
	n.rpc.Handle(service, h, access...)
}

// Request calls a service on a member's node and returns its reply. The
// error says whether the peer is unreachable (rpc.ErrUnreachable), the
// service unknown (rpc.ErrUnknownService), the caller not allowed
// (rpc.ErrNotAllowed) or the deadline passed (rpc.ErrDeadline).
//
// When none of the member's nodes can be connected to yet, Request waits
// for one until ctx's deadline, trying again with a backoff, and then
// returns the rpc.ErrUnreachable error; a ctx without a deadline does not
// wait. It fails at once when to names no member or the peer refuses the
// caller. A request is sent again only when no connection was made, so a
// call that reached the peer is never repeated.
func (n *Node) Request(ctx context.Context, to, service string, payload []byte) ([]byte, error) {
	ids, err := n.PeerNodes(to)
	if err != nil {
		return nil, err
	}
	var reply []byte
	err = n.reach(ctx, ids, func(ctx context.Context, id peer.ID) (err error) {
		reply, err = n.rpc.Request(ctx, id, service, payload)
		return err
	}, func(err error) bool { return errors.Is(err, rpc.ErrUnreachable) })
	if err != nil {
		return nil, err
	}
	return reply, nil
}

// Dial opens an ordered, flow-controlled byte stream to a member's service.
//
// Like Request, it waits within ctx's deadline for a connection to one of
// the member's nodes (a ctx without a deadline does not wait) and fails at
// once when to names no member or the peer refuses the caller.
func (n *Node) Dial(ctx context.Context, to, service string) (*stream.Conn, error) {
	ids, err := n.PeerNodes(to)
	if err != nil {
		return nil, err
	}
	var c *stream.Conn
	err = n.reach(ctx, ids, func(ctx context.Context, id peer.ID) (err error) {
		c, err = n.streams.Dial(ctx, id, service)
		return err
	}, func(err error) bool { return errors.Is(err, stream.ErrUnreachable) })
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Listen accepts streams for a named service from members. access says
// who may open them: by default the owner and admins only (and this user's
// own nodes); see Handle.
func (n *Node) Listen(service string, access ...Access) (net.Listener, error) {
	return n.streams.Listen(service, access...)
}

// RPC is the node's request/reply service (Handle and Request by peer ID).
func (n *Node) RPC() *rpc.Service { return n.rpc }

// Streams is the node's stream service (for tunnels and file copies).
func (n *Node) Streams() *stream.Service { return n.streams }

// Expose publishes a local TCP service (HOST:PORT) to the network as name.
// access says who may open it: by default the owner and admins only (and
// this user's own nodes); a refused guest reads "alice's tunnel ssh is not
// open to guests; ask alice to allow you".
func (n *Node) Expose(ctx context.Context, name, target string, access ...Access) (*tunnel.Exposed, error) {
	return tunnel.Expose(ctx, n.streams, name, target, n.Logf, access...)
}

// OpenTunnel listens on listen (e.g. "127.0.0.1:8080") and forwards each
// connection to the service a member exposed as name.
func (n *Node) OpenTunnel(ctx context.Context, to, name, listen string) (*tunnel.Opened, error) {
	ids, err := n.PeerNodes(to)
	if err != nil {
		return nil, err
	}
	return tunnel.Open(ctx, n.streams, ids[0], name, listen, n.Logf)
}

// SendFile copies a file to a member that is receiving (ReceiveFiles),
// resuming an interrupted copy and checking its SHA-256 at the end.
// progress, if not nil, gets the bytes done and the phase ("hash", "send").
func (n *Node) SendFile(ctx context.Context, to, path string, progress func(phase string, done, total int64)) (transfer.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return transfer.Result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return transfer.Result{}, err
	}
	if !st.Mode().IsRegular() {
		return transfer.Result{}, fmt.Errorf("%s is not a regular file", path)
	}
	report := func(phase string) func(int64) {
		if progress == nil {
			return nil
		}
		return func(d int64) { progress(phase, d, st.Size()) }
	}
	sum, err := transfer.HashFile(ctx, f, report("hash"))
	if err != nil {
		return transfer.Result{}, err
	}
	c, err := n.Dial(ctx, to, transfer.Service)
	if err != nil {
		if errors.Is(err, stream.ErrUnknownService) {
			return transfer.Result{}, fmt.Errorf("%s is not receiving files; ask them to run `coco receive %s --dir DIR`", to, n.Info().Name)
		}
		if errors.Is(err, stream.ErrNotAllowed) {
			return transfer.Result{}, fmt.Errorf("%s refused the file: %w", to, err)
		}
		return transfer.Result{}, err
	}
	defer c.Close()
	return transfer.Send(ctx, c, filepath.Base(path), st.Size(), sum, f, report("send"))
}

// ReceiveOptions shape ReceiveFiles.
type ReceiveOptions struct {
	// Allow says who may send files: by default the owner and admins only
	// (and this user's own nodes).
	Allow Access
	// MaxSize refuses larger files; 0 means transfer.DefaultMaxSize
	// (4 GiB), a negative value no limit.
	MaxSize int64
}

// ReceiveFiles accepts file copies into dir until ctx ends. accept, if not
// nil, decides per file; onEvent reports each file. Files are taken from
// the members opts.Allow admits (by default the owner and admins only), up
// to opts.MaxSize, under plain names not starting with a dot; the sender
// learns only the base name a file was stored under.
func (n *Node) ReceiveFiles(ctx context.Context, dir string, accept func(node.Sender, string, int64) error, onEvent func(transfer.Event), opts ...ReceiveOptions) error {
	var o ReceiveOptions
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory to receive into", dir)
	}
	l, err := n.ListenFiles(o.Allow)
	if err != nil {
		return err
	}
	rc := &transfer.Receiver{Dir: dir, Accept: accept, OnEvent: onEvent, MaxSize: o.MaxSize}
	return rc.Serve(ctx, l)
}

// ListenFiles listens for file copies (transfer.Service) from the members
// allow admits, for a transfer.Receiver to serve; ReceiveFiles does both.
func (n *Node) ListenFiles(allow Access) (net.Listener, error) {
	if allow.What == "" {
		allow.What = "file receive"
	}
	l, err := n.streams.Listen(transfer.Service, allow)
	if err != nil {
		return nil, fmt.Errorf("files for %q are already being received (another `coco receive` runs): %w", n.Info().Name, err)
	}
	return l, nil
}

// Policy narrows who may use what on a node, beyond being a member. A nil
// function admits every member. Layers built on a node (the home model's
// device host, the OTA server) add theirs with AddPolicy; every policy added
// must admit a request, stream or subscription. Each service's own Access
// (given to Handle, Listen, Expose, ReceiveFiles; by default the owner and
// admins) is checked after these.
type Policy struct {
	// Request decides a request to service; a non-nil error is the refusal
	// the caller reads.
	Request func(from node.Sender, service string) error
	// Stream decides a stream to service.
	Stream func(from node.Sender, service string) error
	// Topic decides whether sub receives the messages of topic published
	// by this node.
	Topic func(sub node.Sender, topic string) bool
}

// AddPolicy adds p to the policies every request, stream and subscription
// this node serves must pass. It may be called while the node runs.
func (n *Node) AddPolicy(p Policy) {
	n.policyMu.Lock()
	defer n.policyMu.Unlock()
	ps := append(slices.Clone(n.policies.Load().list()), p)
	n.policies.Store(&policies{ps})
}

type policies struct{ ps []Policy }

func (p *policies) list() []Policy {
	if p == nil {
		return nil
	}
	return p.ps
}

// AuthorizeRequest is the request policy: every member, narrowed by the
// policies added with AddPolicy.
func (n *Node) AuthorizeRequest(from node.Sender, service string) error {
	if err := authorize(from); err != nil {
		return err
	}
	for _, p := range n.policies.Load().list() {
		if p.Request != nil {
			if err := p.Request(from, service); err != nil {
				return err
			}
		}
	}
	return nil
}

// AuthorizeStream is the stream policy; see AuthorizeRequest.
func (n *Node) AuthorizeStream(from node.Sender, service string) error {
	if err := authorize(from); err != nil {
		return err
	}
	for _, p := range n.policies.Load().list() {
		if p.Stream != nil {
			if err := p.Stream(from, service); err != nil {
				return err
			}
		}
	}
	return nil
}

func authorize(from node.Sender) error {
	if from.Role == ledger.RoleNone {
		return errors.New("not a member")
	}
	return nil
}

// nodeNamed returns the node whose peer ID is pid, if it is in st.
func nodeNamed(st *ledger.State, pid string) *ledger.NodeInfo {
	id, err := peer.Decode(pid)
	if err != nil {
		return nil
	}
	k, err := node.KeyOf(id)
	if err != nil {
		return nil
	}
	return st.Nodes[k]
}
