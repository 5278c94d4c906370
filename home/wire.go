package home

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The compact encoding of ServiceCommand's request and reply, version 1.
// A client sends it; a host answers a request in the encoding it came in,
// so JSON (a request starting with '{', from older clients) stays
// accepted. Every string is a uvarint length then its bytes, every count a
// uvarint, bounded by the bytes left.
//
//	request  = 0x01 count(actions) { resource capability command count(args) { name value } }
//	reply    = 0x01 count(results) { flags(bit 0: ok) device code error varint(took ns) count(changes) { change } }
//	change   = resource capability attribute value type device time
//	value    = 0x00 (null) | 0x01 (false) | 0x02 (true) | 0x03 varint | 0x04 float64 (8 bytes, little-endian bits) | 0x05 string | 0x06 JSON
//	time     = 0x00 (zero) | 0x01 varint(unix seconds) uvarint(nanoseconds)
const wireV1 = 0x01

// Value tags of the compact encoding.
const (
	tagNull = iota
	tagFalse
	tagTrue
	tagInt
	tagFloat
	tagString
	tagJSON
)

var errWire = errors.New("malformed compact encoding")

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, tagNull)
	case bool:
		if x {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case int:
		return binary.AppendVarint(append(b, tagInt), int64(x))
	case int64:
		return binary.AppendVarint(append(b, tagInt), x)
	case float64:
		return binary.LittleEndian.AppendUint64(append(b, tagFloat), math.Float64bits(x))
	case string:
		return appendString(append(b, tagString), x)
	default:
		j, err := json.Marshal(x)
		if err != nil {
			return append(b, tagNull)
		}
		return appendString(append(b, tagJSON), string(j))
	}
}

// encodeCmdRequest appends the compact encoding of a command request.
func encodeCmdRequest(b []byte, actions []Action) []byte {
	b = append(b, wireV1)
	b = binary.AppendUvarint(b, uint64(len(actions)))
	for _, a := range actions {
		b = appendString(b, a.Resource)
		b = appendString(b, a.Capability)
		b = appendString(b, a.Command)
		b = binary.AppendUvarint(b, uint64(len(a.Args)))
		for k, v := range a.Args {
			b = appendString(b, k)
			b = appendValue(b, v)
		}
	}
	return b
}

// encodeCmdReply appends the compact encoding of a command reply.
func encodeCmdReply(b []byte, results []Result) []byte {
	b = append(b, wireV1)
	b = binary.AppendUvarint(b, uint64(len(results)))
	for _, r := range results {
		var flags byte
		if r.OK {
			flags = 1
		}
		b = append(b, flags)
		b = appendString(b, r.Device)
		b = appendString(b, string(r.Code))
		b = appendString(b, r.Error)
		b = binary.AppendVarint(b, int64(r.Took))
		b = binary.AppendUvarint(b, uint64(len(r.Changes)))
		for _, c := range r.Changes {
			b = appendString(b, c.Resource)
			b = appendString(b, c.Capability)
			b = appendString(b, c.Attribute)
			b = appendValue(b, c.Value)
			b = appendString(b, string(c.Type))
			b = appendString(b, c.Device)
			if c.Time.IsZero() {
				b = append(b, 0)
			} else {
				b = append(b, 1)
				b = binary.AppendVarint(b, c.Time.Unix())
				b = binary.AppendUvarint(b, uint64(c.Time.Nanosecond()))
			}
		}
	}
	return b
}

// reader reads the compact encoding; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errWire
	}
	r.b = nil
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a count of items that take at least min bytes each.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail()
		return 0
	}
	return int(n)
}

