package gateway

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The P2Pcluster dialect over real sockets: replies have no terminator,
// so the tests read exactly the bytes they expect.

const (
	p2pKey   = "11FE313037C5327CD35BAC6C8D66867F" // the README's key, account alice@example.com
	p2pUser  = "alice@example.com"
	p2pKey2  = "a876b688c52dd96980cd298cea55bbde" // account bob@example.com
	p2pUser2 = "bob@example.com"
)

// p2pNow is the fixed clock of the P2Pcluster tests: Thu 3 Dec 2026
// 07:51:07 UTC, 13:21:07 in India.
var p2pNow = time.Date(2026, 12, 3, 7, 51, 7, 0, time.UTC)

// newP2PServer starts a P2Pcluster-dialect server with two accounts.
func newP2PServer(t *testing.T, edit func(*Server)) *Server {
	t.Helper()
	return newServer(t, func(s *Server) {
		keys := &MemKeyStore{}
		keys.Add(p2pKey, p2pUser)
		keys.Add(p2pKey2, p2pUser2)
		s.Keys = keys
		s.Dialect = DialectP2Pcluster
		s.Now = func() time.Time { return p2pNow }
		if edit != nil {
			edit(s)
		}
	})
}

// pc is a device of the P2Pcluster dialect; term is what it ends its
// commands with ("" like a microcontroller, "\r\n" like PuTTY).
type pc struct {
	t    *testing.T
	nc   net.Conn
	term string
}

func p2pDial(t *testing.T, s *Server, term string) *pc {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &pc{t: t, nc: nc, term: term}
}

// write sends b as it is.
func (c *pc) write(b string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, b); err != nil {
		c.t.Fatalf("write %q: %v", b, err)
	}
}

// readN reads exactly n bytes. The deadline only keeps a broken test
// from hanging.
func (c *pc) readN(n int) string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	b := make([]byte, n)
	if m, err := io.ReadFull(c.nc, b); err != nil {
		c.t.Fatalf("read %d bytes: %v (got %q)", n, err, b[:m])
	}
	return string(b)
}

// readReply reads up to and including the next ']'.
func (c *pc) readReply() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var out []byte
	b := make([]byte, 1)
	for {
		if _, err := c.nc.Read(b); err != nil {
			c.t.Fatalf("read reply: %v (got %q)", err, out)
		}
		out = append(out, b[0])
		if b[0] == ']' {
			return string(out)
		}
	}
}

// expectRead reads len(want) bytes and compares them with want.
func (c *pc) expectRead(want string) {
	c.t.Helper()
	if got := c.readN(len(want)); got != want {
		c.t.Fatalf("read = %q, want %q", got, want)
	}
}

// expect sends cmd with the device's terminator and reads the reply.
func (c *pc) expect(cmd, want string) {
	c.t.Helper()
	c.write(cmd + c.term)
	if got := c.readN(len(want)); got != want {
		c.t.Fatalf("%q → %q, want %q", cmd, got, want)
	}
}

// do sends cmd and returns the reply up to ']'.
func (c *pc) do(cmd string) string {
	c.t.Helper()
	c.write(cmd + c.term)
	return c.readReply()
}

// expectEOF reads until the server closes the connection and checks that
// nothing came before.
func (c *pc) expectEOF() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(c.nc)
	if err != nil {
		c.t.Fatalf("read until close: %v (got %q)", err, rest)
	}
	if len(rest) > 0 {
		c.t.Fatalf("before close got %q, want nothing", rest)
	}
}

func p2pRegister(t *testing.T, s *Server, term, id string) *pc {
	t.Helper()
	c := p2pDial(t, s, term)
	c.expect("TCP:ID:"+p2pKey+":"+id, "[OK:"+strings.ToUpper(id)+"]")
	return c
}

var terms = []struct{ name, term string }{{"raw", ""}, {"crlf", "\r\n"}}

// step is one command of a golden transcript: device dev sends cmd and
// gets reply; the devices in got receive those bytes.
type step struct {
	dev   int
	cmd   string
	reply string
	got   map[int]string
}

// runTranscript registers the ids (one device each) and runs steps.
func runTranscript(t *testing.T, s *Server, term string, ids []string, steps []step) {
	t.Helper()
	devs := make([]*pc, len(ids))
	for i, id := range ids {
		devs[i] = p2pRegister(t, s, term, id)
	}
	for i, st := range steps {
		c := devs[st.dev]
		c.write(st.cmd + term)
		if got := c.readN(len(st.reply)); got != st.reply {
			t.Fatalf("step %d: %s: %q → %q, want %q", i, ids[st.dev], st.cmd, got, st.reply)
		}
		for d, want := range st.got {
			if got := devs[d].readN(len(want)); got != want {
				t.Fatalf("step %d: %s received %q, want %q", i, ids[d], got, want)
			}
		}
	}
}

