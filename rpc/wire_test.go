package rpc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

// TestWireGolden pins the encoding of each frame kind.
func TestWireGolden(t *testing.T) {
	for _, tc := range []struct {
		f    frame
		want string
	}{
		{frame{kind: kindRequest, id: 1, timeout: 2 * time.Second, service: "echo", data: []byte("hi")}, "0c0101" + "80897a" + "04" + "6563686f" + "6869"},
		{frame{kind: kindRequest, id: 300, service: "a"}, "06" + "01ac02" + "00" + "01" + "61"},
		{frame{kind: kindReply, id: 1, status: statusOK, data: []byte("ok")}, "05020100" + "6f6b"},
		{frame{kind: kindReply, id: 2, status: statusUnknown}, "03020201"},
		{frame{kind: kindCancel, id: 7}, "020307"},
	} {
		b := appendFrame(nil, &tc.f)
		if got := hex.EncodeToString(b); got != tc.want {
			t.Errorf("appendFrame(%+v) = %s, want %s", tc.f, got, tc.want)
		}
		got, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil || !sameFrame(got, tc.f) {
			t.Errorf("readFrame(%s) = %+v, %v, want %+v", tc.want, got, err, tc.f)
		}
	}
}

func sameFrame(a, b frame) bool {
	return a.kind == b.kind && a.id == b.id && a.timeout == b.timeout && a.service == b.service &&
		a.status == b.status && bytes.Equal(a.data, b.data)
}

func TestParseFrameRejects(t *testing.T) {
	for _, in := range []string{"", "01", "0901", "01ff", "010100", "0101000561", "0201", "020106", "030100", "04"} {
		b, _ := hex.DecodeString(in)
		if f, err := parseFrame(b); err == nil {
			t.Errorf("parseFrame(%s) = %+v, want an error", in, f)
		}
	}
}

// FuzzParseFrame: any bytes either fail to parse or parse into a frame
// that encodes back to the same body.
func FuzzParseFrame(f *testing.F) {
	for _, fr := range []frame{
		{kind: kindRequest, id: 1, timeout: time.Second, service: "thermo.read", data: []byte("x")},
		{kind: kindReply, id: 9, status: statusFailed, data: []byte("boom")},
		{kind: kindCancel, id: 3},
	} {
		b := appendFrame(nil, &fr)
		f.Add(b[1:])
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fr, err := parseFrame(body)
		if err != nil {
			return
		}
		enc := appendFrame(nil, &fr)
		r := bufio.NewReader(bytes.NewReader(enc))
		again, err := readFrame(r)
		if err != nil || !sameFrame(again, fr) {
			t.Fatalf("frame %+v did not round-trip: %+v, %v", fr, again, err)
		}
	})
}

// TestFrameTooLarge: a frame that declares more than maxFrame bytes is
// refused before any read, with an error the server tells apart by type
// from a caller that went away.
func TestFrameTooLarge(t *testing.T) {
	b := binary.AppendUvarint(nil, maxFrame+1)
	_, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
	var big *frameSizeError
	if !errors.As(err, &big) || big.size != maxFrame+1 {
		t.Fatalf("readFrame(%d byte frame) = %v, want a *frameSizeError", maxFrame+1, err)
	}
	if _, err := readFrame(bufio.NewReader(bytes.NewReader(b[:1]))); errors.As(err, &big) || errors.Is(err, errFrame) {
		t.Fatalf("readFrame(truncated length) = %v, want neither errFrame nor a size error", err)
	}
}
