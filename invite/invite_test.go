package invite

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
)

const (
	inviterID = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
	controlID = "12D3KooWRBhwfeP2Y4TCx1SM6s9rUoHhR5STiGwxBhgFRcw3UERE"
)

func addrs(ss ...string) [][]byte {
	var out [][]byte
	for _, s := range ss {
		out = append(out, ma.StringCast(s).Bytes())
	}
	return out
}

func strs(bs [][]byte) []string {
	var out []string
	for _, b := range bs {
		m, err := ma.NewMultiaddrBytes(b)
		if err != nil {
			out = append(out, fmt.Sprintf("bad(%x)", b))
			continue
		}
		out = append(out, m.String())
	}
	return out
}

// sample is what a node behind a NAT with a relay slot at one control
// plane puts in a code.
func sample() *Code {
	c := &Code{Role: 1, Expires: 1795000000, NetName: "home",
		Addrs: addrs(
			"/ip4/192.168.1.20/tcp/4001/p2p/"+inviterID,
			"/ip4/192.168.1.20/udp/4001/quic-v1/p2p/"+inviterID,
			"/ip4/203.0.113.7/udp/4001/quic-v1/p2p/"+controlID+"/p2p-circuit/p2p/"+inviterID,
			"/ip4/203.0.113.7/tcp/4001/p2p/"+controlID+"/p2p-circuit/p2p/"+inviterID,
		),
		Controls: addrs(
			"/ip4/203.0.113.7/udp/4001/quic-v1/p2p/"+controlID,
			"/ip4/203.0.113.7/tcp/4001/p2p/"+controlID,
			"/dns4/cp.example.net/tcp/4001/p2p/"+controlID,
		),
	}
	for i := range c.Network {
		c.Network[i] = byte(i)
	}
	c.Secret[3] = 9
	return c
}

// encodeV1 writes c the way version 1 did.
func encodeV1(c *Code) string {
	var b bytes.Buffer
	b.WriteByte(1)
	b.Write(c.Network[:])
	b.Write(c.Secret[:])
	b.WriteByte(c.Role)
	binary.Write(&b, binary.BigEndian, c.Expires)
	b.WriteByte(byte(len(c.NetName)))
	b.WriteString(c.NetName)
	b.WriteByte(byte(len(c.Addrs)))
	for _, a := range c.Addrs {
		binary.Write(&b, binary.BigEndian, uint16(len(a)))
		b.Write(a)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:sumLen])
	return Prefix + strings.ToLower(enc.EncodeToString(b.Bytes()))
}

func TestRoundTrip(t *testing.T) {
	c := sample()
	s := c.Encode()
	got, err := Decode("  " + s[:20] + "\n" + s[20:] + " ")
	if err != nil {
		t.Fatalf("Decode(Encode(c)) error %v", err)
	}
	if got.Encode() != s || got.NetName != "home" || got.Secret != c.Secret || got.Network != c.Network || got.Role != 1 || got.Expires != c.Expires {
		t.Fatalf("Decode(Encode(c)) = %+v, want %+v", got, c)
	}
	if g, w := strs(got.Addrs), strs(c.Addrs); !slices.Equal(g, w) {
		t.Errorf("Decode(Encode(c)).Addrs = %q, want %q", g, w)
	}
	if g, w := strs(got.Controls), strs(c.Controls); !slices.Equal(g, w) {
		t.Errorf("Decode(Encode(c)).Controls = %q, want %q", g, w)
	}
	v1 := encodeV1(&Code{Network: c.Network, Secret: c.Secret, Role: c.Role, Expires: c.Expires, NetName: c.NetName, Addrs: c.Addrs})
	t.Logf("code with 2 direct, 2 relay, 3 control plane addresses: %d characters (version 1 with the same addresses but no control planes: %d)", len(s), len(v1))
	if len(s) >= len(v1) {
		t.Errorf("len(Encode()) = %d, want shorter than version 1's %d", len(s), len(v1))
	}
}

