package gateway

import (
	"bytes"
	"fmt"
	"strconv"
)

// Reasons are the REASON of a [FAIL:REASON] reply.
const (
	ReasonUnknown  = "UNKNOWN"  // the command is not one the server knows
	ReasonFields   = "FIELDS"   // a field is missing, extra or malformed
	ReasonTooLong  = "TOOLONG"  // the line is longer than Server.MaxLine; the connection closes
	ReasonKey      = "KEY"      // the account key (or session / packet key) is wrong
	ReasonNoID     = "NOID"     // the connection has no id (TCP:ID first) or names another id
	ReasonOffline  = "OFFLINE"  // the receiver is not connected here and no push server took it
	ReasonBusy     = "BUSY"     // the receiver's queue is full; retry later
	ReasonNoRouter = "NOROUTER" // no mesh router of that name
	ReasonNoParent = "NOPARENT" // the sender has no parent in the tree
	ReasonSession  = "SESSION"  // DEACTIVATE without an active session
	ReasonTooMany  = "TOOMANY"  // the server holds as many connections as it may (in all, or from this IP); the connection closes
)

// Protocols: the first field of a line.
const (
	ProtoTCP      = "TCP"      // commands; the third field is the account key (or session key)
	ProtoSTCP     = "STCP"     // session key, MD5 form
	ProtoDSTCP    = "DSTCP"    // per-packet key, MD5 form
	ProtoSTCP256  = "STCP256"  // session key, HMAC-SHA256 form
	ProtoDSTCP256 = "DSTCP256" // per-packet key, HMAC-SHA256 form
)

// Verbs: the second field of a TCP line, the third of an STCP line.
const (
	VerbID         = "ID"
	VerbGID        = "GID"
	VerbREMID      = "REMID"
	VerbPUSH       = "PUSH"
	VerbTIME       = "TIME"
	VerbRAW        = "RAW"
	VerbACTIVATE   = "ACTIVATE"
	VerbDEACTIVATE = "DEACTIVATE"
)

// Push groups: the field after the key of a PUSH.
const (
	GroupRID       = "RID"
	GroupFriends   = "FRIENDS"
	GroupChilds    = "CHILDS"
	GroupAllChilds = "ALLCHILDS"
	GroupParent    = "PARENT"
	GroupRouter    = "RO"
)

// Field limits.
const (
	MaxKeyLen = 128 // account keys, session and packet keys (hex), client randoms
	MaxIDLen  = 64  // ids, aliases, router names
)

// Command is one parsed line.
type Command struct {
	Proto string // ProtoTCP, ProtoSTCP, ...
	Verb  string // VerbID, ...
	Key   string // TCP: the key field as sent
	ID    string // TCP ID and RAW: the id; STCP*: the connection's own id
	Group string // PUSH: GroupRID, ...
	// Target is the id (or alias) of a RID push and the router of an RO push.
	Target string
	// Offset is the TIME offset in minutes east of UTC.
	Offset    int
	ClientRnd string // ACTIVATE: the optional client random
	Data      []byte // PUSH: the payload, everything after its field (may hold ':')
	// Signed is everything after "TCP:<verb>:<key>:" (empty when nothing
	// follows the key): the data a DSTCP per-packet key covers.
	Signed []byte
}

// ParseError is a line the server refuses; Reason is what the client gets.
type ParseError struct {
	Reason string
	Msg    string
}

func (e *ParseError) Error() string { return "gateway: " + e.Msg + " (" + e.Reason + ")" }

