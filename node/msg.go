package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/dialerr"
	"github.com/coconet/coconet/ledger"
)

// MaxMessage is the largest message Send accepts.
const MaxMessage = 1 << 20

// Message is a message received from another member node. From is the
// user the ledger says owns the sending node — never what the sender claims.
type Message struct {
	From     identity.UserID `json:"from"`
	FromName string          `json:"from_name"`
	FromNode peer.ID         `json:"from_node"`
	Data     []byte          `json:"data"`
	Received time.Time       `json:"received"`
}

// ErrOffline means no connection to the peer could be made.
var ErrOffline = errors.New("peer is offline or unreachable")

// ErrRefused means the peer's node refused our connection: its ledger does
// not list this node as a member (not yet synced, or removed).
var ErrRefused = errors.New("the peer's node refused the connection: its ledger does not list this node as a member")

// SendTo delivers data to one node and waits for its acknowledgement.
func (n *Node) SendTo(ctx context.Context, p peer.ID, data []byte) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("message of %d bytes is over the %d byte limit", len(data), MaxMessage)
	}
	if n.host.Network().Connectedness(p) != network.Connected {
		// One bounded dial; the caller's retries (coconet's reach) make
		// the next one fresh (see connectOnce).
		if err := n.connectOnce(ctx, p); err != nil && n.host.Network().Connectedness(p) != network.Connected {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if dialerr.Refused(err) {
				return fmt.Errorf("%w (%v)", ErrRefused, err)
			}
			return n.offline(p, err)
		}
	}
	s, err := n.host.NewStream(network.WithAllowLimitedConn(network.WithNoDial(ctx, "dialed"), "msg"), p, ProtoMsg)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if dialerr.Refused(err) {
			return fmt.Errorf("%w (%v)", ErrRefused, err)
		}
		return n.offline(p, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if err := writeBytes(s, data); err != nil {
		s.Reset()
		return n.explain(p, fmt.Errorf("send: %w", err))
	}
	s.CloseWrite()
	stop := n.watchAck(s.Conn())
	var ack [1]byte
	_, err = io.ReadFull(s, ack[:])
	stop()
	if err != nil {
		return n.explain(p, fmt.Errorf("send: no acknowledgement: %w", err))
	}
	if ack[0] != ackOK {
		reason, _ := readBytes(bufio.NewReaderSize(s, 16), 4<<10)
		return fmt.Errorf("send: refused by receiver: %s", reason)
	}
	return nil
}

// offline explains a failed dial: when the only way to the peer is a relay
// and a control plane reported a plan limit, the limit is the reason.
func (n *Node) offline(p peer.ID, err error) error {
	if le := n.relayLimit(p); le != nil {
		return fmt.Errorf("%w: %v; the relay is closed to this network: %w", ErrOffline, err, le)
	}
	return fmt.Errorf("%w: %v", ErrOffline, err)
}

// explain adds a control plane's plan limit to a failed send over a relay.
func (n *Node) explain(p peer.ID, err error) error {
	if le := n.relayLimit(p); le != nil {
		return fmt.Errorf("%w; the relay is closed to this network: %w", err, le)
	}
	return err
}

// relayLimit returns the plan limit a control plane reported if this node
// has no direct connection to p.
func (n *Node) relayLimit(p peer.ID) error {
	for _, c := range n.host.Network().ConnsToPeer(p) {
		if !isRelayed(c) {
			return nil
		}
	}
	if err := n.controlLimit(); err != nil || len(n.controls) == 0 {
		return err
	}
	// The relay may have cut the stream on a limit the control loop has
	// not heard of yet: ask.
	ctx, cancel := context.WithTimeout(n.ctx, 3*time.Second)
	defer cancel()
	if u, err := n.Usage(ctx); err == nil && u.Exceeded != "" {
		return &controlproto.LimitError{Limit: controlproto.LimitBytes, Used: u.Bytes, Max: u.LimitBytes, Msg: u.Exceeded}
	}
	return nil
}

// The message protocol is binary (it is the hot path): the sender writes a
// uvarint length and the bytes, then closes its side; the receiver answers
// one byte, ackOK, or ackRefused followed by a length-prefixed reason.
const (
	ackOK      = 0
	ackRefused = 1
)

func (n *Node) handleMsg(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	if m, _ := n.classify(p); !m {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(time.Minute))
	data, err := readBytes(bufio.NewReader(s), MaxMessage)
	if err != nil {
		s.Reset()
		return
	}
	from, _ := n.SenderOf(p)
	m := Message{From: from.User, FromName: from.Name, FromNode: p, Data: data, Received: time.Now()}
	if !n.inbox.put(m) {
		s.Write([]byte{ackRefused})
		writeBytes(s, []byte("the receiver's inbox is full; try again later"))
		return
	}
	s.Write([]byte{ackOK})
}

// Subscribe returns a channel of incoming messages, first any backlog that
// arrived while nobody listened. cancel ends the subscription.
func (n *Node) Subscribe() (ch <-chan Message, cancel func()) {
	return n.inbox.subscribe()
}

// inbox fans incoming messages out to subscribers and keeps a bounded
// backlog while there are none, so an acknowledged message is not dropped
// just because no listener was attached yet.
type inbox struct {
	mu      sync.Mutex
	max     int
	backlog []Message
	subs    map[chan Message]struct{}
	closed  bool
}

func (b *inbox) init(max int) {
	b.max = max
	b.subs = map[chan Message]struct{}{}
}

func (b *inbox) put(m Message) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	if len(b.subs) == 0 {
		if len(b.backlog) >= b.max {
			return false
		}
		b.backlog = append(b.backlog, m)
		return true
	}
	ok := true
	for ch := range b.subs {
		select {
		case ch <- m:
		default:
			ok = false // a subscriber that does not read loses messages, and the sender hears it
		}
	}
	return ok
}

func (b *inbox) subscribe() (<-chan Message, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan Message, b.max+len(b.backlog))
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	for _, m := range b.backlog {
		ch <- m
	}
	b.backlog = nil
	b.subs[ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.subs[ch]; ok {
				delete(b.subs, ch)
				close(ch)
			}
		})
	}
}

func (b *inbox) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		close(ch)
	}
	b.subs = map[chan Message]struct{}{}
}

// NodesOf returns the peer IDs of a user's nodes in the current ledger.
func NodesOf(st *ledger.State, u identity.UserID) []peer.ID {
	var out []peer.ID
	for k, ni := range st.Nodes {
		if ni.User == u {
			if id, err := PeerIDOf(k); err == nil {
				out = append(out, id)
			}
		}
	}
	return out
}
