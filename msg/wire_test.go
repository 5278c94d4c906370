package msg

import (
	"context"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// TestWireGolden pins the receiver's one-byte acknowledgements and what
// the sender makes of each.
func TestWireGolden(t *testing.T) {
	s := &Service{inbox: newInbox(1)}
	from := &rpc.Request{From: node.Sender{Name: "bob"}, Service: ServiceName}
	ack := func(data []byte) []byte {
		from.Payload = data
		out, err := s.handle(context.Background(), from)
		if err != nil {
			t.Fatalf("handle(%d bytes) err = %v", len(data), err)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		got  []byte
		want byte
		is   error
	}{
		{"queued", ack([]byte("1")), 0, nil},
		{"backlog full", ack([]byte("2")), 1, ErrInboxFull},
		{"too large", ack(make([]byte, MaxMessage+1)), 3, ErrTooLarge},
	} {
		if len(tc.got) != 1 || tc.got[0] != tc.want {
			t.Errorf("%s: reply %x, want %02x", tc.name, tc.got, tc.want)
		}
		if err := replyError("", []byte{tc.want}); !errors.Is(err, tc.is) || (tc.is == nil) != (err == nil) {
			t.Errorf("%s: replyError(%02x) = %v, want %v", tc.name, tc.want, err, tc.is)
		}
	}
	s.inbox.close()
	if got := ack([]byte("3")); len(got) != 1 || got[0] != 2 {
		t.Errorf("closed: reply %x, want 02", got)
	}
	if err := replyError("", []byte{2}); !errors.Is(err, ErrOffline) {
		t.Errorf("replyError(02) = %v, want ErrOffline", err)
	}
}

// FuzzReply: no reply but the one byte 0 is taken as an acknowledgement.
func FuzzReply(f *testing.F) {
	for _, b := range [][]byte{{0}, {1}, {2}, {3}, {4}, {}, {0, 0}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := replyError(peer.ID(""), b)
		if (err == nil) != (len(b) == 1 && b[0] == 0) {
			t.Fatalf("replyError(%x) = %v", b, err)
		}
	})
}