// TestP2PQuickStart is the README's quick start in PuTTY raw mode, and as
// a microcontroller sends it (no terminator).
func TestP2PQuickStart(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			runTranscript(t, s, tc.term, []string{"12345", "123456789", "123456"}, []step{
				{0, "TCP:PUSH:" + p2pKey + ":RID:123456789:Hello12345", "[OK:DATA_SENT]", map[int]string{1: "PUSH:Hello12345"}},
				{2, "TCP:PUSH:" + p2pKey + ":FRIENDS:Hello ALL", "[OK:ALL_2]", map[int]string{0: "PUSH:Hello ALL", 1: "PUSH:Hello ALL"}},
				{1, "TCP:PUSH:" + p2pKey + ":RID:999:x", "[FAIL:REM_ID]", nil},
				{0, "TCP:GID:" + p2pKey, "[OK:12345]", nil},
				{0, "TCP:REMID:" + p2pKey, "[OK:NODEREMOVED]", nil},
				{0, "TCP:GID:" + p2pKey, "FAIL:NOID", nil},
				{1, "TCP:PUSH:" + p2pKey + ":RID:12345:gone", "[FAIL:REM_ID]", nil},
			})
		})
	}
}

// TestP2PGroups is the tree groups of the README: CHILDS, ALLCHILDS,
// PARENT, FRIENDS (also with two and more children, where the original
// fails), and the replies for partial and empty groups.
func TestP2PGroups(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			dir := &MemDirectory{}
			for _, e := range [][2]string{{"home", ""}, {"hall", "home"}, {"bed", "home"}, {"lamp", "hall"}, {"fan", "hall"}, {"ghost", "home"}} {
				dir.SetParent(p2pUser, e[0], e[1])
			}
			s := newP2PServer(t, func(s *Server) { s.Dir = dir })
			k := p2pKey
			// 0 HOME, 1 HALL, 2 BED, 3 LAMP, 4 FAN; GHOST never connects.
			runTranscript(t, s, tc.term, []string{"home", "hall", "BED", "Lamp", "fan"}, []step{
				{0, "TCP:PUSH:" + k + ":CHILDS:c", "[OK:2/3]", map[int]string{1: "PUSH:c", 2: "PUSH:c"}},
				{1, "TCP:PUSH:" + k + ":CHILDS:x", "[OK:ALL_2]", map[int]string{3: "PUSH:x", 4: "PUSH:x"}},
				{0, "TCP:PUSH:" + k + ":ALLCHILDS:a", "[OK:4/5]", map[int]string{1: "PUSH:a", 2: "PUSH:a", 3: "PUSH:a", 4: "PUSH:a"}},
				{3, "TCP:PUSH:" + k + ":FRIENDS:f", "[OK:ALL_1]", map[int]string{4: "PUSH:f"}},
				{1, "TCP:PUSH:" + k + ":FRIENDS:g", "[OK:1/2]", map[int]string{2: "PUSH:g"}},
				{3, "TCP:PUSH:" + k + ":PARENT:p", "[OK:DATA_SENT]", map[int]string{1: "PUSH:p"}},
				{0, "TCP:PUSH:" + k + ":PARENT:p", "[FAIL:NO_PARENT]", nil},
				{3, "TCP:PUSH:" + k + ":CHILDS:none", "[FAIL:NO_ID]", nil},
				{0, "TCP:push:" + strings.ToLower(k) + ":childs:Case Kept", "[OK:2/3]", map[int]string{1: "PUSH:Case Kept", 2: "PUSH:Case Kept"}},
			})
		})
	}
}

// TestP2PRouters is the mesh routers: RO reaches the other ids attached,
// whatever the case of the router's name (the original cannot reach a
// lower-case router); an id not attached gets FAIL:NO_ROUTER.
func TestP2PRouters(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			dir := &MemDirectory{}
			dir.AddRouter(p2pUser, "garden")
			for _, id := range []string{"L1", "l2", "l3"} {
				dir.Attach(p2pUser, "garden", id)
			}
			s := newP2PServer(t, func(s *Server) { s.Dir = dir })
			k := p2pKey
			runTranscript(t, s, tc.term, []string{"l1", "L2", "l3", "out"}, []step{
				{0, "TCP:PUSH:" + k + ":RO:GARDEN:off", "[OK:ALL_2]", map[int]string{1: "PUSH:off", 2: "PUSH:off"}},
				{1, "TCP:PUSH:" + k + ":ro:Garden:on", "[OK:ALL_2]", map[int]string{0: "PUSH:on", 2: "PUSH:on"}},
				{3, "TCP:PUSH:" + k + ":RO:GARDEN:x", "FAIL:NO_ROUTER", nil},
				{0, "TCP:PUSH:" + k + ":RO:NOPE:x", "FAIL:NO_ROUTER", nil},
			})
		})
	}
}

