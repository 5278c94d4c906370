package node

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
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

type msgFrame struct {
	Data []byte `json:"data"`
}

type msgAck struct {
	Error string `json:"error,omitempty"`
}

// ErrOffline means no connection to the peer could be made.
var ErrOffline = errors.New("peer is offline or unreachable")

// SendTo delivers data to one node and waits for its acknowledgement.
func (n *Node) SendTo(ctx context.Context, p peer.ID, data []byte) error {
	if len(data) > MaxMessage {
		return fmt.Errorf("message of %d bytes is over the %d byte limit", len(data), MaxMessage)
	}
	s, err := n.host.NewStream(ctx, p, ProtoMsg)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %v", ErrOffline, err)
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if err := writeFrame(s, msgFrame{Data: data}); err != nil {
		s.Reset()
		return fmt.Errorf("send: %w", err)
	}
	s.CloseWrite()
	var ack msgAck
	if err := readFrame(bufio.NewReader(s), &ack, 64<<10); err != nil {
		return fmt.Errorf("send: no acknowledgement: %w", err)
	}
	if ack.Error != "" {
		return fmt.Errorf("send: refused by receiver: %s", ack.Error)
	}
	return nil
}

func (n *Node) handleMsg(s network.Stream) {
	defer s.Close()
	p := s.Conn().RemotePeer()
	if m, _ := n.classify(p); !m {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(time.Minute))
	var f msgFrame
	if err := readFrame(bufio.NewReader(s), &f, 2*MaxMessage); err != nil {
		s.Reset()
		return
	}
	k, _ := KeyOf(p)
	st := n.log.State()
	user, _ := st.NodeOwner(k)
	m := Message{From: user, FromNode: p, Data: f.Data, Received: time.Now()}
	if mem, ok := st.Members[user]; ok {
		m.FromName = mem.Name
	}
	var ack msgAck
	if !n.inbox.put(m) {
		ack.Error = "the receiver's inbox is full; try again later"
	}
	writeFrame(s, ack)
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
