package ota

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/coconet/coconet/internal/frame"
)

// Service names on a node.
const (
	// ServiceImage is the stream service images travel on.
	ServiceImage = "ota.image/1"
	// ServiceStatus is the request an Updater answers with its Status
	// (JSON).
	ServiceStatus = "ota.status"
)

// maxFrame bounds a protocol frame.
const maxFrame = 4 << 10

// fetchRequest asks for an image from an offset.
type fetchRequest struct {
	SHA256 string `json:"sha256"`
	Offset int64  `json:"offset"`
}

// fetchReply announces the image's size (the bytes from the offset follow)
// or refuses.
type fetchReply struct {
	Size  int64  `json:"size,omitempty"`
	Error string `json:"error,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return frame.Write(w, b)
}

// readFrame reads one frame's bytes, of at most maxFrame (over it is
// frame.ErrTooLarge).
func readFrame(r *bufio.Reader) ([]byte, error) {
	return frame.Read(r, maxFrame)
}

func decodeRequest(b []byte) (fetchRequest, error) {
	var q fetchRequest
	if err := json.Unmarshal(b, &q); err != nil {
		return q, fmt.Errorf("bad request: %w", err)
	}
	if !isSHA256(q.SHA256) {
		return q, errors.New("bad request: sha256 is not 64 lowercase hex digits")
	}
	if q.Offset < 0 || q.Offset > MaxImageSize {
		return q, fmt.Errorf("bad request: offset %d out of range", q.Offset)
	}
	return q, nil
}

func decodeReply(b []byte) (fetchReply, error) {
	var r fetchReply
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("bad reply: %w", err)
	}
	if r.Error == "" && (r.Size <= 0 || r.Size > MaxImageSize) {
		return r, fmt.Errorf("bad reply: size %d out of range", r.Size)
	}
	if len(r.Error) > 512 {
		r.Error = r.Error[:512]
	}
	return r, nil
}
