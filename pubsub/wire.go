package pubsub

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	lenframe "github.com/coconet/coconet/internal/frame"
)

// Protocol IDs. Versioned: a new wire format gets a new ID.
const (
	// ProtoSubs carries one announcement of a node's subscription patterns
	// (subscriber → publisher), answered by one byte once applied.
	ProtoSubs = "/coco/pubsub/subs/1.0.0"
	// ProtoMsg is the long-lived stream from a publisher to one subscriber
	// node: each side says hello (its session), then the publisher sends
	// message and lag frames and the subscriber cumulative acks.
	ProtoMsg = "/coco/pubsub/msg/1.0.0"
)

// MaxMessage is the largest payload Publish accepts.
const MaxMessage = 1 << 20

// maxFrame bounds every frame body read from a peer.
const maxFrame = MaxMessage + MaxTopic + 64

// maxPatterns bounds the subscriptions in one announcement.
const maxPatterns = 4096

// Every frame is a uvarint body length, then the body, whose first byte is
// the frame type.
const (
	// publisher → subscriber on ProtoMsg
	frameHello = 1 // uvarint session; also the subscriber's first frame, so the publisher knows which process it talks to
	frameMsg   = 2 // flags, uvarint seq, [uvarint sub if flagTargeted], uvarint topic length, topic, data
	frameLag   = 3 // uvarint count, count × (uvarint pattern length, pattern, uvarint dropped)
	// subscriber → publisher on ProtoMsg
	frameAck = 4 // uvarint seq: every message up to seq was received
	// subscriber → publisher on ProtoSubs
	frameSubs = 5 // uvarint session, uvarint gen, uvarint count, count × (uvarint id, qos byte, uvarint length, pattern)
)

// Message flags.
const (
	flagQoS1     = 1 << 0
	flagRetained = 1 << 1
	flagTargeted = 1 << 2 // for one subscription only (a retained value for a new subscription)
	flagsKnown   = flagQoS1 | flagRetained | flagTargeted
)

var errShort = errors.New("truncated frame")

