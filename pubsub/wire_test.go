package pubsub

import (
	"bufio"
	"bytes"
	"reflect"
	"testing"
)

func body(t testing.TB, framed []byte) []byte {
	t.Helper()
	b, _, err := readFrame(bufio.NewReader(bytes.NewReader(framed)))
	if err != nil {
		t.Fatalf("readFrame: %v", err)
	}
	return append([]byte(nil), b...)
}

func msgBytes(flags byte, seq, sub uint64, topic, data string) []byte {
	return append(appendMsgHeader(nil, flags, seq, sub, topic, len(data)), data...)
}

// TestWireRoundTrip pins the encoding of each frame and checks the parsers
// read back what the encoders wrote.
func TestWireRoundTrip(t *testing.T) {
	if got, want := msgBytes(flagQoS1, 7, 0, "a/b", "hi"), []byte{9, frameMsg, flagQoS1, 7, 3, 'a', '/', 'b', 'h', 'i'}; !bytes.Equal(got, want) {
		t.Fatalf("message frame = %v, want %v", got, want)
	}
	m, err := parseMsg(body(t, msgBytes(flagRetained|flagTargeted, 300, 9, "x", "data")), "")
	if err != nil || m.seq != 300 || m.sub != 9 || string(m.topic) != "x" || string(m.data) != "data" || m.flags != flagRetained|flagTargeted {
		t.Fatalf("parseMsg = %+v, %v", m, err)
	}
	a := announcement{session: 5, gen: 2, subs: []patSub{{1, QoS1, "a/#"}, {2, QoS0, "+"}}}
	if got, err := parseSubs(body(t, subsFrame(a))); err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("parseSubs = %+v, %v; want %+v", got, err, a)
	}
	lags := []lagEntry{{"a/#", 3}}
	if got, err := parseLag(body(t, lagFrame(lags))); err != nil || !reflect.DeepEqual(got, lags) {
		t.Fatalf("parseLag = %+v, %v", got, err)
	}
	if got, err := parseAck(body(t, ackFrame(1<<40))); err != nil || got != 1<<40 {
		t.Fatalf("parseAck = %d, %v", got, err)
	}
	if got, err := parseHello(body(t, helloFrame(42))); err != nil || got != 42 {
		t.Fatalf("parseHello = %d, %v", got, err)
	}
	for _, bad := range [][]byte{
		msgBytes(0x80, 1, 0, "a", ""),                        // unknown flag
		msgBytes(0, 1, 0, "a/#", ""),                         // wildcard topic
		subsFrame(announcement{subs: []patSub{{1, 2, "a"}}}), // QoS 2
		subsFrame(announcement{subs: []patSub{{1, 0, "a/#/b"}}}),
	} {
		b := body(t, bad)
		_, err1 := parseMsg(b, "")
		_, err2 := parseSubs(b)
		if err1 == nil && err2 == nil {
			t.Errorf("frame %v parsed, want an error", bad)
		}
	}
	if _, _, err := readFrame(bufio.NewReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0x7f}))); err == nil {
		t.Errorf("readFrame(huge length) = nil error")
	}
}

// FuzzFrames feeds arbitrary peer bytes to the frame reader and to every
// parser; none may panic, and what parses must re-encode to the same body.
func FuzzFrames(f *testing.F) {
	f.Add(msgBytes(flagQoS1, 7, 0, "a/b", "hi"))
	f.Add(msgBytes(flagRetained|flagTargeted, 1, 3, "home/temp", "21"))
	f.Add(subsFrame(announcement{session: 1, gen: 2, subs: []patSub{{1, QoS1, "a/#"}, {2, QoS0, "+/x"}}}))
	f.Add(lagFrame([]lagEntry{{"a/#", 3}}))
	f.Add(ackFrame(99))
	f.Add(helloFrame(12345))
	f.Add([]byte{0})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		for {
			b, discard, err := readFrame(br)
			if err != nil {
				return
			}
			if m, err := parseMsg(b, ""); err == nil {
				re := msgBytes(m.flags, m.seq, m.sub, string(m.topic), string(m.data))
				if got := body(t, re); !bytes.Equal(got, b) && m.flags&flagTargeted == 0 {
					t.Fatalf("message re-encodes to %v, want %v", got, b)
				}
			}
			if a, err := parseSubs(b); err == nil {
				for _, s := range a.subs {
					if ValidPattern(s.pattern) != nil {
						t.Fatalf("parseSubs accepted pattern %q", s.pattern)
					}
				}
			}
			parseLag(b)
			parseAck(b)
			parseHello(b)
			br.Discard(discard)
		}
	})
}
