package invite

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sample() *Code {
	c := &Code{Role: 1, Expires: 1795000000, NetName: "home",
		Addrs: [][]byte{[]byte("\x04\x7f\x00\x00\x01\x06\x10\x00"), []byte("abc")}}
	for i := range c.Network {
		c.Network[i] = byte(i)
	}
	c.Secret[3] = 9
	return c
}

func TestRoundTrip(t *testing.T) {
	c := sample()
	s := c.Encode()
	got, err := Decode("  " + s[:20] + "\n" + s[20:] + " ")
	if err != nil {
		t.Fatalf("Decode(Encode(c)) error %v", err)
	}
	if got.Encode() != s || got.NetName != "home" || got.Secret != c.Secret || len(got.Addrs) != 2 {
		t.Fatalf("Decode(Encode(c)) = %+v, want %+v", got, c)
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
	})
}
