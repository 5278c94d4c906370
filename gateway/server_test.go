package gateway

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coconet/coconet/internal/nettest"
)

func TestMain(m *testing.M) { nettest.VerifyNoLeaks(m) }

const (
	key1 = "11FE313037C5327CD35BAC6C8D66867F" // account acct1
	key2 = "KEY2"                             // account acct2
)

// newServer starts a server on loopback with two accounts until the test ends.
func newServer(t *testing.T, edit func(*Server)) *Server {
	t.Helper()
	keys := &MemKeyStore{}
	keys.Add(key1, "acct1")
	keys.Add(key2, "acct2")
	s := &Server{Listen: "127.0.0.1:0", Keys: keys, Dir: &MemDirectory{}, Logf: t.Logf}
	if edit != nil {
		edit(s)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type client struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dial(t *testing.T, s *Server) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *client) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.nc, line+"\n"); err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// read returns the next line the server sent, without "\n". The deadline
// only keeps a broken test from hanging.
func (c *client) read() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

// do sends line and returns the reply.
func (c *client) do(line string) string {
	c.t.Helper()
	c.send(line)
	return c.read()
}

func (c *client) expect(line, want string) {
	c.t.Helper()
	if got := c.do(line); got != want {
		c.t.Fatalf("%s = %s, want %s", line, got, want)
	}
}

func (c *client) expectRead(want string) {
	c.t.Helper()
	if got := c.read(); got != want {
		c.t.Fatalf("read = %q, want %q", got, want)
	}
}

// expectEOF waits until the server closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(c.r)
	if err != nil {
		c.t.Fatalf("read until close: %v (got %q)", err, rest)
	}
	if len(rest) > 0 {
		c.t.Fatalf("before close got %q, want nothing", rest)
	}
}

// register connects a client as id of key1's account.
func register(t *testing.T, s *Server, id string) *client {
	t.Helper()
	c := dial(t, s)
	c.expect("TCP:ID:"+key1+":"+id, "[OK:"+id+"]")
	return c
}

// quiet checks that nothing is queued for c: the reply to a GID comes next.
func (c *client) quiet(id string) {
	c.t.Helper()
	c.expect("TCP:GID:"+key1, "[OK:"+id+"]")
}

func TestRegister(t *testing.T) {
	s := newServer(t, nil)
	c := dial(t, s)
	c.expect("TCP:GID:"+key1, "[FAIL:NOID]")
	c.expect("TCP:ID:"+key1+":123", "[OK:123]")
	c.expect("TCP:GID:"+key1, "[OK:123]")
	c.expect("TCP:GID:"+key2, "[FAIL:NOID]") // another account
	c.expect("TCP:GID:WRONG", "[FAIL:KEY]")
	c.expect("TCP:ID:WRONG:124", "[FAIL:KEY]")
	c.expect("TCP:ID:"+key1+":124", "[OK:124]") // renames the connection
	c.expect("TCP:GID:"+key1, "[OK:124]")
	c.expect("TCP:REMID:"+key1, "[OK:124]")
	c.expect("TCP:GID:"+key1, "[FAIL:NOID]")
	c.expect("TCP:REMID:"+key1, "[FAIL:NOID]")
}

func TestPushRID(t *testing.T) {
	s := newServer(t, nil)
	a, b := register(t, s, "123"), register(t, s, "1234")
	other := dial(t, s)
	other.expect("TCP:ID:"+key2+":1234", "[OK:1234]") // same id, other account
	a.expect("TCP:PUSH:"+key1+":RID:1234:Hello:1234", "[OK:1]")
	b.expectRead("PUSH:Hello:1234")
	b.expect("TCP:PUSH:"+key1+":RID:123:", "[OK:1]")
	a.expectRead("PUSH:")
	a.expect("TCP:PUSH:"+key1+":RID:999:x", "[FAIL:OFFLINE]")
	a.expect("TCP:PUSH:WRONG:RID:1234:x", "[FAIL:KEY]")
	// A sender needs no id for RID.
	anon := dial(t, s)
	anon.expect("TCP:PUSH:"+key1+":RID:1234:anon\r", "[OK:1]") // a "\r\n" line
	b.expectRead("PUSH:anon")
	b.quiet("1234")
	other.expect("TCP:GID:"+key2, "[OK:1234]")
}