// TestP2PIDs: the first live connection keeps an id (any case); a second
// gets [FAIL:NODEEXIST] and is closed; a connection with an id asking for
// another gets [FAIL:<its id>]; commands before TCP:ID get FAIL:NOID.
func TestP2PIDs(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			k := p2pKey
			a := p2pDial(t, s, tc.term)
			a.expect("TCP:GID:"+k, "FAIL:NOID")
			a.expect("TCP:PUSH:"+k+":RID:x:y", "FAIL:NOID")
			a.expect("TCP:TIME:"+k+":+05:30", "FAIL:NOID")
			a.expect("tcp:id:"+strings.ToLower(k)+":abc", "[OK:ABC]")
			a.expect("TCP:ID:"+k+":Abc", "[OK:ABC]")
			a.expect("TCP:ID:"+k+":other", "[FAIL:ABC]")
			a.expect("TCP:ID:"+p2pKey2+":abc", "[FAIL:KEY_OVERRIDE]")
			a.expect("TCP:GID:"+p2pKey2, "FAIL:NOKEY")
			b := p2pDial(t, s, tc.term)
			b.expect("TCP:ID:"+k+":aBC", "[FAIL:NODEEXIST]")
			b.expectEOF()
			// Another account has an id space of its own.
			p2pDial(t, s, tc.term).expect("TCP:ID:"+p2pKey2+":abc", "[OK:ABC]")
			// Once a leaves, the id is free.
			a.expect("TCP:REMID:"+k, "[OK:NODEREMOVED]")
			p2pRegister(t, s, tc.term, "abc")
		})
	}
}

// TestP2PCommands: the replies to unknown, invalid and malformed commands
// and to a wrong key, byte for byte.
func TestP2PCommands(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			k := p2pKey
			c := p2pRegister(t, s, tc.term, "dev")
			for _, e := range []struct{ cmd, want string }{
				{"HELLO", "[FAIL:Unknown Command]"},
				{"FOO:bar", "[FAIL:Unknown Command]"},
				{":x", "[FAIL:Unknown Command]"},
				{"TCP:FOO:" + k + ":x", "[FAIL:Invalid Command]"},
				{"TCP:GOOGLESHEET:" + k + ":http://example.com/", "[FAIL:Invalid Command]"},
				{"TCP:PUSH:" + k + ":XYZ:d", "[FAIL:UNKNOWN_CMD]"},
				{"TCP:PUSH:" + k + ":FRIENDS", "[FAIL:Invalid Format]"},
				{"TCP:GID:WRONGKEY", "[FAIL:INVALID_KEY]"},
				{"TCP:PUSH:WRONGKEY:RID:DEV:x", "[FAIL:INVALID_KEY]"},
				{"TCP:GID", "[FAIL:INVALID_KEY]"},
				{"STCP:" + p2pUser + ":BOGUS", "[FAIL:INVALID_FORMAT]"},
				{"STCP:nobody@example.com:ACTIVATE", "[FAIL:INVALID_USERID]"},
				{"TCP:RETDATA:" + k + ":x", "[FAIL:FORMAT EXCEPTION!]"},
				{"tcp:gid:" + strings.ToLower(k), "[OK:DEV]"},
			} {
				c.expect(e.cmd, e.want)
			}
		})
	}
}

// TestP2PTime is TIME: zone, day, date and time at the offset, and the
// real Unix time; an offset no zone uses falls back to GMT.
func TestP2PTime(t *testing.T) {
	unix := strconv.FormatInt(p2pNow.Unix(), 10)
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			c := p2pRegister(t, s, tc.term, "clock")
			for _, e := range []struct{ off, want string }{
				{"+05:30", "[IST:(Thu)(3,12,2026)(13:21:07)(" + unix + ")]"},
				{"+00:00", "[GMT:(Thu)(3,12,2026)(07:51:07)(" + unix + ")]"},
				{"-05:00", "[EST:(Thu)(3,12,2026)(02:51:07)(" + unix + ")]"},
				{"+09:00", "[JST:(Thu)(3,12,2026)(16:51:07)(" + unix + ")]"},
				{"-10:00", "[HST:(Wed)(2,12,2026)(21:51:07)(" + unix + ")]"},
				{"+05:17", "[GMT:(Thu)(3,12,2026)(07:51:07)(" + unix + ")]"},
				{"bogus", "[GMT:(Thu)(3,12,2026)(07:51:07)(" + unix + ")]"},
			} {
				c.expect("TCP:TIME:"+p2pKey+":"+e.off, e.want)
			}
		})
	}
}

