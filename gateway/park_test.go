package gateway

import (
	"bytes"
	"io"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"
)

// waitParked waits until the connection of account/id is parked: it has
// no reader goroutine and no read buffer. The deadline only keeps a broken
// test from hanging.
func waitParked(t *testing.T, s *Server, account, id string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		c := s.ids[acctID{account, id}]
		s.mu.Unlock()
		if c != nil && c.pk.state.Load() == pkParked {
			return
		}
	}
	t.Fatalf("%s/%s: not parked", account, id)
}

// readerGoroutines counts the goroutines running a connection's reader.
func readerGoroutines() int {
	var b bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&b, 1)
	n := 0
	for _, block := range strings.Split(b.String(), "\n\n") {
		if !strings.Contains(block, "gateway.(*conn).readLoop") {
			continue
		}
		// "goroutine profile: …" heads the first block; each block
		// starts with "N @ 0x…": N goroutines share this stack.
		lines := strings.Split(block, "\n")
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 1 && f[1] == "@" {
				m, _ := strconv.Atoi(f[0])
				n += m
				break
			}
		}
	}
	return n
}

// TestParkedDevices: idle registered devices hold no reader goroutine and
// no read buffer, and a parked device still gets pushes, is woken by its
// next command, and keeps its place in the order of its replies.
func TestParkedDevices(t *testing.T) {
	s := newServer(t, nil)
	a, b := register(t, s, "a"), register(t, s, "b")
	waitParked(t, s, "acct1", "a")
	waitParked(t, s, "acct1", "b")
	if n := readerGoroutines(); n != 0 {
		t.Fatalf("%d readers run for 2 idle devices, want 0", n)
	}
	s.mu.Lock()
	for _, id := range []string{"a", "b"} {
		if c := s.ids[acctID{"acct1", id}]; c.rd.buf != nil {
			t.Errorf("parked %s holds a read buffer of %d bytes", id, len(c.rd.buf))
		}
	}
	s.mu.Unlock()
	a.expect("TCP:PUSH:"+key1+":RID:b:one", "[OK:1]") // wakes a
	b.expectRead("PUSH:one")                          // b is parked: the pusher writes
	waitParked(t, s, "acct1", "a")
	b.expect("TCP:PUSH:"+key1+":RID:a:two", "[OK:1]")
	a.expectRead("PUSH:two")
	// Several commands in one segment, then one split over two.
	a.send("TCP:GID:" + key1 + "\nTCP:GID:" + key1)
	a.expectRead("[OK:a]")
	a.expectRead("[OK:a]")
	waitParked(t, s, "acct1", "a")
	io.WriteString(a.nc, "TCP:GI")
	time.Sleep(2 * parkAfter)
	a.expect("D:"+key1, "[OK:a]")
}

// TestParkedHangUp: a parked device that hangs up loses its id.
func TestParkedHangUp(t *testing.T) {
	s := newServer(t, nil)
	a, b := register(t, s, "a"), register(t, s, "b")
	waitParked(t, s, "acct1", "a")
	a.nc.Close()
	for end := time.Now().Add(20 * time.Second); s.Stats().IDs != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("ids = %d after a hung up, want 1", s.Stats().IDs)
		}
	}
	b.expect("TCP:PUSH:"+key1+":RID:a:x", "[FAIL:OFFLINE]")
}

// TestParkedIdleTimeout: a parked device of the coconet dialect is still
// closed after IdleTimeout without a line; one of the P2Pcluster dialect
// still gets [SYNC:…] (TestP2PSync).
func TestParkedIdleTimeout(t *testing.T) {
	s := newServer(t, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
	a := register(t, s, "a")
	waitParked(t, s, "acct1", "a")
	a.expectEOF()
}

// TestParkedP2P: in the P2Pcluster dialect a parked device is woken by a
// command without a terminator and by the SYNC deadline.
func TestParkedP2P(t *testing.T) {
	s := newP2PServer(t, func(s *Server) { s.SyncEvery = 300 * time.Millisecond })
	c := p2pRegister(t, s, "", "quiet")
	waitParked(t, s, p2pUser, "QUIET")
	c.expect("TCP:GID:"+p2pKey, "[OK:QUIET]")
	waitParked(t, s, p2pUser, "QUIET")
	c.expectRead("[SYNC:03.12.2026_07:51:07]")
	waitParked(t, s, p2pUser, "QUIET")
	c.expect("TCP:GID:"+p2pKey, "[OK:QUIET]")
}

// TestParkedRawChannel: a device parked while it waits for its raw
// channel carries bytes both ways once the other side asks back.
func TestParkedRawChannel(t *testing.T) {
	s := newServer(t, nil)
	a, b := register(t, s, "a"), register(t, s, "b")
	a.expect("TCP:RAW:"+key1+":b", "[OK:WAIT:b]")
	b.expectRead("RAW:a")
	waitParked(t, s, "acct1", "a")
	b.expect("TCP:RAW:"+key1+":a", "[OK:RAW:a]")
	a.expectRead("[OK:RAW:b]")
	io.WriteString(b.nc, "to a\n")
	a.expectRead("to a")
	io.WriteString(a.nc, "to b\n")
	b.expectRead("to b")
	a.nc.Close()
	b.expectEOF()
}