func TestNewestConnectionWins(t *testing.T) {
	s := newServer(t, nil)
	old := register(t, s, "dev")
	dev := register(t, s, "dev")
	old.expect("TCP:GID:"+key1, "[FAIL:NOID]")
	a := register(t, s, "a")
	a.expect("TCP:PUSH:"+key1+":RID:dev:hi", "[OK:1]")
	dev.expectRead("PUSH:hi")
	old.expect("TCP:ID:"+key1+":old", "[OK:old]") // the old connection still works
}

func TestAliasSurvivesReplacingADevice(t *testing.T) {
	dir := &MemDirectory{}
	dir.SetAlias("acct1", "MY-FRIEND", "lamp1")
	s := newServer(t, func(s *Server) { s.Dir = dir })
	a := register(t, s, "a")
	lamp1 := register(t, s, "lamp1")
	a.expect("TCP:PUSH:"+key1+":RID:MY-FRIEND:off", "[OK:1]")
	lamp1.expectRead("PUSH:off")
	lamp1.nc.Close() // the device breaks; an admin points the alias to its replacement
	lamp2 := register(t, s, "lamp2")
	dir.SetAlias("acct1", "MY-FRIEND", "lamp2")
	a.expect("TCP:PUSH:"+key1+":RID:MY-FRIEND:off", "[OK:1]")
	lamp2.expectRead("PUSH:off")
}