// TestP2PRetdata: RETDATA returns the connection's last pushes as the
// original: 0 all of them, each after '>'; n the n-th; past the end
// nothing. It keeps five.
func TestP2PRetdata(t *testing.T) {
	s := newP2PServer(t, nil)
	k := p2pKey
	c := p2pRegister(t, s, "", "src")
	sink := p2pRegister(t, s, "", "sink")
	for _, d := range []string{"d1", "d2", "d3", "d4", "d5", "d6"} {
		c.expect("TCP:PUSH:"+k+":RID:SINK:"+d, "[OK:DATA_SENT]")
		sink.expectRead("PUSH:" + d)
	}
	c.expect("TCP:RETDATA:"+k+":0", ">d2>d3>d4>d5>d6")
	c.expect("TCP:RETDATA:"+k+":1", "d2")
	c.expect("TCP:RETDATA:"+k+":5", "d6")
	c.write("TCP:RETDATA:" + k + ":6\r\n") // nothing
	c.expect("TCP:GID:"+k, "[OK:SRC]")     // comes next
}

// TestP2PSessionSTCP is the README's STCP session, started before TCP:ID
// with the account's user id: the account key never crosses the wire.
func TestP2PSessionSTCP(t *testing.T) {
	hexRnd := regexp.MustCompile(`^\[OK:([0-9A-F]{8})(?::([0-9A-F]{32}))?\]$`)
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			sink := p2pRegister(t, s, tc.term, "sink")
			c := p2pDial(t, s, tc.term)
			m := hexRnd.FindStringSubmatch(c.do("STCP:" + strings.ToUpper(p2pUser) + ":ACTIVATE:"))
			if m == nil || m[2] != "" {
				t.Fatalf("STCP ACTIVATE: got %v, want [OK:<8 hex>]", m)
			}
			skey := md5Upper(p2pKey + m[1])
			c.expect("TCP:ID:"+p2pKey+":dev", "[FAIL:INVALID_KEY]") // the account key is refused
			c.expect("TCP:ID:"+strings.ToLower(skey)+":dev", "[OK:DEV]")
			c.expect("TCP:PUSH:"+skey+":RID:sink:hi", "[OK:DATA_SENT]")
			sink.expectRead("PUSH:hi")
			// Server verification: the proof is MD5(KEY ‖ clientRnd).
			m = hexRnd.FindStringSubmatch(c.do("stcp:" + p2pUser + ":activate:12345678"))
			if m == nil || m[2] != md5Upper(p2pKey+"12345678") {
				t.Fatalf("STCP ACTIVATE with client random: got %v, want proof %s", m, md5Upper(p2pKey+"12345678"))
			}
			skey = md5Upper(p2pKey + m[1])
			c.expect("TCP:GID:"+skey, "[OK:DEV]")
			c.expect("STCP:"+p2pUser+":DEACTIVATE", "[OK:STCP_DEACTIVATED]")
			c.expect("TCP:GID:"+skey, "[FAIL:INVALID_KEY]")
			c.expect("TCP:GID:"+p2pKey, "[OK:DEV]")
		})
	}
}

// TestP2PSessionDSTCP is the DSTCP session: each command's key is
// MD5(KEY ‖ RND ‖ data), data as the original takes it (the first field
// after the key before TCP:ID, the second after).
func TestP2PSessionDSTCP(t *testing.T) {
	hexRnd := regexp.MustCompile(`^\[OK:([0-9A-F]{8})\]$`)
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			sink := p2pRegister(t, s, tc.term, "sink")
			c := p2pDial(t, s, tc.term)
			m := hexRnd.FindStringSubmatch(c.do("DSTCP:" + p2pUser + ":ACTIVATE"))
			if m == nil {
				t.Fatal("DSTCP ACTIVATE: no challenge")
			}
			rnd := m[1]
			pk := func(data string) string { return md5Upper(p2pKey + rnd + data) }
			c.expect("TCP:ID:"+pk("other")+":dev", "[FAIL:INVALID_KEY]")
			c.expect("TCP:ID:"+pk("dev")+":dev", "[OK:DEV]")
			c.expect("TCP:PUSH:"+pk("SINK")+":RID:SINK:hello", "[OK:DATA_SENT]")
			sink.expectRead("PUSH:hello")
			c.expect("TCP:PUSH:"+pk("SINK")+":RID:ELSE:hello", "[FAIL:INVALID_KEY]")
			c.expect("TCP:PUSH:"+pk("SINK")+":RID:SINK:hello", "[OK:DATA_SENT]") // the original's key: replayable on this connection
			sink.expectRead("PUSH:hello")
			c.expect("TCP:GID:"+pk(""), "[OK:DEV]")
			c.expect("DSTCP:"+p2pUser+":DEACTIVATE", "[OK:DSTCP_DEACTIVATED]")
			c.expect("TCP:GID:"+p2pKey, "[OK:DEV]")
		})
	}
}

