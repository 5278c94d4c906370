package rpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	lenframe "github.com/coconet/coconet/internal/frame"
)

// The wire format of "/coco/rpc/1.0.0". Both directions carry frames:
//
//	frame   = uvarint(len(body)) body
//	body    = kind(1 byte) uvarint(id) rest
//	request = kind 1, rest = uvarint(timeout µs, 0 = none) uvarint(len(service)) service payload
//	reply   = kind 2, rest = status(1 byte) data (the payload, or an error message)
//	cancel  = kind 3, rest empty: the caller gave up on request id
//
// A caller numbers its requests on each stream; replies may come in any
// order. The format is pinned by TestWireGolden; a change needs a new
// protocol ID.
const (
	kindRequest = 1
	kindReply   = 2
	kindCancel  = 3
)

// Reply statuses.
const (
	statusOK       = 0
	statusUnknown  = 1 // no such service
	statusDenied   = 2 // not a member, or Authorize refused
	statusFailed   = 3 // the handler returned an error; data is its message
	statusDeadline = 4 // the deadline passed on the server
	statusBad      = 5 // malformed or oversized request; data says why
)

// MaxPayload is the largest request or reply payload.
const MaxPayload = 16 << 20

// MaxService is the longest service name.
const MaxService = 255

// maxFrame bounds what a peer can make us allocate.
const maxFrame = MaxPayload + MaxService + 64

// largePayload is the size above which a request gets its own stream.
const largePayload = 64 << 10

type frame struct {
	kind    byte
	id      uint64
	timeout time.Duration // request
	service string        // request
	status  byte          // reply
	data    []byte        // request payload, reply payload or message
}

var errFrame = errors.New("malformed frame")

// frameSizeError is a frame that declares more than maxFrame bytes.
type frameSizeError struct{ size uint64 }

func (e *frameSizeError) Error() string {
	return fmt.Sprintf("frame of %d bytes is over the %d byte limit", e.size, maxFrame)
}

// Is makes a frameSizeError match lenframe.ErrTooLarge, the one sentinel
// for a frame over its limit.
func (e *frameSizeError) Is(target error) bool { return target == lenframe.ErrTooLarge }

// parseFrame decodes one frame body. data aliases body.
func parseFrame(body []byte) (frame, error) {
	var f frame
	if len(body) < 2 {
		return f, errFrame
	}
	f.kind = body[0]
	id, n := binary.Uvarint(body[1:])
	if n <= 0 {
		return f, errFrame
	}
	f.id = id
	rest := body[1+n:]
	switch f.kind {
	case kindRequest:
		us, n := binary.Uvarint(rest)
		if n <= 0 || us > uint64(24*time.Hour/time.Microsecond) {
			return f, errFrame
		}
		f.timeout = time.Duration(us) * time.Microsecond
		rest = rest[n:]
		l, n := binary.Uvarint(rest)
		if n <= 0 || l > MaxService || l > uint64(len(rest)-n) {
			return f, errFrame
		}
		f.service = string(rest[n : n+int(l)])
		f.data = rest[n+int(l):]
	case kindReply:
		if len(rest) < 1 || rest[0] > statusBad {
			return f, errFrame
		}
		f.status = rest[0]
		f.data = rest[1:]
	case kindCancel:
		if len(rest) != 0 {
			return f, errFrame
		}
	default:
		return f, fmt.Errorf("%w: kind %d", errFrame, f.kind)
	}
	return f, nil
}

// appendFrame appends f with its length prefix to b.
func appendFrame(b []byte, f *frame) []byte {
	var hdr [3*binary.MaxVarintLen64 + 2]byte
	h := hdr[:0]
	h = append(h, f.kind)
	h = binary.AppendUvarint(h, f.id)
	switch f.kind {
	case kindRequest:
		us := uint64(0)
		if f.timeout > 0 {
			us = uint64(max(f.timeout/time.Microsecond, 1))
		}
		h = binary.AppendUvarint(h, us)
		h = binary.AppendUvarint(h, uint64(len(f.service)))
	case kindReply:
		h = append(h, f.status)
	}
	size := len(h) + len(f.data)
	if f.kind == kindRequest {
		size += len(f.service)
	}
	b = binary.AppendUvarint(b, uint64(size))
	b = append(b, h...)
	if f.kind == kindRequest {
		b = append(b, f.service...)
	}
	if f.kind != kindCancel {
		b = append(b, f.data...)
	}
	return b
}

// readFrame reads one frame from r.
func readFrame(r *bufio.Reader) (frame, error) {
	l, err := binary.ReadUvarint(r)
	if err != nil {
		return frame{}, err
	}
	if l > maxFrame {
		return frame{}, &frameSizeError{l}
	}
	body := make([]byte, l)
	if _, err := io.ReadFull(r, body); err != nil {
		return frame{}, err
	}
	return parseFrame(body)
}