func TestGroups(t *testing.T) {
	// r ─┬─ a ─┬─ a1 ── a11
	//    │     └─ a2
	//    └─ b
	// r2 (another root), x (outside the tree)
	dir := &MemDirectory{}
	for _, e := range [][2]string{{"r", ""}, {"a", "r"}, {"b", "r"}, {"a1", "a"}, {"a2", "a"}, {"a11", "a1"}, {"r2", ""}} {
		if err := dir.SetParent("acct1", e[0], e[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := dir.SetParent("acct1", "r", "a11"); err == nil {
		t.Fatal("SetParent(r under a11) = nil, want a cycle error")
	}
	s := newServer(t, func(s *Server) { s.Dir = dir })
	ids := []string{"r", "a", "b", "a1", "a2", "a11", "r2", "x"}
	c := map[string]*client{}
	for _, id := range ids {
		c[id] = register(t, s, id)
	}
	tests := []struct {
		from, group string
		want        []string // receivers
	}{
		{"a", "FRIENDS", []string{"b"}},
		{"a1", "FRIENDS", []string{"a2"}},
		{"r", "FRIENDS", []string{"r2", "x"}},
		{"x", "FRIENDS", []string{"r", "r2"}},
		{"a", "CHILDS", []string{"a1", "a2"}},
		{"b", "CHILDS", nil},
		{"a", "ALLCHILDS", []string{"a1", "a2", "a11"}},
		{"r", "ALLCHILDS", []string{"a", "b", "a1", "a2", "a11"}},
		{"a11", "PARENT", []string{"a1"}},
		{"a", "PARENT", []string{"r"}},
	}
	for _, tt := range tests {
		data := tt.from + "-" + tt.group
		c[tt.from].expect("TCP:PUSH:"+key1+":"+tt.group+":"+data, "[OK:"+itoa(len(tt.want))+"]")
		for _, id := range tt.want {
			c[id].expectRead("PUSH:" + data)
		}
		for _, id := range ids {
			c[id].quiet(id) // nobody else got it
		}
	}
	c["r"].expect("TCP:PUSH:"+key1+":PARENT:x", "[FAIL:NOPARENT]")
	anon := dial(t, s)
	anon.expect("TCP:PUSH:"+key1+":CHILDS:x", "[FAIL:NOID]")
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestRouter(t *testing.T) {
	dir := &MemDirectory{}
	dir.AddRouter("acct1", "hall")
	dir.SetAlias("acct1", "door", "d1")
	for _, id := range []string{"l1", "l2", "door"} {
		if err := dir.Attach("acct1", "hall", id); err != nil {
			t.Fatal(err)
		}
	}
	if err := dir.Attach("acct1", "nope", "l1"); err == nil {
		t.Fatal("Attach(unknown router) = nil, want error")
	}
	s := newServer(t, func(s *Server) { s.Dir = dir })
	a := register(t, s, "a")
	l1, l2, d1 := register(t, s, "l1"), register(t, s, "l2"), register(t, s, "d1")
	a.expect("TCP:PUSH:"+key1+":RO:hall:on", "[OK:3]")
	l1.expectRead("PUSH:on")
	l2.expectRead("PUSH:on")
	d1.expectRead("PUSH:on")
	a.expect("TCP:PUSH:"+key1+":RO:nope:on", "[FAIL:NOROUTER]")
	a.quiet("a")
}

type recordingForwarder struct {
	mu     sync.Mutex
	pushes []Push
	err    error
}

func (f *recordingForwarder) Forward(ctx context.Context, p Push) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes = append(f.pushes, p)
	if f.err != nil {
		return 0, f.err
	}
	return len(p.To), nil
}

func TestForwarder(t *testing.T) {
	dir := &MemDirectory{}
	dir.SetParent("acct1", "a", "")
	dir.SetParent("acct1", "far1", "a")
	dir.SetParent("acct1", "near", "a")
	fw := &recordingForwarder{}
	s := newServer(t, func(s *Server) { s.Dir = dir; s.Forward = fw })
	a, near := register(t, s, "a"), register(t, s, "near")
	a.expect("TCP:PUSH:"+key1+":RID:far2:hi", "[OK:1]")
	a.expect("TCP:PUSH:"+key1+":CHILDS:all", "[OK:2]")
	near.expectRead("PUSH:all")
	want := []Push{
		{Account: "acct1", From: "a", To: []string{"far2"}, Data: []byte("hi")},
		{Account: "acct1", From: "a", To: []string{"far1"}, Data: []byte("all")},
	}
	fw.mu.Lock()
	got := fw.pushes
	fw.err = ErrOffline
	fw.mu.Unlock()
	if len(got) != len(want) {
		t.Fatalf("Forward calls = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Account != want[i].Account || got[i].From != want[i].From ||
			strings.Join(got[i].To, ",") != strings.Join(want[i].To, ",") || !bytes.Equal(got[i].Data, want[i].Data) {
			t.Errorf("Forward call %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	a.expect("TCP:PUSH:"+key1+":RID:far2:hi", "[FAIL:OFFLINE]")
	// What the bridge delivers from afar.
	if n := s.Deliver("acct1", []string{"near", "gone"}, []byte("from afar")); n != 1 {
		t.Errorf("Deliver = %d, want 1", n)
	}
	near.expectRead("PUSH:from afar")
}

func TestTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 7, 0, 0, 0, time.UTC)
	s := newServer(t, func(s *Server) { s.Now = func() time.Time { return now } })
	c := dial(t, s)
	for _, tt := range []struct{ off, want string }{
		{"+00:00", "[OK:2026-03-01 07:00:00:1772348400]"},
		{"+05:30", "[OK:2026-03-01 12:30:00:1772368200]"},
		{"-08:00", "[OK:2026-02-28 23:00:00:1772319600]"},
	} {
		c.expect("TCP:TIME:"+key1+":"+tt.off, tt.want)
	}
	c.expect("TCP:TIME:"+key1+":+5:30", "[FAIL:FIELDS]")
	c.expect("TCP:TIME:WRONG:+05:30", "[FAIL:KEY]")
}

// activate starts a session of proto on c (registered as id) with a client
// random, checks the server's proof, and returns the server random.
func activate(t *testing.T, c *client, proto, id string) string {
	t.Helper()
	reply := c.do(proto + ":" + id + ":ACTIVATE:c0ffee")
	rnd, proof, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(reply, "[OK:"), "]"), ":")
	if !ok || len(rnd) != 32 {
		t.Fatalf("%s ACTIVATE = %s, want [OK:<rnd>:<proof>]", proto, reply)
	}
	mode, _ := modeOf(proto)
	if want := Proof(mode, key1, "c0ffee", rnd); proof != want {
		t.Fatalf("%s proof = %s, want %s", proto, proof, want)
	}
	return rnd
}

func TestSessionKeys(t *testing.T) {
	for _, proto := range []string{ProtoSTCP, ProtoSTCP256, ProtoDSTCP, ProtoDSTCP256} {
		t.Run(proto, func(t *testing.T) {
			s := newServer(t, nil)
			a, b := register(t, s, "a"), register(t, s, "b")
			mode, perPacket := modeOf(proto)
			rnd := activate(t, a, proto, "a")
			line := func(rest string) string { // "TCP:PUSH:<k>:" + rest with the right key
				k := SessionKey(mode, key1, rnd)
				if perPacket {
					k = PacketKey(mode, key1, rnd, []byte(rest))
				}
				return "TCP:PUSH:" + k + ":" + rest
			}
			a.expect("TCP:PUSH:"+key1+":RID:b:plain", "[FAIL:KEY]") // the account key is replaced
			captured := line("RID:b:secret")
			a.expect(captured, "[OK:1]")
			b.expectRead("PUSH:secret")
			upper := line("RID:b:UPPER")
			k := strings.Split(upper, ":")[2]
			a.expect(strings.Replace(upper, k, strings.ToUpper(k), 1), "[OK:1]") // hex in any case
			b.expectRead("PUSH:UPPER")
			if perPacket {
				// The packet key seals the data: changing it breaks the key.
				a.expect(strings.Replace(captured, "secret", "altered", 1), "[FAIL:KEY]")
			}
			// Replayed on another connection, with or without a session.
			eve := register(t, s, "eve")
			eve.expect(captured, "[FAIL:KEY]")
			activate(t, eve, proto, "eve")
			eve.expect(captured, "[FAIL:KEY]")
			fresh := dial(t, s)
			fresh.expect(captured, "[FAIL:KEY]")
			b.quiet("b")
			// Only the connection's own id may activate.
			a.expect(proto+":b:ACTIVATE", "[FAIL:NOID]")
			fresh.expect(proto+":x:ACTIVATE", "[FAIL:NOID]")
			// Without a client random there is no proof.
			if r := a.do(proto + ":a:ACTIVATE"); len(r) != len("[OK:]")+32 {
				t.Fatalf("%s ACTIVATE = %s, want [OK:<rnd>]", proto, r)
			}
			a.expect(captured, "[FAIL:KEY]") // a new activation has a new random
			a.expect(proto+":a:DEACTIVATE", "[OK:a]")
			a.expect(proto+":a:DEACTIVATE", "[FAIL:SESSION]")
			a.expect("TCP:PUSH:"+key1+":RID:b:plain", "[OK:1]")
			b.expectRead("PUSH:plain")
		})
	}
}

func TestSessionEndsWhenKeyRevoked(t *testing.T) {
	keys := &MemKeyStore{}
	keys.Add(key1, "acct1")
	s := newServer(t, func(s *Server) { s.Keys = keys })
	a := register(t, s, "a")
	rnd := activate(t, a, ProtoSTCP256, "a")
	sk := SessionKey(ModeHMACSHA256, key1, rnd)
	a.expect("TCP:GID:"+sk, "[OK:a]")
	keys.Remove(key1)
	a.expect("TCP:GID:"+sk, "[FAIL:KEY]")
}

func TestBadInput(t *testing.T) {
	s := newServer(t, func(s *Server) { s.MaxLine = 512 })
	a, b := register(t, s, "a"), register(t, s, "b")
	junk := make([]byte, 300)
	rand.Read(junk)
	junk = bytes.ReplaceAll(junk, []byte{'\n'}, []byte{0})
	junk = bytes.ReplaceAll(junk, []byte{'\r'}, []byte{0})
	c := register(t, s, "c")
	for _, tt := range []struct{ line, want string }{
		{"HELLO", "[FAIL:UNKNOWN]"},
		{"TCP:FLY:" + key1 + ":x", "[FAIL:UNKNOWN]"},
		{"TCP:ID:" + key1, "[FAIL:FIELDS]"},
		{"TCP:PUSH:" + key1 + ":RID:b", "[FAIL:FIELDS]"},
		{"TCP:PUSH:" + key1 + ":RID:b c:x", "[FAIL:FIELDS]"},
		{"TCP:PUSH:WRONGKEY:RID:b:x", "[FAIL:KEY]"},
		{"TCP:GID", "[FAIL:FIELDS]"},
		{"TCP:ID:" + key1 + ":", "[FAIL:FIELDS]"},
		{"TCP:PUSH:" + key1, "[FAIL:FIELDS]"},
		{"TCP:PUSH:" + key1 + ":RID", "[FAIL:FIELDS]"},
		{"TCP:PUSH:" + key1 + ":FLY:x", "[FAIL:FIELDS]"},
		{"TCP:TIME:" + key1, "[FAIL:FIELDS]"},
		{"TCP:TIME:" + key1 + ":+15:00", "[FAIL:FIELDS]"},
		{"TCP:GID:" + key1 + ":extra", "[FAIL:FIELDS]"},
		{"STCP:c", "[FAIL:FIELDS]"},
		{"STCP:c:ACTIVATE:not hex", "[FAIL:FIELDS]"},
		{"STCP:b:ACTIVATE", "[FAIL:NOID]"}, // not this connection's id
		{"STCP:c:DEACTIVATE", "[FAIL:SESSION]"},
		{":::", "[FAIL:UNKNOWN]"},
		{"TCP:ID:" + key2 + "x:b", "[FAIL:KEY]"},
		{string(junk), "[FAIL:UNKNOWN]"},
		{"TCP:" + string(junk), "[FAIL:UNKNOWN]"},
	} {
		c.expect(tt.line, tt.want)
		a.expect("TCP:PUSH:"+key1+":RID:b:still", "[OK:1]") // others undisturbed
		b.expectRead("PUSH:still")
	}
	c.expect("TCP:PUSH:"+key1+":RID:b:"+string(junk[:100]), "[OK:1]") // binary data is data
	b.expectRead("PUSH:" + string(junk[:100]))
	c.quiet("c")

	// An oversized line closes only its own connection.
	long := dial(t, s)
	long.send("TCP:PUSH:" + key1 + ":RID:b:" + strings.Repeat("x", 600))
	long.expectRead("[FAIL:TOOLONG]")
	long.expectEOF()
	junky := dial(t, s)
	junky.nc.Write(bytes.Repeat(junk, 4)) // no newline at all
	junky.expectRead("[FAIL:TOOLONG]")
	junky.expectEOF()
	a.expect("TCP:PUSH:"+key1+":RID:b:after", "[OK:1]")
	b.expectRead("PUSH:after")
	// A line of exactly MaxLine bytes is fine.
	ok := "TCP:PUSH:" + key1 + ":RID:b:"
	ok += strings.Repeat("y", 512-len(ok))
	a.expect(ok, "[OK:1]")
	b.expectRead("PUSH:" + strings.Repeat("y", 512-len("TCP:PUSH:"+key1+":RID:b:")))
}

// A client that sends one byte now and then never completes a line: it is
// closed after IdleTimeout while a busy neighbour keeps being served.
func TestSlowClient(t *testing.T) {
	s := newServer(t, func(s *Server) { s.IdleTimeout = time.Second })
	a := register(t, s, "a")
	slow := dial(t, s)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for _, ch := range []byte("TCP:ID:" + key1 + ":slow") {
			if _, err := slow.nc.Write([]byte{ch}); err != nil {
				return
			}
			select { // the attack's pace, not synchronisation
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	type result struct {
		b   []byte
		err error
	}
	eof := make(chan result, 1)
	go func() { b, err := io.ReadAll(slow.nc); eof <- result{b, err} }()
	for served := 0; ; served++ {
		a.expect("TCP:GID:"+key1, "[OK:a]")
		select {
		case r := <-eof:
			close(stop)
			wg.Wait()
			if r.err != nil || len(r.b) > 0 {
				t.Fatalf("slow client read %q, %v; want a plain close", r.b, r.err)
			}
			t.Logf("served %d requests while the slow client dribbled", served)
			return
		default:
		}
	}
}

// A receiver that stops reading fills its queue: pushes to it fail with
// BUSY, and neither the sender nor anybody else waits for it.
func TestStuckReceiver(t *testing.T) {
	s := newServer(t, nil)
	a, b := register(t, s, "a"), register(t, s, "b")
	stuck := register(t, s, "stuck")
	stuck.nc.(*net.TCPConn).SetReadBuffer(4096)
	data := strings.Repeat("z", 3000)
	for i := 0; ; i++ {
		r := a.do("TCP:PUSH:" + key1 + ":RID:stuck:" + data)
		if r == "[FAIL:BUSY]" {
			t.Logf("BUSY after %d pushes", i)
			break
		}
		if r != "[OK:1]" || i > 100000 {
			t.Fatalf("push %d to a stuck receiver = %s, want [OK:1] until [FAIL:BUSY]", i, r)
		}
	}
	a.expect("TCP:PUSH:"+key1+":RID:b:fine", "[OK:1]")
	b.expectRead("PUSH:fine")
	c := dial(t, s)
	c.expect("TCP:PUSH:"+key1+":RID:b:new", "[OK:1]")
	b.expectRead("PUSH:new")
}

func TestIdleKeepalive(t *testing.T) {
	s := newServer(t, func(s *Server) { s.IdleTimeout = time.Second })
	idle := register(t, s, "idle")
	idle.expectEOF() // no line for a second
}

func TestRawChannel(t *testing.T) {
	s := newServer(t, nil)
	a, b, c := register(t, s, "a"), register(t, s, "b"), register(t, s, "c")
	a.expect("TCP:RAW:"+key1+":nobody", "[FAIL:OFFLINE]")
	a.expect("TCP:RAW:"+key1+":b", "[OK:WAIT:b]")
	b.expectRead("RAW:a")
	b.expect("TCP:RAW:"+key1+":a", "[OK:RAW:a]")
	a.expectRead("[OK:RAW:b]")
	// The paired ids take no pushes: they would corrupt the stream.
	c.expect("TCP:PUSH:"+key1+":RID:a:x", "[FAIL:OFFLINE]")

	ab := append([]byte("TCP:ID:"+key1+":z\n\x00\xff"), make([]byte, 100<<10)...)
	rand.Read(ab[20:])
	ba := make([]byte, 300<<10)
	rand.Read(ba)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a.nc.Write(ab) }()
	go func() { defer wg.Done(); b.nc.Write(ba) }()
	gotAB, gotBA := make([]byte, len(ab)), make([]byte, len(ba))
	if _, err := io.ReadFull(b.r, gotAB); err != nil || !bytes.Equal(gotAB, ab) {
		t.Fatalf("b read %d bytes, err %v, equal %v; want a's %d bytes", len(gotAB), err, bytes.Equal(gotAB, ab), len(ab))
	}
	if _, err := io.ReadFull(a.r, gotBA); err != nil || !bytes.Equal(gotBA, ba) {
		t.Fatalf("a read %d bytes, err %v, equal %v; want b's %d bytes", len(gotBA), err, bytes.Equal(gotBA, ba), len(ba))
	}
	wg.Wait()
	a.nc.Close()
	b.expectEOF()
	c.quiet("c")
}

func TestRawChannelAcceptedAtOnce(t *testing.T) {
	// b asks first; a's acceptance and its first raw bytes come in one write.
	s := newServer(t, nil)
	a, b := register(t, s, "a"), register(t, s, "b")
	b.expect("TCP:RAW:"+key1+":a", "[OK:WAIT:a]")
	a.expectRead("RAW:b")
	a.send("TCP:RAW:" + key1 + ":b\nhello raw")
	a.expectRead("[OK:RAW:b]")
	b.expectRead("[OK:RAW:a]")
	got := make([]byte, len("hello raw"))
	if _, err := io.ReadFull(b.r, got); err != nil || string(got) != "hello raw" {
		t.Fatalf("b read %q, %v; want %q", got, err, "hello raw")
	}
}

func TestClose(t *testing.T) {
	s := newServer(t, nil)
	a := register(t, s, "a")
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	a.expectEOF()
	if _, err := net.Dial("tcp", s.Addr().String()); err == nil {
		t.Error("dial after Close succeeded")
	}
	if err := (&Server{}).Start(context.Background()); err == nil || !strings.Contains(err.Error(), "KeyStore") {
		t.Errorf("Start without Keys = %v, want an error naming KeyStore", err)
	}
	var never Server
	if err := never.Close(); err != nil || errors.Is(err, net.ErrClosed) {
		t.Errorf("Close of a server never started = %v", err)
	}
}

// When one device ends its side of a raw channel the other reads the end
// of the stream and may still answer; both connections close when both
// sides have ended.
func TestRawChannelHalfClose(t *testing.T) {
	s := newServer(t, nil)
	a, b := register(t, s, "a"), register(t, s, "b")
	a.expect("TCP:RAW:"+key1+":b", "[OK:WAIT:b]")
	b.expectRead("RAW:a")
	b.expect("TCP:RAW:"+key1+":a", "[OK:RAW:a]")
	a.expectRead("[OK:RAW:b]")
	a.send("request")
	a.nc.(*net.TCPConn).CloseWrite()
	if got, err := io.ReadAll(b.r); err != nil || string(got) != "request\n" {
		t.Fatalf("b read %q, %v; want the request and the end", got, err)
	}
	io.WriteString(b.nc, "answer")
	b.nc.Close()
	if got, err := io.ReadAll(a.r); err != nil || string(got) != "answer" {
		t.Fatalf("a read %q, %v; want the answer and the end", got, err)
	}
	eventually(t, "both connections to close", func() bool { return s.Stats().Conns == 0 })
}