// TestP2PSessionHMAC: coconet's HMAC-SHA256 sessions in this dialect,
// after TCP:ID and named by the connection's id.
func TestP2PSessionHMAC(t *testing.T) {
	s := newP2PServer(t, nil)
	c := p2pRegister(t, s, "\r\n", "dev")
	rep := c.do("STCP256:dev:ACTIVATE:c0ffee")
	m := regexp.MustCompile(`^\[OK:([0-9a-f]{32}):([0-9a-f]{64})\]$`).FindStringSubmatch(rep)
	if m == nil {
		t.Fatalf("STCP256 ACTIVATE = %q", rep)
	}
	if want := Proof(ModeHMACSHA256, p2pKey, "c0ffee", m[1]); m[2] != want {
		t.Fatalf("proof %s, want %s", m[2], want)
	}
	c.expect("TCP:GID:"+p2pKey, "[FAIL:INVALID_KEY]")
	c.expect("TCP:GID:"+SessionKey(ModeHMACSHA256, p2pKey, m[1]), "[OK:DEV]")
	// A stranger cannot use the HMAC forms before TCP:ID.
	p2pDial(t, s, "").expect("STCP256:"+p2pUser+":ACTIVATE:c0ffee", "[FAIL:INVALID_USERID]")
}

// TestP2PRaw is the transparent channel: TCP:PUSH:<key>:RAW:<id> →
// [OK:LINK_SYNC], the other side gets PUSHRAW:, asks back, and bytes flow
// unchanged both ways; bytes the first sends before the other asks back
// wait for it.
func TestP2PRaw(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, nil)
			k := p2pKey
			a := p2pRegister(t, s, tc.term, "cam")
			b := p2pRegister(t, s, tc.term, "viewer")
			a.expect("TCP:PUSH:"+k+":RAW:nobody", "[FAIL:REM_ID]")
			a.expect("TCP:PUSH:"+k+":RAW:viewer", "[OK:LINK_SYNC]")
			b.expectRead("PUSHRAW:")
			a.write("early\x00bytes\n")
			b.expect("TCP:PUSH:"+k+":RAW:CAM", "[OK:LINK_SYNC]")
			b.expectRead("early\x00bytes\n")
			frame := "TCP:ID:not a command\r\n\xff\x00"
			b.write(frame)
			a.expectRead(frame)
			a.write(frame)
			b.expectRead(frame)
		})
	}
}

// TestP2PFraming: two commands in one segment, one command split over two
// segments, with and without a terminator.
func TestP2PFraming(t *testing.T) {
	k := p2pKey
	t.Run("coalesced", func(t *testing.T) {
		s := newP2PServer(t, nil)
		c := p2pDial(t, s, "")
		c.write("TCP:ID:" + k + ":one\r\nTCP:GID:" + k + "\nTCP:TIME:" + k + ":+05:30")
		c.expectRead("[OK:ONE][OK:ONE][IST:(Thu)(3,12,2026)(13:21:07)(" + strconv.FormatInt(p2pNow.Unix(), 10) + ")]")
	})
	t.Run("split-terminated", func(t *testing.T) {
		// A long pause: only the terminator can end the command.
		s := newP2PServer(t, func(s *Server) { s.ReadPause = time.Hour })
		c := p2pDial(t, s, "")
		c.write("TCP:ID:" + k[:10])
		c.write(k[10:] + ":tw")
		c.write("o\r\n")
		c.expectRead("[OK:TWO]")
	})
	t.Run("split-unterminated", func(t *testing.T) {
		// The pause is long beside the gap between the two writes; a
		// slower machine at worst sees the first part refused.
		s := newP2PServer(t, func(s *Server) { s.ReadPause = time.Second })
		c := p2pDial(t, s, "")
		c.write("TCP:ID:" + k[:10])
		time.Sleep(20 * time.Millisecond)
		c.write(k[10:] + ":three")
		c.expectRead("[OK:THREE]")
	})
	t.Run("lf-only", func(t *testing.T) {
		// The original registers "ID\n" for an LF-only line.
		s := newP2PServer(t, nil)
		c := p2pDial(t, s, "\n")
		c.expect("TCP:ID:"+k+":four", "[OK:FOUR]")
		c.expect("TCP:GID:"+k, "[OK:FOUR]")
	})
}