func (r *reader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) value() any {
	switch r.byte() {
	case tagNull:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt:
		return r.varint()
	case tagFloat:
		if len(r.b) < 8 {
			r.fail()
			return nil
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
		return f
	case tagString:
		return r.string()
	case tagJSON:
		var v any
		if json.Unmarshal([]byte(r.string()), &v) != nil {
			r.fail()
		}
		return v
	default:
		r.fail()
		return nil
	}
}

// decodeCmdRequest reads a compact command request (its version byte
// included). It checks the encoding only: the actions' names and
// arguments are checked per action, as for JSON.
func decodeCmdRequest(b []byte) ([]Action, error) {
	if len(b) == 0 || b[0] != wireV1 {
		return nil, errWire
	}
	r := reader{b: b[1:]}
	n := r.count(4)
	if n == 0 || n > maxActions {
		return nil, fmt.Errorf("a command request holds 1 to %d actions, not %d", maxActions, n)
	}
	out := make([]Action, n)
	for i := range out {
		a := &out[i]
		a.Resource, a.Capability, a.Command = r.string(), r.string(), r.string()
		if na := r.count(2); na > 0 {
			a.Args = make(map[string]any, min(na, 32))
			for range na {
				k := r.string()
				a.Args[k] = r.value()
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the actions: %w", len(r.b), errWire)
	}
	return out, nil
}

// decodeCmdReply reads a compact command reply of want results.
func decodeCmdReply(b []byte, want int) ([]Result, error) {
	if len(b) == 0 || b[0] != wireV1 {
		return nil, errWire
	}
	r := reader{b: b[1:]}
	n := r.count(6)
	if r.err != nil || n != want {
		return nil, fmt.Errorf("%d results for %d actions: %w", n, want, errWire)
	}
	out := make([]Result, n)
	for i := range out {
		res := &out[i]
		res.OK = r.byte()&1 != 0
		res.Device, res.Code, res.Error = r.string(), Code(r.string()), r.string()
		res.Took = time.Duration(r.varint())
		if nc := r.count(9); nc > 0 {
			res.Changes = make([]Change, nc)
			for j := range res.Changes {
				c := &res.Changes[j]
				c.Resource, c.Capability, c.Attribute = r.string(), r.string(), r.string()
				c.Value = r.value()
				c.Type, c.Device = Type(r.string()), r.string()
				switch r.byte() {
				case 0:
				case 1:
					sec, ns := r.varint(), r.uvarint()
					if ns >= 1e9 {
						r.fail()
					}
					c.Time = time.Unix(sec, int64(ns))
				default:
					r.fail()
				}
			}
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%d bytes after the results: %w", len(r.b), errWire)
	}
	return out, nil
}

// appendChangeJSON appends c as json.Marshal would write it (the payload
// of a published change; watchers and other clients read it as JSON),
// without reflection for the values hosts publish.
func appendChangeJSON(b []byte, c Change) []byte {
	if y := c.Time.Year(); y < 0 || y > 9999 {
		j, _ := json.Marshal(c) // json's error for such a time, kept as is
		return append(b, j...)
	}
	b = append(b, `{"resource":`...)
	b = appendJSONString(b, c.Resource)
	b = append(b, `,"capability":`...)
	b = appendJSONString(b, c.Capability)
	b = append(b, `,"attribute":`...)
	b = appendJSONString(b, c.Attribute)
	b = append(b, `,"value":`...)
	switch v := c.Value.(type) {
	case nil:
		b = append(b, "null"...)
	case bool:
		b = strconv.AppendBool(b, v)
	case int64:
		b = strconv.AppendInt(b, v, 10)
	case int:
		b = strconv.AppendInt(b, int64(v), 10)
	case string:
		b = appendJSONString(b, v)
	default:
		j, err := json.Marshal(v)
		if err != nil {
			j, _ = json.Marshal(c)
			return append(b[:0], j...)
		}
		b = append(b, j...)
	}
	if c.Type != "" {
		b = append(b, `,"type":`...)
		b = appendJSONString(b, string(c.Type))
	}
	if c.Device != "" {
		b = append(b, `,"device":`...)
		b = appendJSONString(b, c.Device)
	}
	b = append(b, `,"time":"`...)
	b = c.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if c.Retained {
		b = append(b, `,"retained":true`...)
	}
	return append(b, '}')
}

// appendJSONString appends s quoted as json.Marshal quotes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
