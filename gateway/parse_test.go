package gateway

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		line string
		want Command
	}{
		{"TCP:ID:11FE313037C5327CD35BAC6C8D66867F:123",
			Command{Proto: "TCP", Verb: "ID", Key: "11FE313037C5327CD35BAC6C8D66867F", ID: "123", Signed: []byte("123")}},
		{"TCP:GID:k", Command{Proto: "TCP", Verb: "GID", Key: "k"}},
		{"TCP:REMID:k", Command{Proto: "TCP", Verb: "REMID", Key: "k"}},
		{"TCP:PUSH:k:RID:1234:Hello:1234", Command{Proto: "TCP", Verb: "PUSH", Key: "k", Group: "RID", Target: "1234",
			Data: []byte("Hello:1234"), Signed: []byte("RID:1234:Hello:1234")}},
		{"TCP:PUSH:k:RID:MY-FRIEND:", Command{Proto: "TCP", Verb: "PUSH", Key: "k", Group: "RID", Target: "MY-FRIEND",
			Data: []byte{}, Signed: []byte("RID:MY-FRIEND:")}},
		{"TCP:PUSH:k:FRIENDS:Hello ALL", Command{Proto: "TCP", Verb: "PUSH", Key: "k", Group: "FRIENDS",
			Data: []byte("Hello ALL"), Signed: []byte("FRIENDS:Hello ALL")}},
		{"TCP:PUSH:k:ALLCHILDS:x", Command{Proto: "TCP", Verb: "PUSH", Key: "k", Group: "ALLCHILDS", Data: []byte("x"), Signed: []byte("ALLCHILDS:x")}},
		{"TCP:PUSH:k:RO:hall:on", Command{Proto: "TCP", Verb: "PUSH", Key: "k", Group: "RO", Target: "hall", Data: []byte("on"), Signed: []byte("RO:hall:on")}},
		{"TCP:TIME:k:+05:30", Command{Proto: "TCP", Verb: "TIME", Key: "k", Offset: 330, Signed: []byte("+05:30")}},
		{"TCP:TIME:k:-03:00", Command{Proto: "TCP", Verb: "TIME", Key: "k", Offset: -180, Signed: []byte("-03:00")}},
		{"TCP:RAW:k:b", Command{Proto: "TCP", Verb: "RAW", Key: "k", ID: "b", Signed: []byte("b")}},
		{"STCP:123:ACTIVATE", Command{Proto: "STCP", Verb: "ACTIVATE", ID: "123"}},
		{"DSTCP256:123:ACTIVATE:c0ffee", Command{Proto: "DSTCP256", Verb: "ACTIVATE", ID: "123", ClientRnd: "c0ffee"}},
		{"STCP:123:DEACTIVATE", Command{Proto: "STCP", Verb: "DEACTIVATE", ID: "123"}},
	}
	for _, tt := range tests {
		got, err := ParseLine([]byte(tt.line))
		if err != nil {
			t.Errorf("ParseLine(%q) error %v", tt.line, err)
			continue
		}
		if !sameCommand(got, tt.want) {
			t.Errorf("ParseLine(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
		if s := got.String(); s != tt.line {
			t.Errorf("ParseLine(%q).String() = %q", tt.line, s)
		}
	}
}

func TestParseLineErrors(t *testing.T) {
	tests := []struct{ line, reason string }{
		{"", ReasonUnknown},
		{"HELLO", ReasonUnknown},
		{"\x00\xff\x01:ID", ReasonUnknown},
		{"TCP:FOO:k:1", ReasonUnknown},
		{"TCP:ID", ReasonFields},
		{"TCP:ID:k", ReasonFields},
		{"TCP:ID::1", ReasonFields},
		{"TCP:ID:k:", ReasonFields},
		{"TCP:ID:k:a b", ReasonFields},
		{"TCP:ID:k:1:2", ReasonFields},
		{"TCP:GID:k:extra", ReasonFields},
		{"TCP:PUSH:k", ReasonFields},
		{"TCP:PUSH:k:RID", ReasonFields},
		{"TCP:PUSH:k:RID:1", ReasonFields},
		{"TCP:PUSH:k:FRIENDS", ReasonFields},
		{"TCP:PUSH:k:ENEMIES:x", ReasonFields},
		{"TCP:TIME:k", ReasonFields},
		{"TCP:TIME:k:05:30", ReasonFields},
		{"TCP:TIME:k:+15:00", ReasonFields},
		{"TCP:TIME:k:+05:60", ReasonFields},
		{"STCP:1", ReasonFields},
		{"STCP:1:OPEN", ReasonUnknown},
		{"STCP:1:DEACTIVATE:x", ReasonFields},
		{"STCP:1:ACTIVATE:", ReasonFields},
		{"TCP:ID:" + string(bytes.Repeat([]byte("k"), MaxKeyLen+1)) + ":1", ReasonFields},
		{"TCP:ID:k:" + string(bytes.Repeat([]byte("1"), MaxIDLen+1)), ReasonFields},
	}
	for _, tt := range tests {
		_, err := ParseLine([]byte(tt.line))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Reason != tt.reason {
			t.Errorf("ParseLine(%q) error = %v, want reason %s", tt.line, err, tt.reason)
		}
	}
}

func sameCommand(a, b Command) bool {
	if !bytes.Equal(a.Data, b.Data) || !bytes.Equal(a.Signed, b.Signed) {
		return false
	}
	a.Data, b.Data, a.Signed, b.Signed = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}

var reasons = map[string]bool{ReasonUnknown: true, ReasonFields: true}

func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"TCP:ID:11FE313037C5327CD35BAC6C8D66867F:123",
		"TCP:ID:11FE313037C5327CD35BAC6C8D66867F:1234",
		"TCP:PUSH:11FE313037C5327CD35BAC6C8D66867F:RID:1234:Hello1234",
		"TCP:PUSH:11FE313037C5327CD35BAC6C8D66867F:FRIENDS:Hello ALL",
		"TCP:PUSH:k:CHILDS:off", "TCP:PUSH:k:ALLCHILDS:off", "TCP:PUSH:k:PARENT:alarm",
		"TCP:PUSH:k:RO:hall:on", "TCP:GID:k", "TCP:REMID:k", "TCP:TIME:k:+05:30", "TCP:TIME:k:-11:00",
		"TCP:RAW:k:peer", "STCP:123:ACTIVATE", "STCP:123:ACTIVATE:c0ffee", "DSTCP:123:ACTIVATE",
		"STCP256:123:DEACTIVATE", "DSTCP256:1:ACTIVATE:ab", "\x00\xff:\x01", "TCP:::::",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := ParseLine(line)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || !reasons[pe.Reason] {
				t.Fatalf("ParseLine(%q) error = %v, want a ParseError with reason UNKNOWN or FIELDS", line, err)
			}
			return
		}
		if !bytes.HasSuffix(line, c.Signed) {
			t.Fatalf("ParseLine(%q).Signed = %q, not the line's tail", line, c.Signed)
		}
		s := c.String()
		c2, err := ParseLine([]byte(s))
		if err != nil {
			t.Fatalf("ParseLine(%q) of String() of %q: %v", s, line, err)
		}
		// Signed is the raw tail ("-00:00" formats as "+00:00"); the rest must match.
		c.Signed, c2.Signed = nil, nil
		if !sameCommand(c, c2) {
			t.Fatalf("ParseLine(String()) = %+v, want %+v (line %q)", c2, c, line)
		}
	})
}
