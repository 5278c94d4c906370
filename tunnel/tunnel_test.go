package tunnel_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/stream"
	"github.com/coconet/coconet/tunnel"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

var (
	pair  = nettest.Pair
	start = nettest.Start
)

func newStreams(t *testing.T, n *engine.Engine) *stream.Service {
	t.Helper()
	s, err := stream.New(n.Node(), stream.Options{Logf: t.Logf})
	if err != nil {
		t.Fatalf("stream.New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tcpServer runs fn for each connection to a fresh 127.0.0.1 listener.
func tcpServer(t *testing.T, fn func(c *net.TCPConn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				fn(c.(*net.TCPConn))
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return l.Addr().String()
}

// logLines collects log lines for the tests to look at.
type logLines struct {
	t  *testing.T
	mu sync.Mutex
	l  []string
}

func (l *logLines) logf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.l = append(l.l, fmt.Sprintf(f, a...))
	l.t.Logf(f, a...)
}

func (l *logLines) has(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.l {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// setup exposes target on alice as name and opens it on bob.
func setup(t *testing.T, as, bs *stream.Service, alice *engine.Engine, name, target string) (*tunnel.Exposed, *tunnel.Opened, *logLines) {
	t.Helper()
	logs := &logLines{t: t}
	ctx := context.Background()
	e, err := tunnel.Expose(ctx, as, name, target, logs.logf)
	if err != nil {
		t.Fatalf("Expose(%s, %s): %v", name, target, err)
	}
	t.Cleanup(func() { e.Close() })
	o, err := tunnel.Open(ctx, bs, alice.PeerID(), name, "127.0.0.1:0", logs.logf)
	if err != nil {
		t.Fatalf("Open(%s): %v", name, err)
	}
	t.Cleanup(func() { o.Close() })
	return e, o, logs
}

func TestTunnel(t *testing.T) {
	alice, bob := pair(t, ledger.RoleAdmin)
	as, bs := newStreams(t, alice), newStreams(t, bob)

	t.Run("http", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello %s via %s", r.URL.Path, r.Method)
		})}
		go srv.Serve(l)
		defer srv.Close()
		_, o, _ := setup(t, as, bs, alice, "web", l.Addr().String())
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		for i := range 5 { // keep-alive: the same tunnelled connection
			url := fmt.Sprintf("http://%s/page%d", o.Addr(), i)
			resp, err := client.Get(url)
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if want := fmt.Sprintf("hello /page%d via GET", i); err != nil || string(b) != want {
				t.Fatalf("GET %s = %q, %v, want %q", url, b, err, want)
			}
		}
		resp, err := client.Post("http://"+o.Addr().String()+"/form", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		resp.Body.Close()
		if st := o.Stats(); st.Conns < 1 || st.BytesIn == 0 || st.BytesOut == 0 {
			t.Errorf("Opened.Stats() = %+v, want a connection and bytes both ways", st)
		}
	})

	t.Run("interactive with half-close", func(t *testing.T) {
		// An SSH-like session: a banner, request/response turns on one
		// connection, then the client half-closes and the server still
		// answers before closing.
		target := tcpServer(t, func(c *net.TCPConn) {
			fmt.Fprintf(c, "SSH-2.0-fake\n")
			r := bufio.NewReader(c)
			n := 0
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					fmt.Fprintf(c, "bye after %d\n", n)
					return
				}
				n++
				fmt.Fprintf(c, "pong %s", line)
			}
		})
		_, o, _ := setup(t, as, bs, alice, "ssh", target)
		c, err := net.Dial("tcp", o.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		if line, err := r.ReadString('\n'); err != nil || line != "SSH-2.0-fake\n" {
			t.Fatalf("banner = %q, %v", line, err)
		}
		for i := range 100 {
			fmt.Fprintf(c, "ping %d\n", i)
			want := fmt.Sprintf("pong ping %d\n", i)
			if line, err := r.ReadString('\n'); err != nil || line != want {
				t.Fatalf("turn %d: got %q, %v, want %q", i, line, err, want)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		rest, err := io.ReadAll(r)
		if err != nil || string(rest) != "bye after 100\n" {
			t.Fatalf("after CloseWrite: got %q, %v, want the server's last words then EOF", rest, err)
		}
	})

	t.Run("server half-closes first", func(t *testing.T) {
		got := make(chan string, 1)
		target := tcpServer(t, func(c *net.TCPConn) {
			c.Write([]byte("all I have to say"))
			c.CloseWrite()
			b, _ := io.ReadAll(c)
			got <- string(b)
		})
		_, o, _ := setup(t, as, bs, alice, "speaker", target)
		c, err := net.Dial("tcp", o.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b, err := io.ReadAll(c)
		if err != nil || string(b) != "all I have to say" {
			t.Fatalf("client read %q, %v, want the server's words then EOF", b, err)
		}
		c.Write([]byte("and my answer"))
		c.(*net.TCPConn).CloseWrite()
		if s := <-got; s != "and my answer" {
			t.Fatalf("server read %q after its half-close, want the client's answer", s)
		}
	})

	t.Run("50 concurrent connections", func(t *testing.T) {
		target := tcpServer(t, func(c *net.TCPConn) { io.Copy(c, c); c.CloseWrite() })
		e, o, _ := setup(t, as, bs, alice, "echo", target)
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", o.Addr().String())
				if err != nil {
					errs <- err
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				want := make([]byte, 256<<10)
				rand.Read(want)
				go func() { c.Write(want); c.(*net.TCPConn).CloseWrite() }()
				got, err := io.ReadAll(c)
				if err != nil || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("connection %d: echoed %d of %d bytes, %v", i, len(got), len(want), err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if st := e.Stats(); st.Conns != 50 {
			t.Errorf("Exposed.Stats().Conns = %d, want 50", st.Conns)
		}
	})

	t.Run("64 MiB with checksum", func(t *testing.T) {
		target := tcpServer(t, func(c *net.TCPConn) {
			h := sha256.New()
			io.Copy(h, c)
			c.Write(h.Sum(nil))
		})
		_, o, _ := setup(t, as, bs, alice, "bulk", target)
		c, err := net.Dial("tcp", o.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		h := sha256.New()
		buf := make([]byte, 1<<20)
		for i := range 64 {
			rand.Read(buf)
			buf[0] = byte(i)
			h.Write(buf)
			if _, err := c.Write(buf); err != nil {
				t.Fatalf("write MiB %d: %v", i, err)
			}
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		if want := h.Sum(nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("sha256 at the far end = %x, %v, want %x", got, err, want)
		}
		if st := o.Stats(); st.BytesOut < 64<<20 {
			t.Errorf("Opened.Stats().BytesOut = %d, want at least 64 MiB", st.BytesOut)
		}
	})

	t.Run("far service down", func(t *testing.T) {
		// A target nobody listens on.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dead := l.Addr().String()
		l.Close()
		_, o, logs := setup(t, as, bs, alice, "down", dead)
		expectPromptClose(t, o.Addr().String())
		if !logs.has("cannot reach " + dead) {
			t.Errorf("no log line saying the target %s cannot be reached", dead)
		}

		// A tunnel name nobody exposes.
		logs2 := &logLines{t: t}
		o2, err := tunnel.Open(context.Background(), bs, alice.PeerID(), "nothing", "127.0.0.1:0", logs2.logf)
		if err != nil {
			t.Fatal(err)
		}
		defer o2.Close()
		expectPromptClose(t, o2.Addr().String())
		if !logs2.has("unknown service") {
			t.Errorf("no log line saying the tunnel is not exposed")
		}
	})
}

// expectPromptClose connects to addr and expects the connection to be
// closed without data (bounded by a generous deadline, not a timing
// assertion: a hang fails, a slow machine does not).
func expectPromptClose(t *testing.T, addr string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello?"))
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("connection to %s still open after 20s, want it closed", addr)
	}
	if len(b) != 0 {
		t.Fatalf("read %q from a tunnel whose far service is down, want nothing", b)
	}
}

// TestExposeAccess: a guest opening a tunnel exposed with the default
// access gets its connection closed before the target is dialed, and Err
// says whose tunnel refused and what to do; allowed by name, she gets
// through.
func TestExposeAccess(t *testing.T) {
	alice, bob := pair(t, ledger.RoleGuest)
	as, bs := newStreams(t, alice), newStreams(t, bob)
	var mu sync.Mutex
	hits := 0
	target := tcpServer(t, func(c *net.TCPConn) {
		mu.Lock()
		hits++
		mu.Unlock()
		c.Write([]byte("SSH-2.0-test\r\n"))
	})
	banner := func(o *tunnel.Opened) string {
		c, err := net.Dial("tcp", o.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		b, _ := io.ReadAll(c)
		return string(b)
	}

	_, o, _ := setup(t, as, bs, alice, "ssh", target)
	if got := banner(o); got != "" {
		t.Fatalf("guest read %q through a tunnel not open to guests", got)
	}
	want := "alice's tunnel ssh is not open to guests; ask alice to allow you"
	for deadline := time.Now().Add(10 * time.Second); o.Err() == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := o.Err(); err == nil || !errors.Is(err, stream.ErrNotAllowed) || !strings.Contains(err.Error(), want) {
		t.Fatalf("Opened.Err() = %v, want ErrNotAllowed saying %q", err, want)
	}
	mu.Lock()
	if hits != 0 {
		t.Fatalf("the target was dialed %d times for a refused guest", hits)
	}
	mu.Unlock()

	ctx := context.Background()
	e, err := tunnel.Expose(ctx, as, "web", target, t.Logf, node.Access{Users: []identity.UserID{bob.User()}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	o2, err := tunnel.Open(ctx, bs, alice.PeerID(), "web", "127.0.0.1:0", t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Close()
	if got := banner(o2); got != "SSH-2.0-test\r\n" {
		t.Fatalf("guest allowed by name read %q, want the banner", got)
	}
	if err := o2.Err(); err != nil {
		t.Errorf("Opened.Err() after a success = %v, want nil", err)
	}
}
