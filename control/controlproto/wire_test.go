package controlproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
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
		if _, err := ParseRequest([]byte(tt.in)); !errors.Is(err, tt.want) {
			t.Errorf("ParseRequest(%s) = %v, want %v", tt.in, err, tt.want)
		}
	}
}

func FuzzParseRequest(f *testing.F) {
	var buf bytes.Buffer
	WriteMsg(&buf, Request{V: 1, Op: OpRegister, Proof: []byte{1, 2}, Record: []byte{3}, TTL: 600})
	f.Add(buf.Bytes())
	f.Add([]byte{0x05, '{', '}', 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		body, err := ReadFrame(bufio.NewReader(bytes.NewReader(b)), MaxRequest)
		if err != nil {
			return
		}
		if req, err := ParseRequest(body); err == nil && req.V != WireVersion {
			t.Fatalf("parseRequest accepted version %d", req.V)
		}
	})
}

// TestWirePinned pins the bytes of each message on the wire: a change here
// breaks every node and control plane of the other version, so it is a new
// Protocol or WireVersion, not an edit of this test.
func TestWirePinned(t *testing.T) {
	tests := []struct {
		name string
		msg  any
		want string
	}{
		{"register", Request{V: WireVersion, Op: OpRegister, Proof: []byte{1, 2}, Record: []byte{3}, TTL: 600},
			`{"v":1,"op":"register","proof":"AQI=","record":"Aw==","ttl_s":600}`},
		{"revoke", Request{V: WireVersion, Op: OpRevoke, Proof: []byte{1}, Revocation: []byte{4, 5}},
			`{"v":1,"op":"revoke","proof":"AQ==","revocation":"BAU="}`},
		{"lookup answer", Response{V: WireVersion, Observed: "/ip4/192.0.2.1/udp/4001/quic-v1", TTL: 3600, Records: [][]byte{{6}, {7, 8}}},
			`{"v":1,"observed":"/ip4/192.0.2.1/udp/4001/quic-v1","ttl_s":3600,"records":["Bg==","Bwg="]}`},
		{"limit", Response{V: WireVersion, Error: "over", Code: CodeLimit, Limit: LimitNodes, Used: 5, Max: 5},
			`{"v":1,"error":"over","code":"limit","limit":"nodes","used":5,"max":5}`},
		{"usage", Response{V: WireVersion, Usage: &Usage{Month: "2026-07", Plan: "free", RelayBytes: 1, ControlBytes: 2, ControlMessages: 3,
			Bytes: 3, LimitBytes: 4, Nodes: 5, LimitNodes: 6, Networks: 7, LimitNetworks: 8, Exceeded: "x"}},
			`{"v":1,"usage":{"month":"2026-07","plan":"free","relay_bytes":1,"control_bytes":2,"control_messages":3,"bytes":3,` +
				`"limit_bytes":4,"nodes":5,"limit_nodes":6,"networks":7,"limit_networks":8,"exceeded":"x"}}`},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := WriteMsg(&buf, tt.msg); err != nil {
			t.Fatalf("WriteMsg(%s) = %v", tt.name, err)
		}
		want := append(binary.AppendUvarint(nil, uint64(len(tt.want))), tt.want...)
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("WriteMsg(%s) = %q, want %q", tt.name, buf.Bytes(), want)
		}
		body, err := ReadFrame(bufio.NewReader(&buf), MaxResponse)
		if err != nil || string(body) != tt.want {
			t.Errorf("ReadFrame(WriteMsg(%s)) = %q, %v; want %q", tt.name, body, err, tt.want)
		}
	}
}