// reader decodes the fields of one frame body.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.err = errShort
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bytes(max int) []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if n > uint64(max) {
		r.err = fmt.Errorf("field of %d bytes over the %d byte limit", n, max)
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errShort
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

// msgFrame is a decoded frameMsg; topic and data alias the frame body.
type msgFrame struct {
	flags byte
	seq   uint64
	sub   uint64
	topic []byte
	data  []byte
}

// parseMsg decodes a message frame. A topic equal to known (the previous
// frame's, already checked) is not validated again.
func parseMsg(body []byte, known string) (m msgFrame, err error) {
	r := reader{b: body}
	if r.byte() != frameMsg {
		return m, errors.New("pubsub: not a message frame")
	}
	m.flags = r.byte()
	m.seq = r.uvarint()
	if m.flags&flagTargeted != 0 {
		m.sub = r.uvarint()
	}
	m.topic = r.bytes(MaxTopic)
	if r.err != nil {
		return m, fmt.Errorf("pubsub: message frame: %w", r.err)
	}
	if m.flags&^flagsKnown != 0 {
		return m, fmt.Errorf("pubsub: message frame: unknown flags %#x", m.flags)
	}
	if string(m.topic) != known || known == "" {
		if err := ValidTopic(string(m.topic)); err != nil {
			return m, err
		}
	}
	m.data = r.b
	if len(m.data) > MaxMessage {
		return m, fmt.Errorf("pubsub: message of %d bytes over the limit", len(m.data))
	}
	return m, nil
}

// appendMsgHeader appends a message frame up to (not including) its data.
func appendMsgHeader(dst []byte, flags byte, seq, sub uint64, topic string, dataLen int) []byte {
	n := 2 + uvarintLen(seq) + uvarintLen(uint64(len(topic))) + len(topic) + dataLen
	if flags&flagTargeted != 0 {
		n += uvarintLen(sub)
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, frameMsg, flags)
	dst = binary.AppendUvarint(dst, seq)
	if flags&flagTargeted != 0 {
		dst = binary.AppendUvarint(dst, sub)
	}
	dst = binary.AppendUvarint(dst, uint64(len(topic)))
	return append(dst, topic...)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// frame wraps a body with its length prefix.
func frame(body []byte) []byte {
	out := binary.AppendUvarint(make([]byte, 0, len(body)+4), uint64(len(body)))
	return append(out, body...)
}

func helloFrame(session uint64) []byte {
	return frame(binary.AppendUvarint([]byte{frameHello}, session))
}

func parseHello(body []byte) (uint64, error) {
	r := reader{b: body}
	if r.byte() != frameHello {
		return 0, errors.New("pubsub: stream did not start with a hello frame")
	}
	s := r.uvarint()
	if r.err != nil {
		return 0, fmt.Errorf("pubsub: hello frame: %w", r.err)
	}
	return s, nil
}

func ackFrame(seq uint64) []byte {
	return frame(binary.AppendUvarint([]byte{frameAck}, seq))
}

func parseAck(body []byte) (uint64, error) {
	r := reader{b: body}
	if r.byte() != frameAck {
		return 0, fmt.Errorf("pubsub: unexpected frame type %d from a subscriber", body[0])
	}
	s := r.uvarint()
	if r.err != nil {
		return 0, fmt.Errorf("pubsub: ack frame: %w", r.err)
	}
	return s, nil
}

type lagEntry struct {
	pattern string
	n       uint64
}

func lagFrame(lags []lagEntry) []byte {
	b := []byte{frameLag}
	b = binary.AppendUvarint(b, uint64(len(lags)))
	for _, l := range lags {
		b = binary.AppendUvarint(b, uint64(len(l.pattern)))
		b = append(b, l.pattern...)
		b = binary.AppendUvarint(b, l.n)
	}
	return frame(b)
}

func parseLag(body []byte) ([]lagEntry, error) {
	r := reader{b: body}
	if r.byte() != frameLag {
		return nil, errors.New("pubsub: not a lag frame")
	}
	n := r.uvarint()
	if n > maxPatterns {
		return nil, fmt.Errorf("pubsub: lag frame lists %d patterns, over the %d limit", n, maxPatterns)
	}
	var out []lagEntry
	for i := uint64(0); i < n && r.err == nil; i++ {
		p := string(r.bytes(MaxTopic))
		c := r.uvarint()
		if r.err == nil {
			out = append(out, lagEntry{p, c})
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("pubsub: lag frame: %w", r.err)
	}
	return out, nil
}

// patSub is one subscription as announced: its ID on the subscriber node,
// its QoS and its pattern.
type patSub struct {
	id      uint64
	qos     QoS
	pattern string
}

type announcement struct {
	session, gen uint64
	subs         []patSub
}

func subsFrame(a announcement) []byte {
	b := []byte{frameSubs}
	b = binary.AppendUvarint(b, a.session)
	b = binary.AppendUvarint(b, a.gen)
	b = binary.AppendUvarint(b, uint64(len(a.subs)))
	for _, s := range a.subs {
		b = binary.AppendUvarint(b, s.id)
		b = append(b, byte(s.qos))
		b = binary.AppendUvarint(b, uint64(len(s.pattern)))
		b = append(b, s.pattern...)
	}
	return frame(b)
}

func parseSubs(body []byte) (a announcement, err error) {
	r := reader{b: body}
	if r.byte() != frameSubs {
		return a, errors.New("pubsub: not a subscriptions frame")
	}
	a.session = r.uvarint()
	a.gen = r.uvarint()
	n := r.uvarint()
	if n > maxPatterns {
		return a, fmt.Errorf("pubsub: %d subscriptions announced, over the %d limit", n, maxPatterns)
	}
	for i := uint64(0); i < n && r.err == nil; i++ {
		var s patSub
		s.id = r.uvarint()
		q := r.byte()
		s.pattern = string(r.bytes(MaxTopic))
		if r.err != nil {
			break
		}
		if q > byte(QoS1) {
			return a, fmt.Errorf("pubsub: subscription %d has QoS %d; want 0 or 1", s.id, q)
		}
		s.qos = QoS(q)
		if err := ValidPattern(s.pattern); err != nil {
			return a, err
		}
		a.subs = append(a.subs, s)
	}
	if r.err != nil {
		return a, fmt.Errorf("pubsub: subscriptions frame: %w", r.err)
	}
	if len(r.b) != 0 {
		return a, fmt.Errorf("pubsub: subscriptions frame: %d trailing bytes", len(r.b))
	}
	return a, nil
}

// readFrame reads one frame body. If it fits in br's buffer the body aliases
// it (valid until the next read; call br.Discard(len) after use: done
// reports how many bytes to discard); otherwise it is read into a new slice.
func readFrame(br *bufio.Reader) (body []byte, discard int, err error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		return nil, 0, err
	}
	if n == 0 {
		return nil, 0, errors.New("pubsub: empty frame")
	}
	if n > maxFrame {
		return nil, 0, fmt.Errorf("pubsub: %w: a frame of %d bytes, more than the %d allowed", lenframe.ErrTooLarge, n, maxFrame)
	}
	if int(n) <= br.Size() {
		b, err := br.Peek(int(n))
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, 0, err
		}
		return b, int(n), nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(br, b); err != nil {
		return nil, 0, err
	}
	return b, 0, nil
}