// TestP2PSync: a silent registered device is not dropped; it gets
// [SYNC:dd.MM.yyyy_HH:mm:ss]. A connection that never sends a valid key
// is closed.
func TestP2PSync(t *testing.T) {
	s := newP2PServer(t, func(s *Server) {
		s.SyncEvery = 50 * time.Millisecond
		s.AuthTimeout = 100 * time.Millisecond
	})
	c := p2pRegister(t, s, "", "quiet")
	c.expectRead("[SYNC:03.12.2026_07:51:07]")
	c.expectRead("[SYNC:03.12.2026_07:51:07]")
	c.expect("TCP:GID:"+p2pKey, "[OK:QUIET]")
	p2pDial(t, s, "").expectEOF()
}

// TestP2PTLS: a TLS ClientHello gets "HTTP/1.1 403 SSL Required".
func TestP2PTLS(t *testing.T) {
	s := newP2PServer(t, nil)
	c := p2pDial(t, s, "")
	c.write("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")
	c.expectRead("HTTP/1.1 403 SSL Required\n")
	c.expectEOF()
}

// TestP2PDialectCoconet: the coconet dialect is unchanged on the same
// server code: newline-framed replies and coconet reasons.
func TestP2PDialectCoconet(t *testing.T) {
	s := newServer(t, nil)
	c := dial(t, s)
	c.expect("TCP:ID:"+key1+":abc", "[OK:abc]")
	c.expect("TCP:GID:WRONG", "[FAIL:KEY]")
	if d, err := ParseDialect("P2Pcluster"); err != nil || d != DialectP2Pcluster {
		t.Fatalf("ParseDialect = %v, %v", d, err)
	}
	if _, err := ParseDialect("mqtt"); err == nil {
		t.Fatal("ParseDialect(mqtt): no error")
	}
}

// TestP2PAttackStranger: a connection without a valid key cannot
// register, push or receive, and after maxKeyFails wrong keys it is closed.
func TestP2PAttackStranger(t *testing.T) {
	s := newP2PServer(t, nil)
	victim := p2pRegister(t, s, "", "victim")
	c := p2pDial(t, s, "")
	for i := 0; i < maxKeyFails; i++ {
		c.expect("TCP:ID:"+strings.Repeat("0", 32)+":victim", "[FAIL:INVALID_KEY]")
	}
	c.write("TCP:PUSH:00:RID:VICTIM:x")
	c.expectRead("[FAIL:INVALID_KEY]")
	c.expectEOF()
	victim.expect("TCP:GID:"+p2pKey, "[OK:VICTIM]")
}

// TestP2PAttackCaseTakeover: ids are case-insensitive, so another
// connection of the account cannot take an id by changing its case, and
// pushes to any spelling reach the first.
func TestP2PAttackCaseTakeover(t *testing.T) {
	dir := &MemDirectory{}
	dir.SetParent(p2pUser, "Door", "")
	s := newP2PServer(t, func(s *Server) { s.Dir = dir })
	victim := p2pRegister(t, s, "", "door")
	for _, id := range []string{"DOOR", "Door", "dOOr"} {
		a := p2pDial(t, s, "")
		a.expect("TCP:ID:"+p2pKey+":"+id, "[FAIL:NODEEXIST]")
		a.expectEOF()
	}
	gate := p2pRegister(t, s, "", "gate") // not in the directory
	for _, id := range []string{"GATE", "Gate"} {
		a := p2pDial(t, s, "")
		a.expect("TCP:ID:"+p2pKey+":"+id, "[FAIL:NODEEXIST]")
		a.expectEOF()
	}
	src := p2pRegister(t, s, "", "src")
	for _, id := range []string{"DOOR", "door", "Door"} {
		src.expect("TCP:PUSH:"+p2pKey+":RID:"+id+":open", "[OK:DATA_SENT]")
		victim.expectRead("PUSH:open")
	}
	for _, id := range []string{"GATE", "gate", "gAte"} {
		src.expect("TCP:PUSH:"+p2pKey+":RID:"+id+":open", "[OK:DATA_SENT]")
		gate.expectRead("PUSH:open")
	}
}

