package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// dialFrom connects to s from the local address ip (any 127.0.0.0/8
// address is a loopback source on Linux).
func dialFrom(t *testing.T, s *Server, ip string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	nc, err := d.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

// refused checks that the server refuses c: [FAIL:TOOMANY], then EOF.
func (c *client) refused() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := c.r.ReadString('\n')
	if line != "[FAIL:TOOMANY]\n" || err != nil {
		c.t.Fatalf("over the cap: read %q, %v; want [FAIL:TOOMANY]", line, err)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		c.t.Fatalf("over the cap: then %v, want EOF", err)
	}
}

// closedEventually waits until the server closes c (EOF or reset); the
// deadline only keeps a broken test from hanging.
func (c *client) closedEventually() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, err := c.r.ReadString('\n')
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatal("the server did not close the connection")
		}
		if err != nil {
			return
		}
	}
}

// TestPerIPCap: a source over MaxConnsPerIP is refused with a clear line;
// other sources are not, and a slot comes back when a connection closes.
func TestPerIPCap(t *testing.T) {
	s := newServer(t, func(s *Server) { s.MaxConnsPerIP = 2 })
	a := register(t, s, "a") // from 127.0.0.1
	dialFrom(t, s, "127.0.0.1").expect("TCP:GID:"+key1, "[FAIL:NOID]")
	dialFrom(t, s, "127.0.0.1").refused()
	other := dialFrom(t, s, "127.0.0.2")
	other.expect("TCP:ID:"+key1+":b", "[OK:b]")
	other.expect("TCP:PUSH:"+key1+":RID:a:still here", "[OK:1]")
	a.expectRead("PUSH:still here")
	if got := s.Stats().Refused; got != 1 {
		t.Errorf("Stats().Refused = %d, want 1", got)
	}
	a.nc.Close()
	eventually(t, "the slot of a closed connection to come back", func() bool {
		c := dialFrom(t, s, "127.0.0.1")
		c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		c.send("TCP:GID:" + key1)
		line, _ := c.r.ReadString('\n')
		return line == "[FAIL:NOID]\n"
	})
}

// TestTotalCap: past MaxConns a new connection takes the place of the
// oldest one that has sent no valid key; with only devices in, it is
// refused.
func TestTotalCap(t *testing.T) {
	s := newServer(t, func(s *Server) { s.MaxConns = 4 })
	a := register(t, s, "a")
	register(t, s, "b")
	junk1 := dialFrom(t, s, "127.0.0.2")
	junk1.expect("TCP:GID:WRONG", "[FAIL:KEY]") // a line, but no valid key
	junk2 := dialFrom(t, s, "127.0.0.3")
	junk2.expect("TCP:ID:WRONG:x", "[FAIL:KEY]")
	c := dialFrom(t, s, "127.0.0.4") // takes junk1's place
	c.expect("TCP:ID:"+key1+":c", "[OK:c]")
	junk1.closedEventually()
	d := dialFrom(t, s, "127.0.0.5") // takes junk2's place
	d.expect("TCP:ID:"+key1+":d", "[OK:d]")
	junk2.closedEventually()
	dialFrom(t, s, "127.0.0.6").refused() // four devices: no room
	dialFrom(t, s, "127.0.0.1").refused()
	a.expect("TCP:PUSH:"+key1+":RID:b:ok", "[OK:1]") // those in are unaffected
	if st := s.Stats(); st.Evicted != 2 || st.Refused != 2 {
		t.Errorf("Stats() = %+v, want 2 evicted and 2 refused", st)
	}
}

// TestAuthTimeout: a connection that sends nothing, or only keepalives and
// lines with a wrong key, is closed after AuthTimeout; a device that
// registered stays and gets pushes.
func TestAuthTimeout(t *testing.T) {
	s := newServer(t, func(s *Server) { s.AuthTimeout = 200 * time.Millisecond })
	dev := register(t, s, "dev")
	silent := dial(t, s)
	noisy := dial(t, s)
	noisy.send("")
	noisy.expect("TCP:ID:WRONG:x", "[FAIL:KEY]")
	noisy.send("")
	silent.closedEventually()
	noisy.closedEventually()
	dial(t, s).expect("TCP:PUSH:"+key1+":RID:dev:after", "[OK:1]")
	dev.expectRead("PUSH:after")
	dev.expect("TCP:GID:"+key1, "[OK:dev]")
}

// failingListener fails its first n accepts with EMFILE, as a process out
// of file descriptors does.
type failingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.n.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptErrorsBackOff: a burst of accept errors is logged once (not
// once per error), and the server accepts again afterwards.
func TestAcceptErrorsBackOff(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	s := newServer(t, func(s *Server) {
		s.wrapListener = func(ln net.Listener) net.Listener {
			fl := &failingListener{Listener: ln}
			fl.n.Store(6)
			return fl
		}
		s.Logf = func(format string, args ...any) {
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(format, "accept") {
				logged = append(logged, format)
			}
		}
	})
	register(t, s, "a") // once the errors are past
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 1 {
		t.Errorf("6 accept errors logged %d lines, want 1", len(logged))
	}
}