func errf(reason, format string, args ...any) error {
	return &ParseError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// ParseLine parses one line without its terminator ("\n"; the server also
// drops a "\r" before it). The returned Command's byte slices alias line.
func ParseLine(line []byte) (Command, error) {
	proto, rest, _ := bytes.Cut(line, []byte{':'})
	switch string(proto) {
	case ProtoTCP:
		return parseTCP(rest)
	case ProtoSTCP, ProtoDSTCP, ProtoSTCP256, ProtoDSTCP256:
		return parseSession(string(proto), rest)
	}
	return Command{}, errf(ReasonUnknown, "unknown protocol %.16q", proto)
}

func parseTCP(b []byte) (Command, error) {
	c := Command{Proto: ProtoTCP}
	verb, b, ok := bytes.Cut(b, []byte{':'})
	switch v := string(verb); v {
	case VerbID, VerbGID, VerbREMID, VerbPUSH, VerbTIME, VerbRAW:
		c.Verb = v
	default:
		return c, errf(ReasonUnknown, "unknown command %.16q", verb)
	}
	if !ok {
		return c, errf(ReasonFields, "%s: no key", c.Verb)
	}
	key, rest, more := bytes.Cut(b, []byte{':'})
	if !validKey(key) {
		return c, errf(ReasonFields, "%s: malformed key", c.Verb)
	}
	c.Key = string(key)
	c.Signed = rest
	switch c.Verb {
	case VerbGID, VerbREMID:
		if more {
			return c, errf(ReasonFields, "%s: extra fields", c.Verb)
		}
	case VerbID, VerbRAW:
		if !more || !validID(rest) {
			return c, errf(ReasonFields, "%s: missing or malformed id", c.Verb)
		}
		c.ID = string(rest)
	case VerbTIME:
		if !more {
			return c, errf(ReasonFields, "TIME: no offset")
		}
		off, err := parseOffset(rest)
		if err != nil {
			return c, err
		}
		c.Offset = off
	case VerbPUSH:
		if !more {
			return c, errf(ReasonFields, "PUSH: no group")
		}
		group, rest, ok := bytes.Cut(rest, []byte{':'})
		if !ok {
			return c, errf(ReasonFields, "PUSH: no data")
		}
		switch g := string(group); g {
		case GroupRID, GroupRouter:
			c.Group = g
			target, data, ok := bytes.Cut(rest, []byte{':'})
			if !ok || !validID(target) {
				return c, errf(ReasonFields, "PUSH %s: missing or malformed target", g)
			}
			c.Target, c.Data = string(target), data
		case GroupFriends, GroupChilds, GroupAllChilds, GroupParent:
			c.Group, c.Data = g, rest
		default:
			return c, errf(ReasonFields, "PUSH: unknown group %.16q", group)
		}
	}
	return c, nil
}

func parseSession(proto string, b []byte) (Command, error) {
	c := Command{Proto: proto}
	id, b, ok := bytes.Cut(b, []byte{':'})
	if !ok || !validID(id) {
		return c, errf(ReasonFields, "%s: missing or malformed id", proto)
	}
	c.ID = string(id)
	verb, rnd, more := bytes.Cut(b, []byte{':'})
	switch string(verb) {
	case VerbACTIVATE:
		c.Verb = VerbACTIVATE
		if more {
			if !validKey(rnd) {
				return c, errf(ReasonFields, "%s: malformed client random", proto)
			}
			c.ClientRnd = string(rnd)
		}
	case VerbDEACTIVATE:
		c.Verb = VerbDEACTIVATE
		if more {
			return c, errf(ReasonFields, "%s: extra fields", proto)
		}
	default:
		return c, errf(ReasonUnknown, "%s: unknown command %.16q", proto, verb)
	}
	return c, nil
}

// parseOffset parses "±hh:mm" (hh ≤ 14, mm ≤ 59) into minutes.
func parseOffset(b []byte) (int, error) {
	if len(b) != 6 || (b[0] != '+' && b[0] != '-') || b[3] != ':' ||
		!digits(b[1:3]) || !digits(b[4:6]) {
		return 0, errf(ReasonFields, "TIME: offset %.16q is not ±hh:mm", b)
	}
	h, _ := strconv.Atoi(string(b[1:3]))
	m, _ := strconv.Atoi(string(b[4:6]))
	if h > 14 || m > 59 {
		return 0, errf(ReasonFields, "TIME: offset %q out of range", b)
	}
	off := h*60 + m
	if b[0] == '-' {
		off = -off
	}
	return off, nil
}

func formatOffset(min int) string {
	sign := byte('+')
	if min < 0 {
		sign, min = '-', -min
	}
	return fmt.Sprintf("%c%02d:%02d", sign, min/60, min%60)
}

func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// validID reports whether b is an id, alias or router name: 1 to MaxIDLen
// bytes of letters, digits, '.', '_', '-' and '@'.
func validID(b []byte) bool { return len(b) <= MaxIDLen && token(b) }

// validKey reports whether b is a key or random: 1 to MaxKeyLen bytes of
// the same alphabet as ids.
func validKey(b []byte) bool { return len(b) <= MaxKeyLen && token(b) }

func token(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '.', c == '_', c == '-', c == '@':
		default:
			return false
		}
	}
	return true
}

// String formats c as the line a client sends, without the terminator.
// ParseLine(c.String()) gives c back (with Signed recomputed).
func (c Command) String() string {
	if c.Proto != ProtoTCP {
		s := c.Proto + ":" + c.ID + ":" + c.Verb
		if c.ClientRnd != "" {
			s += ":" + c.ClientRnd
		}
		return s
	}
	s := "TCP:" + c.Verb + ":" + c.Key
	switch c.Verb {
	case VerbID, VerbRAW:
		s += ":" + c.ID
	case VerbTIME:
		s += ":" + formatOffset(c.Offset)
	case VerbPUSH:
		s += ":" + c.Group
		if c.Group == GroupRID || c.Group == GroupRouter {
			s += ":" + c.Target
		}
		s += ":" + string(c.Data)
	}
	return s
}