// TestP2PAttackProofOracle: the original's proof MD5(KEY ‖ clientRnd),
// offered before TCP:ID, would give a stranger who knows only the user id
// the session key of another connection (ask the proof of its
// challenge). Such client randoms are refused.
func TestP2PAttackProofOracle(t *testing.T) {
	s := newP2PServer(t, nil)
	a := p2pDial(t, s, "")
	m := regexp.MustCompile(`^\[OK:([0-9A-F]{8})\]$`).FindStringSubmatch(a.do("STCP:" + p2pUser + ":ACTIVATE"))
	if m == nil {
		t.Fatal("no challenge")
	}
	for _, proto := range []string{"STCP", "DSTCP"} {
		for _, rnd := range []string{m[1], m[1] + "X", m[1] + "dev"} {
			b := p2pDial(t, s, "")
			rep := b.do(proto + ":" + p2pUser + ":ACTIVATE:" + rnd)
			if rep != "[FAIL:CLIENT_RND]" {
				// Whatever came, it must not open a's session.
				if i := strings.LastIndexByte(rep, ':'); i > 0 {
					a.expect("TCP:ID:"+rep[i+1:len(rep)-1]+":stolen", "[FAIL:INVALID_KEY]")
				}
				t.Fatalf("%s ACTIVATE:%s = %q, want [FAIL:CLIENT_RND]", proto, rnd, rep)
			}
		}
	}
	a.expect("TCP:ID:"+md5Upper(p2pKey+m[1])+":mine", "[OK:MINE]") // the key holder still can
}

// TestP2PAttackFlood: a device that floods commands without reading its
// replies holds one bounded queue; other devices go on, and the flooder
// gets every reply in order once it reads.
func TestP2PAttackFlood(t *testing.T) {
	s := newP2PServer(t, nil)
	k := p2pKey
	flood := p2pRegister(t, s, "\r\n", "flood")
	other := p2pRegister(t, s, "\r\n", "other")
	sink := p2pRegister(t, s, "\r\n", "sink")
	const n = 20000
	cmd := []byte("TCP:GID:" + k + "\r\n")
	done := make(chan error, 1)
	go func() {
		_, err := flood.nc.Write(bytes.Repeat(cmd, n))
		done <- err
	}()
	for i := 0; i < 20; i++ {
		other.expect("TCP:PUSH:"+k+":RID:SINK:x", "[OK:DATA_SENT]")
		sink.expectRead("PUSH:x")
	}
	want := strings.Repeat("[OK:FLOOD]", n)
	if got := flood.readN(len(want)); got != want {
		t.Fatal("flood: replies out of order or wrong")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestP2PAttackOversized: a command longer than MaxLine, with or without
// a terminator, gets [FAIL:TOO_LONG] and the connection closes.
func TestP2PAttackOversized(t *testing.T) {
	for _, tc := range terms {
		t.Run(tc.name, func(t *testing.T) {
			s := newP2PServer(t, func(s *Server) { s.MaxLine = 512 })
			c := p2pRegister(t, s, tc.term, "big")
			c.write("TCP:PUSH:" + p2pKey + ":RID:BIG:" + strings.Repeat("x", 2000) + tc.term)
			c.expectRead("[FAIL:TOO_LONG]")
			c.expectEOF()
		})
	}
}

// smtpServer is a minimal SMTP server for the EMAIL test: it takes one
// message at a time and hands it to msgs.
func smtpServer(t *testing.T, tlsCfg *tls.Config) (addr string, msgs <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 4)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			serveSMTP(nc, ch, tlsCfg)
		}
	}()
	return ln.Addr().String(), ch
}

