package stream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/stream"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

var (
	pair  = nettest.Pair
	start = nettest.Start
)

func newService(t *testing.T, n *engine.Engine, opts stream.Options) *stream.Service {
	t.Helper()
	opts.Logf = t.Logf
	s, err := stream.New(n.Node(), opts)
	if err != nil {
		t.Fatalf("stream.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serve accepts on l and runs fn for each connection until l closes.
func serve(t *testing.T, l net.Listener, fn func(c *stream.Conn)) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c.(*stream.Conn))
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
}

func TestStream(t *testing.T) {
	alice, bob := pair(t, ledger.RoleAdmin)
	as := newService(t, alice, stream.Options{})
	bs := newService(t, bob, stream.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// "upper" reads everything, then answers with it upper-cased: the
	// answer can only come after the dialer's half-close.
	l, err := as.Listen("upper")
	if err != nil {
		t.Fatal(err)
	}
	senders := make(chan node.Sender, 10)
	serve(t, l, func(c *stream.Conn) {
		senders <- c.Sender()
		b, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("server ReadAll: %v", err)
			return
		}
		c.Write(bytes.ToUpper(b))
		c.CloseWrite()
	})

	t.Run("echo with half-close", func(t *testing.T) {
		c, err := bs.Dial(ctx, alice.PeerID(), "upper")
		if err != nil {
			t.Fatalf("Dial(upper): %v", err)
		}
		defer c.Close()
		if s := c.Sender(); s.Name != "alice" || s.Node != alice.PeerID() {
			t.Errorf("dialer's Sender() = %+v, want alice", s)
		}
		c.Write([]byte("hello, "))
		c.Write([]byte("stream"))
		if err := c.CloseWrite(); err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "HELLO, STREAM" {
			t.Fatalf("ReadAll after CloseWrite = %q, %v, want HELLO, STREAM", got, err)
		}
		if s := <-senders; s.Name != "bob" || s.Node != bob.PeerID() {
			t.Errorf("listener's Sender() = %+v, want bob", s)
		}
	})

	t.Run("large transfer in order", func(t *testing.T) {
		sums := make(chan [32]byte, 1)
		l, err := as.Listen("sink")
		if err != nil {
			t.Fatal(err)
		}
		serve(t, l, func(c *stream.Conn) {
			h := sha256.New()
			n, err := io.Copy(h, c)
			if err != nil {
				t.Errorf("sink: copied %d bytes: %v", n, err)
			}
			var sum [32]byte
			h.Sum(sum[:0])
			sums <- sum
			c.Write(sum[:])
		})
		c, err := bs.Dial(ctx, alice.PeerID(), "sink")
		if err != nil {
			t.Fatalf("Dial(sink): %v", err)
		}
		defer c.Close()
		h := sha256.New()
		buf := make([]byte, 1<<20)
		for i := range 32 {
			rand.Read(buf)
			buf[0] = byte(i)
			h.Write(buf)
			if _, err := c.Write(buf); err != nil {
				t.Fatalf("Write chunk %d: %v", i, err)
			}
		}
		c.CloseWrite()
		var want, echoed [32]byte
		h.Sum(want[:0])
		if _, err := io.ReadFull(c, echoed[:]); err != nil {
			t.Fatalf("read the checksum back: %v", err)
		}
		if got := <-sums; got != want || echoed != want {
			t.Fatalf("sha256 of 32 MiB at the listener = %x, want %x", got, want)
		}
	})

	t.Run("unknown service", func(t *testing.T) {
		_, err := bs.Dial(ctx, alice.PeerID(), "nobody-here")
		if !errors.Is(err, stream.ErrUnknownService) {
			t.Fatalf("Dial(nobody-here) err = %v, want ErrUnknownService", err)
		}
		l, _ := as.Listen("brief")
		l.Close()
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept on a closed listener err = %v, want net.ErrClosed", err)
		}
		if _, err := bs.Dial(ctx, alice.PeerID(), "brief"); !errors.Is(err, stream.ErrUnknownService) {
			t.Fatalf("Dial(closed listener) err = %v, want ErrUnknownService", err)
		}
	})

	t.Run("deadlines", func(t *testing.T) {
		l, err := as.Listen("silent")
		if err != nil {
			t.Fatal(err)
		}
		release := make(chan struct{})
		serve(t, l, func(c *stream.Conn) { <-release })
		defer close(release)
		c, err := bs.Dial(ctx, alice.PeerID(), "silent")
		if err != nil {
			t.Fatalf("Dial(silent): %v", err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var b [1]byte
		_, err = c.Read(b[:])
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("Read past the read deadline err = %v, want a timeout", err)
		}
		// A Dial whose context has already ended fails at once.
		dctx, dcancel := context.WithTimeout(ctx, time.Nanosecond)
		defer dcancel()
		time.Sleep(time.Millisecond)
		if _, err := bs.Dial(dctx, alice.PeerID(), "silent"); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial with an expired context err = %v, want context.DeadlineExceeded", err)
		}
	})

	t.Run("both directions at once", func(t *testing.T) {
		l, err := bs.Listen("mirror")
		if err != nil {
			t.Fatal(err)
		}
		serve(t, l, func(c *stream.Conn) { io.Copy(c, c); c.CloseWrite() })
		c, err := as.Dial(ctx, bob.PeerID(), "mirror")
		if err != nil {
			t.Fatalf("Dial(mirror): %v", err)
		}
		defer c.Close()
		want := make([]byte, 8<<20)
		rand.Read(want)
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(want)
			c.CloseWrite()
			errc <- err
		}()
		got, err := io.ReadAll(c)
		if werr := <-errc; werr != nil || err != nil || !bytes.Equal(got, want) {
			t.Fatalf("mirror of 8 MiB: got %d bytes, write err %v, read err %v; want the same bytes", len(got), werr, err)
		}
	})
}

// TestAuthorize: the listener's Authorize hook refuses a guest before
// Accept sees the stream, and the dialer hears why.
func TestAuthorize(t *testing.T) {
	alice, bob := pair(t, ledger.RoleGuest)
	as := newService(t, alice, stream.Options{Authorize: func(from node.Sender, service string) error {
		if from.Role == ledger.RoleGuest && service == "camera" {
			return fmt.Errorf("guest %s has no grant for the camera", from.Name)
		}
		return nil
	}})
	bs := newService(t, bob, stream.Options{})
	l, err := as.Listen("camera", node.Everyone) // the hook alone decides
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1)
	serve(t, l, func(c *stream.Conn) { accepted <- struct{}{} })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = bs.Dial(ctx, alice.PeerID(), "camera")
	if !errors.Is(err, stream.ErrNotAllowed) || !bytes.Contains([]byte(err.Error()), []byte("no grant")) {
		t.Fatalf("guest Dial(camera) err = %v, want ErrNotAllowed with the reason", err)
	}
	select {
	case <-accepted:
		t.Fatal("a refused stream reached Accept")
	default:
	}
}
