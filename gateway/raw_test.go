package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/stream"
)

// openStreams counts the stream-service streams open on n's host (raw
// channels between push servers are the only ones in these tests).
func openStreams(n *engine.Engine) int {
	k := 0
	for _, c := range n.Node().Host().Network().Conns() {
		for _, s := range c.GetStreams() {
			if s.Protocol() == stream.Proto {
				k++
			}
		}
	}
	return k
}

// pairAcross makes a (on one server) and b (on another) ask for each other
// in turn, a first, and checks every line the protocol promises.
func pairAcross(t *testing.T, a, b *client, aID, bID string) {
	t.Helper()
	a.expect("TCP:RAW:"+key1+":"+bID, "[OK:WAIT:"+bID+"]")
	b.expectRead("RAW:" + aID)
	b.expect("TCP:RAW:"+key1+":"+aID, "[OK:RAW:"+aID+"]")
	a.expectRead("[OK:RAW:" + bID + "]")
}

// untilRaw reads c's lines until [OK:RAW:<peer>]; before it only the
// notice RAW:<peer> and [OK:WAIT:<peer>] may come (which of them depends
// on who asked first).
func untilRaw(t *testing.T, c *client, peer string) {
	t.Helper()
	for {
		switch got := c.read(); got {
		case "[OK:RAW:" + peer + "]":
			return
		case "RAW:" + peer, "[OK:WAIT:" + peer + "]":
		default:
			t.Fatalf("read = %q, want [OK:RAW:%s] (or the notice or WAIT before it)", got, peer)
		}
	}
}

