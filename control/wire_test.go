package control

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
)

func TestParseRequest(t *testing.T) {
	tests := []struct {
		in   string
		want error
	}{
		{`{"v":1,"op":"lookup","proof":"AQ=="}`, nil},
		{`{"v":2,"op":"lookup"}`, ErrBadRequest},
		{`{"v":1,"op":"steal"}`, ErrBadRequest},
		{`{"v":1,"op":"register","ttl_s":-1}`, ErrBadRequest},
		{`not json`, ErrBadRequest},
	}
	for _, tt := range tests {
		if _, err := parseRequest([]byte(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("parseRequest(%s) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	var buf bytes.Buffer
	writeMsg(&buf, request{V: 1, Op: opRegister, Proof: []byte{1, 2}, Record: []byte{3}, TTL: 600})
	f.Add(buf.Bytes())
	f.Add([]byte{0x05, '{', '}', 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := readFrame(bufio.NewReader(bytes.NewReader(b)), maxRequest)
		if err != nil {
			return
		}
		if req, err := parseRequest(body); err == nil && req.V != WireVersion {
			t.Fatalf("parseRequest accepted version %d", req.V)
		}
	})
}
