package msg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// ServiceName is the rpc service messages travel on. It is reserved: an
// application must not Handle it.
const ServiceName = "coco.msg"

// MaxMessage is the largest message Send accepts and a receiver queues.
const MaxMessage = 1 << 20

// DefaultBacklog is how many messages wait for a subscriber when
// Options.Backlog is 0; it is also each subscription's buffer.
const DefaultBacklog = 1000

// Reply statuses: the reply to a message is this one byte.
const (
	statusOK      = 0 // queued
	statusFull    = 1 // the backlog or a subscriber's buffer is full
	statusClosed  = 2 // the receiver's messaging is closing
	statusTooBig  = 3 // over MaxMessage
	maxStatusByte = statusTooBig
)

// Message is a message received from another member node. From is the
// user the receiving node's ledger says owns the sending node, never what
// the sender claims. The JSON is the local API's: keep it stable.
type Message struct {
	From     identity.UserID `json:"from"`
	FromName string          `json:"from_name"`
	FromNode peer.ID         `json:"from_node"`
	Data     []byte          `json:"data"`
	Received time.Time       `json:"received"`
}

// Options configures a Service.
type Options struct {
	// Backlog bounds the messages kept while nobody subscribes, and each
	// subscription's buffer; 0 means DefaultBacklog.
	Backlog int
}

// Service sends and receives messages on one node.
type Service struct {
	r     *rpc.Service
	n     *node.Node
	inbox *inbox
}

// New starts messaging on r's node: it serves ServiceName to every member
// and device. Close it before r.
func New(r *rpc.Service, opts Options) (*Service, error) {
	if r == nil || r.Node() == nil {
		return nil, errors.New("msg: no rpc service")
	}
	if opts.Backlog < 0 {
		return nil, fmt.Errorf("msg: backlog of %d messages", opts.Backlog)
	}
	if opts.Backlog == 0 {
		opts.Backlog = DefaultBacklog
	}
	s := &Service{r: r, n: r.Node(), inbox: newInbox(opts.Backlog)}
	r.Handle(ServiceName, s.handle, node.Everyone)
	return s, nil
}

// Close stops receiving: later messages are refused with ErrOffline and
// every subscription's channel is closed. It is idempotent.
func (s *Service) Close() error {
	s.r.Handle(ServiceName, nil)
	s.inbox.close()
	return nil
}

// Subscribe returns a channel of incoming messages, first any backlog that
// arrived while nobody listened. cancel ends the subscription and closes
// the channel; so does Close. A subscriber that falls Backlog messages
// behind loses the next ones, and their senders get ErrInboxFull.
func (s *Service) Subscribe() (ch <-chan Message, cancel func()) {
	return s.inbox.subscribe()
}

// handle queues one message. The sender is who the ledger says owns the
// calling node (rpc checked that it is a member).
func (s *Service) handle(ctx context.Context, req *rpc.Request) ([]byte, error) {
	if len(req.Payload) > MaxMessage {
		return replies[statusTooBig], nil
	}
	m := Message{
		From:     req.From.User,
		FromName: req.From.Name,
		FromNode: req.From.Node,
		Data:     req.Payload, // the handler's to keep (rpc.Request)
		Received: time.Now(),
	}
	if m.Data == nil {
		m.Data = []byte{}
	}
	return replies[s.inbox.put(m)], nil
}

// replies are the acknowledgements by status; rpc copies a reply into its
// frame and keeps no reference, so they are shared.
var replies = [...][]byte{{statusOK}, {statusFull}, {statusClosed}, {statusTooBig}}

// Send delivers data to node id and returns once that node has queued it.
// The error says why not: errors.Is(err, ErrOffline), ErrRefused,
// ErrInboxFull or ErrTooLarge, or the context's error.
func (s *Service) Send(ctx context.Context, id peer.ID, data []byte) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("msg: message of %d bytes is over the %d byte limit: %w", len(data), MaxMessage, ErrTooLarge)
	}
	// Messages may cross a relay (a limited connection), as they always
	// could; the rest of rpc's callers get the stream msg dialed too.
	reply, err := s.r.Request(network.WithAllowLimitedConn(ctx, "msg"), id, ServiceName, data)
	if err != nil {
		return s.sendError(ctx, id, err)
	}
	return replyError(id, reply)
}

// sendError turns rpc's error into one of the package's.
func (s *Service) sendError(ctx context.Context, id peer.ID, err error) error {
	switch {
	case errors.Is(err, rpc.ErrNotAllowed):
		return fmt.Errorf("%w (%v)", ErrRefused, err)
	case errors.Is(err, rpc.ErrUnknownService):
		return fmt.Errorf("msg: send to %s: the node does not take messages (it runs an older coconet, or no messaging): %w", id.ShortString(), err)
	case ctx.Err() != nil && !errors.Is(err, rpc.ErrDeadline):
		return ctx.Err()
	case errors.Is(err, rpc.ErrUnreachable):
		return s.n.ExplainUnreachable(id, fmt.Errorf("%w: %v", ErrOffline, err))
	}
	return s.n.ExplainUnreachable(id, fmt.Errorf("msg: send to %s: %w", id.ShortString(), err))
}

// replyError reads the receiver's one-byte acknowledgement.
func replyError(id peer.ID, reply []byte) error {
	if len(reply) != 1 || reply[0] > maxStatusByte {
		return fmt.Errorf("msg: send to %s: the receiver answered %x, not an acknowledgement", id.ShortString(), reply)
	}
	switch reply[0] {
	case statusOK:
		return nil
	case statusFull:
		return fmt.Errorf("msg: send to %s: %w", id.ShortString(), ErrInboxFull)
	case statusClosed:
		return fmt.Errorf("%w: the receiving node is closing its messaging", ErrOffline)
	default: // statusTooBig
		return fmt.Errorf("msg: send to %s: the receiver refused the message as over its %d byte limit: %w", id.ShortString(), MaxMessage, ErrTooLarge)
	}
}
