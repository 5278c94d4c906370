package pubsub

import (
	"bytes"
	"testing"
	"time"
)

// TestGossipWire pins the gossip payload and checks the parser reads back
// what the encoder wrote and refuses what it must.
func TestGossipWire(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_123)
	b := appendGossip(nil, at, "a/b", []byte("hi"))
	want := []byte{1, 0, 0xfb, 0xd0, 0x95, 0xff, 0xbc, 0x31, 3, 'a', '/', 'b', 'h', 'i'}
	if !bytes.Equal(b, want) {
		t.Fatalf("appendGossip = %v, want %v", b, want)
	}
	m, err := parseGossip(b)
	if err != nil || !m.at.Equal(at) || m.topic != "a/b" || string(m.data) != "hi" {
		t.Fatalf("parseGossip = %+v, %v", m, err)
	}
	for _, bad := range [][]byte{
		nil,
		{2, 0, 1, 1, 'a'},           // version 2
		{1, 1, 1, 1, 'a'},           // unknown flag
		{1, 0, 1, 3, 'a', '/', '#'}, // wildcard topic
		{1, 0, 1, 5, 'a'},           // short topic
		{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 'a'}, // time out of range
	} {
		if _, err := parseGossip(bad); err == nil {
			t.Errorf("parseGossip(%v) succeeded, want an error", bad)
		}
	}
}

// FuzzGossip feeds the gossip payload parser arbitrary bytes: it never
// panics, and what it accepts encodes back to the same bytes.
func FuzzGossip(f *testing.F) {
	f.Add(appendGossip(nil, time.UnixMilli(1_700_000_000_123), "a/b", []byte("hi")))
	f.Add(appendGossip(nil, time.UnixMilli(0), "x", nil))
	f.Add([]byte{1, 0, 1, 3, 'a', '/', '#'})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseGossip(b)
		if err != nil {
			return
		}
		if got := appendGossip(nil, m.at, m.topic, m.data); !bytes.Equal(got, b) {
			// A uvarint may be written with redundant bytes; accept only
			// that difference.
			if m2, err := parseGossip(got); err != nil || m2.topic != m.topic || !bytes.Equal(m2.data, m.data) || !m2.at.Equal(m.at) {
				t.Fatalf("re-encoding %v gave %v", b, got)
			}
		}
	})
}
