package controlproto

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/coconet/coconet/internal/frame"
)

// Protocol is the control protocol's libp2p ID. One request and one response
// per stream, each a uvarint length followed by that many bytes of JSON. A
// new wire format gets a new ID; V inside is the message version.
const Protocol = "/coco/control/1.0.0"

// WireVersion is the message version this package writes and reads.
const WireVersion = 1

// Frame limits.
const (
	MaxRequest  = 192 << 10 // largest request a control plane reads
	MaxResponse = 8 << 20   // largest response a client reads
)

// Request operations (Request.Op).
const (
	OpRegister = "register"
	OpLookup   = "lookup"
	OpUsage    = "usage"
	OpRevoke   = "revoke"
	OpNetList  = "netlist" // a developer network's revocation list and policy (netlist.go)
)

// Request is what a client sends: one per stream.
type Request struct {
	V          int    `json:"v"`
	Op         string `json:"op"`
	Proof      []byte `json:"proof,omitempty"`      // member.Proof
	Record     []byte `json:"record,omitempty"`     // signed peer record envelope (register)
	TTL        int64  `json:"ttl_s,omitempty"`      // requested registration lifetime, seconds
	Revocation []byte `json:"revocation,omitempty"` // member.Revocation (revoke)
	NetLists          // netlist
}

// Error codes in responses (Response.Code); the client turns each into its
// error (ErrBadRequest, ErrUnauthorized, *LimitError).
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeLimit        = "limit"
)

// Response is what a control plane answers: Code and Error are set on a
// refusal, the other fields by the operation.
type Response struct {
	V        int      `json:"v"`
	Error    string   `json:"error,omitempty"`
	Code     string   `json:"code,omitempty"`
	Limit    string   `json:"limit,omitempty"`
	Used     int64    `json:"used,omitempty"`
	Max      int64    `json:"max,omitempty"`
	Observed string   `json:"observed,omitempty"` // the address the request came from, as the control plane sees it
	TTL      int64    `json:"ttl_s,omitempty"`    // granted registration lifetime
	Records  [][]byte `json:"records,omitempty"`  // lookup: signed peer records
	Usage    *Usage   `json:"usage,omitempty"`
	NetLists          // netlist
}

// Usage is a network's use of one control plane in one month.
type Usage struct {
	Month           string `json:"month"` // "2026-07", UTC
	Plan            string `json:"plan"`
	RelayBytes      int64  `json:"relay_bytes"`
	ControlBytes    int64  `json:"control_bytes"`
	ControlMessages int64  `json:"control_messages"`
	Bytes           int64  `json:"bytes"` // RelayBytes + ControlBytes: what the plan limits
	LimitBytes      int64  `json:"limit_bytes"`
	Nodes           int    `json:"nodes"` // registered now
	LimitNodes      int    `json:"limit_nodes"`
	Networks        int    `json:"networks"` // the owner's networks registered now
	LimitNetworks   int    `json:"limit_networks"`
	// Exceeded, if set, says which limit is reached and what to do.
	Exceeded string `json:"exceeded,omitempty"`
}

// WriteMsg writes v as one frame: a uvarint length and that many bytes of
// JSON.
func WriteMsg(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return frame.Write(w, b)
}

// ReadFrame reads one frame's body, of at most max bytes; a longer or a
// truncated frame is ErrBadRequest (a longer one is also frame.ErrTooLarge).
// The length is the sender's word: the buffer grows as bytes arrive, so a
// declared length costs nothing until it is sent.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	b, err := frame.Read(r, max)
	if errors.Is(err, frame.ErrTooLarge) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return b, err
}

// ParseRequest decodes a request frame's body and checks its version,
// operation and TTL; every refusal is ErrBadRequest.
func ParseRequest(b []byte) (*Request, error) {
	var req Request
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if req.V != WireVersion {
		return nil, fmt.Errorf("%w: message version %d; this control plane speaks version %d (update the node or the control plane)", ErrBadRequest, req.V, WireVersion)
	}
	switch req.Op {
	case OpRegister, OpLookup, OpUsage, OpRevoke, OpNetList:
	default:
		return nil, fmt.Errorf("%w: unknown operation %q", ErrBadRequest, req.Op)
	}
	if req.TTL < 0 {
		return nil, fmt.Errorf("%w: negative ttl", ErrBadRequest)
	}
	return &req, nil
}