// TestDecodeV1 reads codes of the first version.
func TestDecodeV1(t *testing.T) {
	c := sample()
	c.Controls = nil
	c.Addrs = append(c.Addrs[:2:2], []byte("abc")) // version 1 kept addresses opaque
	got, err := Decode(encodeV1(c))
	if err != nil {
		t.Fatalf("Decode(version 1 code) error %v", err)
	}
	if got.NetName != "home" || got.Secret != c.Secret || got.Expires != c.Expires || len(got.Addrs) != 3 || string(got.Addrs[2]) != "abc" || got.Controls != nil {
		t.Fatalf("Decode(version 1 code) = %+v, want %+v", got, c)
	}
}

// TestEncodeShapes: Encode keeps the addresses of one inviter, direct
// first, and drops what it cannot represent.
func TestEncodeShapes(t *testing.T) {
	other := "12D3KooWRBhwfeP2Y4TCx1SM6s9rUoHhR5STiGwxBhgFRcw3UERF"
	c := &Code{NetName: "x", Addrs: addrs(
		"/ip4/203.0.113.7/tcp/4001/p2p/"+controlID+"/p2p-circuit/p2p/"+inviterID,
		"/ip4/10.0.0.1/tcp/1/p2p/"+inviterID,
		"/ip4/10.0.0.2/tcp/1/p2p/"+controlID, // another peer: dropped
		"/ip4/10.0.0.3/tcp/1",                // no peer: dropped
	), Controls: addrs("/ip4/198.51.100.1/tcp/4001/p2p/"+other, "/ip4/198.51.100.2/tcp/4001")}
	got, err := Decode(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/ip4/10.0.0.1/tcp/1/p2p/" + inviterID, "/ip4/203.0.113.7/tcp/4001/p2p/" + controlID + "/p2p-circuit/p2p/" + inviterID}
	if g := strs(got.Addrs); !slices.Equal(g, want) {
		t.Errorf("Decode(Encode(c)).Addrs = %q, want %q", g, want)
	}
	if g, w := strs(got.Controls), []string{"/ip4/198.51.100.1/tcp/4001/p2p/" + other}; !slices.Equal(g, w) {
		t.Errorf("Decode(Encode(c)).Controls = %q, want %q", g, w)
	}
}

func TestBadCodes(t *testing.T) {
	s := sample().Encode()
	flip := []byte(s)
	i := len(Prefix) + 30
	if flip[i] == 'a' {
		flip[i] = 'b'
	} else {
		flip[i] = 'a'
	}
	for _, tc := range []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrNotInvite},
		{"other", "hello world", ErrNotInvite},
		{"truncated", s[:len(s)/2], ErrTruncated},
		{"truncated-by-one", s[:len(s)-1], ErrTruncated},
		{"tampered", string(flip), ErrDamaged},
		{"junk", Prefix + "!!!!", ErrCharacters},
		{"prefix-only", Prefix, ErrTruncated},
	} {
		_, err := Decode(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: Decode = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestExpiry(t *testing.T) {
	c := sample()
	c.Expires = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC).Unix()
	err := c.CheckExpiry(time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC))
	if err == nil || !strings.Contains(err.Error(), "expired on 2026-11-20") || !strings.Contains(err.Error(), "ask an admin of \"home\"") {
		t.Fatalf("CheckExpiry = %v, want expired message", err)
	}
	if err := c.CheckExpiry(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatalf("CheckExpiry before expiry = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(sample().Encode())
	f.Add(encodeV1(sample()))
	f.Add(Prefix)
	f.Add("coco1aaaa")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Decode(s)
		if err != nil {
			return
		}
		again, err := Decode(c.Encode())
		if err != nil || again.Encode() != c.Encode() {
			t.Fatalf("re-decode of accepted code failed: %v", err)
		}
		if c.Encode()[0:5] != Prefix || len(c.Encode()) > MaxCodeLen {
			t.Fatalf("Encode() = %d characters, want a code of at most %d", len(c.Encode()), MaxCodeLen)
		}
	})
}
