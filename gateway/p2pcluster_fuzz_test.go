package gateway

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

var p2pSeeds = []string{
	"TCP:ID:11FE313037C5327CD35BAC6C8D66867F:12345",
	"TCP:PUSH:11FE313037C5327CD35BAC6C8D66867F:RID:123456789:Hello12345",
	"TCP:PUSH:11FE313037C5327CD35BAC6C8D66867F:FRIENDS:Hello ALL",
	"TCP:PUSH:k:CHILDS:off", "TCP:PUSH:k:ALLCHILDS:off", "TCP:PUSH:k:PARENT:alarm",
	"TCP:PUSH:k:RO:hall:on", "TCP:PUSH:k:RAW:cam", "TCP:GID:k", "TCP:REMID:k",
	"TCP:TIME:11FE313037C5327CD35BAC0123456789:+05:30", "TCP:RETDATA:k:0",
	"TCP:EMAIL:k:a@b.c:subject:body", "STCP::ACTIVATE:", "STCP:chandan@ubikeys.com:ACTIVATE:12345678",
	"DSTCP:a@b.c:ACTIVATE", "DSTCP:a@b.c:DEACTIVATE", "STCP256:dev:ACTIVATE:c0ffee",
	"GET /GETTREE?KEY=1 HTTP/1.1", "\x16\x03\x01\x00\x05", "tcp:id:k:abc", ":::", "TCP:",
}

// FuzzP2PParse checks the P2Pcluster parser and the helpers that read
// command bytes: no panic, verbs and user ids upper-cased, the protocol
// and verb case-insensitive.
func FuzzP2PParse(f *testing.F) {
	for _, s := range p2pSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, bad := parseP2P(b)
		if bad != "" {
			if !strings.HasPrefix(bad, "[FAIL:") {
				t.Fatalf("parseP2P(%q) reply %q", b, bad)
			}
			return
		}
		if c.verb != strings.ToUpper(c.verb) || c.uid != strings.ToUpper(c.uid) {
			t.Fatalf("parseP2P(%q) = %+v: not upper case", b, c)
		}
		if c.proto == ProtoTCP && !bytes.HasSuffix(b, c.rest) {
			t.Fatalf("parseP2P(%q).rest = %q, not the tail", b, c.rest)
		}
		// The same command with protocol and verb in lower case.
		low := bytes.Clone(b)
		n := 0
		for i, ch := range low {
			if ch == ':' {
				if n++; n == 2 {
					break
				}
			}
			if 'A' <= ch && ch <= 'Z' {
				low[i] = ch + 'a' - 'A'
			}
		}
		c2, bad2 := parseP2P(low)
		if bad2 != "" || c2.proto != c.proto || c2.verb != c.verb {
			t.Fatalf("parseP2P(%q) = %+v, but parseP2P(%q) = %+v %q", b, c, low, c2, bad2)
		}
		p2pPacketData(c.rest, true)
		p2pPacketData(c.rest, false)
		p2pRetdata([][]byte{[]byte("a")}, string(c.rest))
		p2pTime(p2pNow, string(c.rest))
		challengeLike(c.clientRnd)
		validMailbox(string(c.rest))
	})
}

// FuzzP2PFraming sends a fixed session cut into segments where the fuzzer
// says, each written on its own, and checks that the replies are those of
// the uncut session: with terminators, the cuts never matter.
func FuzzP2PFraming(f *testing.F) {
	f.Add([]byte{5}, true)
	f.Add([]byte{1, 1, 1, 40, 3, 200}, false)
	f.Add([]byte{}, true)
	keys := &MemKeyStore{}
	keys.Add(p2pKey, p2pUser)
	s := &Server{Listen: "127.0.0.1:0", Keys: keys, Dialect: DialectP2Pcluster,
		ReadPause: time.Hour, Now: func() time.Time { return p2pNow }}
	if err := s.Start(context.Background()); err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	k := p2pKey
	f.Fuzz(func(t *testing.T, cuts []byte, crlf bool) {
		term := "\n"
		if crlf {
			term = "\r\n"
		}
		var session strings.Builder
		for _, cmd := range []string{"TCP:ID:" + k + ":fz", "TCP:GID:" + k, "TCP:PUSH:" + k + ":RID:FZ:d:x", "HELLO", "TCP:TIME:" + k + ":+05:30", "TCP:REMID:" + k} {
			session.WriteString(cmd + term)
		}
		want := "[OK:FZ][OK:FZ]PUSH:d:x[OK:DATA_SENT][FAIL:Unknown Command][IST:(Thu)(3,12,2026)(13:21:07)(" +
			"1796284267)][OK:NODEREMOVED]"
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
		b := []byte(session.String())
		for _, cut := range cuts {
			if len(b) == 0 {
				break
			}
			i := 1 + int(cut)%len(b)
			nc.Write(b[:i])
			b = b[i:]
		}
		nc.Write(b)
		nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(nc, got); err != nil || string(got) != want {
			t.Fatalf("cuts %v: got %q (%v), want %q", cuts, got, err, want)
		}
	})
}

// FuzzP2PHTTP runs the HTTP routes (but GET /TCP:, which the command
// fuzzers cover) on request targets: no panic, and nothing changes
// without the account key.
func FuzzP2PHTTP(f *testing.F) {
	for _, s := range []string{
		"/GETTREE?KEY=" + p2pKey, "/GETTREE?KEY=" + p2pKey + "&NODE=a", "/ADDNODE?KEY=" + p2pKey + "&PNODE=a&NODE=b",
		"/DELNODE?KEY=" + p2pKey + "&NODE=a", "/UPDATENODE?KEY=" + p2pKey + "&PNODE=a&NODE=c", "/DEPTH?KEY=x",
		"/ADDNODEINTROUTER?KEY=" + p2pKey + "&ROID=r&NOID=a,b", "/ADMIN?KEY=" + p2pKey + "&LIVE", "/%zz?KEY=%", "/?&&==",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if strings.Contains(strings.ToUpper(target), "TCP:") {
			return
		}
		dir := &MemDirectory{}
		dir.SetParent(p2pUser, "a", "")
		keys := &MemKeyStore{}
		keys.Add(p2pKey, p2pUser)
		s := &Server{Keys: keys, Dir: dir, Dialect: DialectP2Pcluster, Now: func() time.Time { return p2pNow }}
		c := &conn{s: s}
		keyed := strings.Contains(strings.ToUpper(target), strings.ToUpper(p2pKey)) || strings.Contains(target, "%")
		c.httpRoute(target)
		if !keyed && (len(dir.Roots(p2pUser)) != 1 || len(dir.Routers(p2pUser)) != 0) {
			t.Fatalf("%q changed the directory without the key", target)
		}
	})
}