// exchange sends ab from a to b and ba from b to a at the same time and
// checks that each arrives unchanged.
func exchange(t *testing.T, a, b *client, ab, ba []byte) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.nc.Write(ab) }()
	go func() { defer wg.Done(); b.nc.Write(ba) }()
	defer wg.Wait()
	a.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	b.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	gotAB, gotBA := make([]byte, len(ab)), make([]byte, len(ba))
	if n, err := io.ReadFull(b.r, gotAB); err != nil || !bytes.Equal(gotAB, ab) {
		t.Fatalf("b read %d bytes %.40q, err %v, equal %v; want a's %d bytes", n, gotAB, err, bytes.Equal(gotAB, ab), len(ab))
	}
	if n, err := io.ReadFull(a.r, gotBA); err != nil || !bytes.Equal(gotBA, ba) {
		t.Fatalf("a read %d bytes, err %v, equal %v; want b's %d bytes", n, err, bytes.Equal(gotBA, ba), len(ba))
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// TestRawAcrossNetwork pairs devices of two push servers on two nodes of
// one network: the ask and the notice travel over coco.push, the bytes
// over one stream between the nodes, with the local channel's semantics.
func TestRawAcrossNetwork(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	if _, err := CreateKey(alice, "", "test devices", key1); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	name(t, alice, alice, bob)
	synced(t, alice, bob)
	sa, sb := startBridge(t, alice), startBridge(t, bob)
	knows(t, sa, bob)
	knows(t, sb, alice)
	// settled waits until both servers hold only want connections and
	// neither node holds a raw channel's stream.
	settled := func(t *testing.T, connsA, connsB int) {
		t.Helper()
		eventually(t, "the raw channels to be gone", func() bool {
			return sa.Server().Stats().Conns == connsA && sb.Server().Stats().Conns == connsB &&
				openStreams(alice) == 0 && openStreams(bob) == 0
		})
	}
	c := register(t, sb.Server(), "c") // a bystander on bob's server

	t.Run("BytesBothWays", func(t *testing.T) {
		a, b := register(t, sa.Server(), "a"), register(t, sb.Server(), "b")
		a.expect("TCP:RAW:"+key1+":nobody", "[FAIL:OFFLINE]")
		pairAcross(t, a, b, "a", "b")
		// The paired ids take no pushes: they would corrupt the stream.
		c.expect("TCP:PUSH:"+key1+":RID:a:x", "[FAIL:OFFLINE]")
		c.expect("TCP:PUSH:"+key1+":RID:b:x", "[FAIL:OFFLINE]")
		if n := openStreams(alice); n != 1 {
			t.Errorf("streams between the nodes = %d, want 1", n)
		}
		// Lines, binary bytes and a few MiB go through unchanged.
		ab := append([]byte("TCP:ID:"+key1+":z\n\x00\xff\r\n"), randomBytes(3<<20)...)
		ba := append([]byte("PUSH:x\n[OK:1]\n"), randomBytes(2<<20+12345)...)
		exchange(t, a, b, ab, ba)
		exchange(t, a, b, []byte("ping"), []byte("pong"))
		a.nc.Close() // a ends its side: b reads the end
		b.expectEOF()
		b.nc.Close()
		c.quiet("c")
		settled(t, 0, 1)
	})

	t.Run("AcceptedAtOnce", func(t *testing.T) {
		// b asks first; a's acceptance and its first raw bytes come in
		// one write, and a's server opens the stream.
		a, b := register(t, sa.Server(), "a"), register(t, sb.Server(), "b")
		b.expect("TCP:RAW:"+key1+":a", "[OK:WAIT:a]")
		a.expectRead("RAW:b")
		io.WriteString(a.nc, "TCP:RAW:"+key1+":b\nhello raw")
		a.expectRead("[OK:RAW:b]")
		b.expectRead("[OK:RAW:a]")
		got := make([]byte, len("hello raw"))
		if _, err := io.ReadFull(b.r, got); err != nil || string(got) != "hello raw" {
			t.Fatalf("b read %q, %v; want %q", got, err, "hello raw")
		}
		exchange(t, a, b, []byte("\x00\x01\x02"), []byte("back"))
		a.nc.Close()
		b.nc.Close()
		settled(t, 0, 1)
	})

	t.Run("HalfClose", func(t *testing.T) {
		// a sends a request and ends its side; b reads the end and still
		// answers; both connections close when both sides have ended.
		a, b := register(t, sa.Server(), "a"), register(t, sb.Server(), "b")
		pairAcross(t, a, b, "a", "b")
		a.send("request")
		a.nc.(*net.TCPConn).CloseWrite()
		b.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if got, err := io.ReadAll(b.r); err != nil || string(got) != "request\n" {
			t.Fatalf("b read %q, %v; want the request and the end", got, err)
		}
		io.WriteString(b.nc, "answer")
		b.nc.Close()
		a.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if got, err := io.ReadAll(a.r); err != nil || string(got) != "answer" {
			t.Fatalf("a read %q, %v; want the answer and the end", got, err)
		}
		settled(t, 0, 1)
	})

	t.Run("DisconnectMidStream", func(t *testing.T) {
		// a vanishes (a reset, not an orderly end) while it sends: b's
		// connection ends, the stream is reset, nothing is left behind.
		a, b := register(t, sa.Server(), "a"), register(t, sb.Server(), "b")
		pairAcross(t, a, b, "a", "b")
		done := make(chan struct{})
		go func() {
			defer close(done)
			chunk := randomBytes(64 << 10)
			for {
				if _, err := a.nc.Write(chunk); err != nil {
					return
				}
			}
		}()
		b.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.ReadFull(b.r, make([]byte, 1<<20)); err != nil {
			t.Fatalf("b read: %v", err)
		}
		a.nc.(*net.TCPConn).SetLinger(0)
		a.nc.Close()
		<-done
		if _, err := io.Copy(io.Discard, b.r); err != nil && !isReset(err) {
			t.Fatalf("b read until the end: %v", err)
		}
		b.nc.Close()
		settled(t, 0, 1)
	})

	t.Run("BothAskAtOnce", func(t *testing.T) {
		// Both ask before either has its reply: one server opens the
		// stream, whichever order the asks cross in.
		for i := range 5 {
			aID, bID := "a"+itoa(i), "b"+itoa(i)
			a, b := register(t, sa.Server(), aID), register(t, sb.Server(), bID)
			a.send("TCP:RAW:" + key1 + ":" + bID)
			b.send("TCP:RAW:" + key1 + ":" + aID)
			untilRaw(t, a, bID)
			untilRaw(t, b, aID)
			exchange(t, a, b, []byte("to "+bID), []byte("to "+aID))
			a.nc.Close()
			b.nc.Close()
		}
		// b answers the notice before a has its WAIT: the stream comes
		// while a's ask is still out, and waits for a's reply.
		a, b := register(t, sa.Server(), "a"), register(t, sb.Server(), "b")
		a.send("TCP:RAW:" + key1 + ":b")
		b.expectRead("RAW:a")
		b.send("TCP:RAW:" + key1 + ":a")
		a.expectRead("[OK:WAIT:b]")
		a.expectRead("[OK:RAW:b]")
		b.expectRead("[OK:RAW:a]")
		exchange(t, a, b, []byte("x"), []byte("y"))
		a.nc.Close()
		b.nc.Close()
		settled(t, 0, 1)
	})

	t.Run("NeverAnsweredAndServerStops", func(t *testing.T) {
		// a asks b, which never answers; a gives up by leaving. b's late
		// answer finds nobody waiting: OFFLINE, as on one server.
		a, b := register(t, sa.Server(), "a"), register(t, sb.Server(), "b")
		a.expect("TCP:RAW:"+key1+":b", "[OK:WAIT:b]")
		b.expectRead("RAW:a")
		a.nc.Close()
		eventually(t, "a to leave", func() bool { return sa.Server().Stats().Conns == 0 })
		b.expect("TCP:RAW:"+key1+":a", "[FAIL:OFFLINE]")
		b.quiet("b") // b is still an id that takes pushes
		c.expect("TCP:PUSH:"+key1+":RID:b:still here", "[OK:1]")
		b.expectRead("PUSH:still here")

		// a waits and sends nothing, as the protocol asks: after
		// IdleTimeout its connection closes like any silent one.
		sa.Close()
		eventually(t, "bob's server to forget alice's", func() bool { return len(sb.Servers()) == 0 })
		short, err := StartBridge(context.Background(), alice, &Server{Listen: "127.0.0.1:0", Logf: t.Logf, IdleTimeout: time.Second})
		if err != nil {
			t.Fatalf("StartBridge again: %v", err)
		}
		t.Cleanup(func() { short.Close() })
		knows(t, sb, alice)
		knows(t, short, bob)
		a = register(t, short.Server(), "a")
		a.expect("TCP:RAW:"+key1+":b", "[OK:WAIT:b]")
		b.expectRead("RAW:a")
		a.expectEOF()
		b.expect("TCP:RAW:"+key1+":a", "[FAIL:OFFLINE]")
		b.nc.Close()
		eventually(t, "nothing to be left", func() bool {
			return short.Server().Stats().Conns == 0 && sb.Server().Stats().Conns == 1 &&
				openStreams(alice) == 0 && openStreams(bob) == 0
		})

		// A push server that stops ends its raw channels: the stream is
		// reset and the device on the other server is disconnected.
		a, b = register(t, short.Server(), "a"), register(t, sb.Server(), "b")
		pairAcross(t, a, b, "a", "b")
		exchange(t, a, b, []byte("before"), []byte("the end"))
		sb.Close()
		a.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		if rest, err := io.ReadAll(a.r); (err != nil && !isReset(err)) || len(rest) > 0 {
			t.Fatalf("a read %q, %v; want the end of its connection", rest, err)
		}
		eventually(t, "nothing to be left", func() bool {
			return short.Server().Stats().Conns == 0 && openStreams(alice) == 0 && openStreams(bob) == 0
		})
	})
}

// isReset reports whether err is a connection reset (b's server may close
// with unread bytes from the stream in flight).
func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "reset")
}

func FuzzParseRawHeader(f *testing.F) {
	for _, s := range []string{"main:a:b", "acct1:dev-1:lamp@2", "a:b", "a:b:c:d", "::", "a b:c:d", "\x00:\xff:x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		account, from, to, err := parseRawHeader(b)
		if err != nil {
			return
		}
		if h := rawHeader(account, from, to); int(h[0]) != len(b) || !bytes.Equal(h[1:], b) {
			t.Fatalf("rawHeader(parseRawHeader(%q)) = %q, want the same bytes after a length byte", b, h)
		}
	})
}