func serveSMTP(nc net.Conn, ch chan<- string, tlsCfg *tls.Config) {
	defer func() { nc.Close() }()
	nc.SetDeadline(time.Now().Add(20 * time.Second))
	r := io.Reader(nc)
	buf := make([]byte, 0, 4096)
	readLine := func() (string, bool) {
		for {
			if i := bytes.Index(buf, []byte("\r\n")); i >= 0 {
				l := string(buf[:i])
				buf = buf[i+2:]
				return l, true
			}
			tmp := make([]byte, 1024)
			m, err := r.Read(tmp)
			if err != nil {
				return "", false
			}
			buf = append(buf, tmp[:m]...)
		}
	}
	io.WriteString(nc, "220 test ESMTP\r\n")
	var env []string
	for {
		l, ok := readLine()
		if !ok {
			return
		}
		switch verb := strings.ToUpper(strings.SplitN(l, " ", 2)[0]); verb {
		case "EHLO", "HELO":
			if _, isTLS := nc.(*tls.Conn); tlsCfg != nil && !isTLS {
				io.WriteString(nc, "250-test\r\n250 STARTTLS\r\n")
			} else if tlsCfg != nil {
				io.WriteString(nc, "250-test\r\n250 AUTH PLAIN\r\n")
			} else {
				io.WriteString(nc, "250 test\r\n")
			}
		case "STARTTLS":
			io.WriteString(nc, "220 go ahead\r\n")
			tc := tls.Server(nc, tlsCfg)
			if tc.Handshake() != nil {
				return
			}
			nc, r, buf = tc, tc, buf[:0]
			env = append(env, "TLS")
		case "AUTH":
			env = append(env, l)
			io.WriteString(nc, "235 ok\r\n")
		case "MAIL", "RCPT":
			env = append(env, l)
			io.WriteString(nc, "250 ok\r\n")
		case "DATA":
			io.WriteString(nc, "354 go\r\n")
			var body []string
			for {
				l, ok := readLine()
				if !ok {
					return
				}
				if l == "." {
					break
				}
				body = append(body, l)
			}
			ch <- strings.Join(env, "\n") + "\n\n" + strings.Join(body, "\n")
			io.WriteString(nc, "250 queued\r\n")
		case "QUIT":
			io.WriteString(nc, "221 bye\r\n")
			return
		default:
			io.WriteString(nc, "502 no\r\n")
		}
	}
}

// TestP2PEmail: TCP:EMAIL sends through the configured SMTP server, and
// an account's mails are rate-limited.
func TestP2PEmail(t *testing.T) {
	addr, msgs := smtpServer(t, nil)
	s := newP2PServer(t, func(s *Server) {
		s.Mail = &Mailer{Addr: addr, From: "push@example.net", PerHour: 1}
	})
	c := p2pRegister(t, s, "\r\n", "mailer")
	k := p2pKey
	c.expect("TCP:EMAIL:"+k+":bob@example.com:Door:The door is open: come home", "[OK:MAIL_SENT]")
	got := <-msgs
	for _, want := range []string{"MAIL FROM:<push@example.net>", "RCPT TO:<bob@example.com>", "Subject: Door", "The door is open: come home"} {
		if !strings.Contains(got, want) {
			t.Errorf("mail lacks %q:\n%s", want, got)
		}
	}
	c.expect("TCP:EMAIL:"+k+":bob@example.com:Again:x", "[FAIL:MAIL_LIMIT]")
	c.expect("TCP:EMAIL:"+k+":nobody:x:y", "[FAIL:INVALID ID]")
	c.expect("TCP:EMAIL:"+k+":bob@example.com", "[FAIL:INVAILD_FORMAT]")
	c.expect("TCP:EMAIL:"+k+":a@b.c>RCPT TO:<evil@x.y:s:m", "[FAIL:INVALID ID]")
}

// TestP2PReconnect: a device that closes its connection and registers
// again at once (a reboot) gets its id back, even before the server's
// reader has seen the old connection end; a live one keeps it.
func TestP2PReconnect(t *testing.T) {
	s := newP2PServer(t, nil)
	src := p2pRegister(t, s, "", "src")
	for i := 0; i < 50; i++ {
		c := p2pRegister(t, s, "\r\n", "boot")
		c.nc.Close()
	}
	c := p2pRegister(t, s, "\r\n", "boot")
	src.expect("TCP:PUSH:"+p2pKey+":RID:BOOT:up", "[OK:DATA_SENT]")
	c.expectRead("PUSH:up")
	other := p2pDial(t, s, "")
	other.expect("TCP:ID:"+p2pKey+":boot", "[FAIL:NODEEXIST]")
}

// TestP2PEmailSTARTTLS: the mailer upgrades to TLS when the SMTP server
// offers STARTTLS, and authenticates over it.
func TestP2PEmailSTARTTLS(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	addr, msgs := smtpServer(t, &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}})
	s := newP2PServer(t, func(s *Server) {
		s.Mail = &Mailer{Addr: addr, From: "push@example.net", User: "push", Password: "secret",
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	})
	c := p2pRegister(t, s, "", "mailer")
	c.expect("TCP:EMAIL:"+p2pKey+":bob@example.com:Door:open", "[OK:MAIL_SENT]")
	got := <-msgs
	auth := "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00push\x00secret"))
	for _, want := range []string{"TLS\n" + auth, "RCPT TO:<bob@example.com>", "Subject: Door"} {
		if !strings.Contains(got, want) {
			t.Errorf("mail lacks %q:\n%s", want, got)
		}
	}
}
