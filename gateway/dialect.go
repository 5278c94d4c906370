package gateway

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is the wire protocol a Server speaks to devices.
type Dialect int

const (
	// DialectCoconet is coconet's newline-framed dialect: every command
	// and reply ends with "\n", replies are [OK:…]/[FAIL:REASON] with the
	// Reason constants, and ids are case-sensitive. The zero value.
	DialectCoconet Dialect = iota
	// DialectP2Pcluster is the wire protocol of the original P2Pcluster
	// server (github.com/workaholic2002x/P2Pcluster): commands need no
	// terminator, replies and pushes have none, verbs, keys, ids, group
	// and router names are case-insensitive, and the replies are the
	// original's. `coco push-server` speaks it by default.
	DialectP2Pcluster
)

// ParseDialect parses a dialect name ("p2pcluster" or "coconet").
func ParseDialect(s string) (Dialect, error) {
	switch strings.ToLower(s) {
	case "p2pcluster":
		return DialectP2Pcluster, nil
	case "coconet":
		return DialectCoconet, nil
	}
	return 0, fmt.Errorf("gateway: unknown dialect %q; use p2pcluster or coconet", s)
}

func (d Dialect) String() string {
	if d == DialectP2Pcluster {
		return "p2pcluster"
	}
	return "coconet"
}

// Defaults of the P2Pcluster dialect.
const (
	// DefaultReadPause is how long the P2Pcluster dialect waits for more
	// bytes of a command that came without a terminator before it takes
	// what came as the whole command.
	DefaultReadPause = 25 * time.Millisecond
	// DefaultSyncEvery is how often the P2Pcluster dialect writes
	// [SYNC:dd.MM.yyyy_HH:mm:ss] to a registered device that sent nothing.
	DefaultSyncEvery = 300 * time.Second
	// DefaultRegisterTimeout is how long a P2Pcluster connection has to
	// register an id (TCP:ID) before it is closed, as the original.
	DefaultRegisterTimeout = 60 * time.Second
	// retdataLen is how many pushes RETDATA remembers, as the original.
	retdataLen = 5
)

// The P2Pcluster dialect's replies that are not [OK:<data>].
const (
	p2pUnknown      = "[FAIL:Unknown Command]"
	p2pInvalid      = "[FAIL:Invalid Command]"
	p2pUnknownGroup = "[FAIL:UNKNOWN_CMD]"
	p2pFormat       = "[FAIL:Invalid Format]"
	p2pBadFormat    = "[FAIL:INVALID_FORMAT]"
	p2pBadKey       = "[FAIL:INVALID_KEY]"
	p2pBadUser      = "[FAIL:INVALID_USERID]"
	p2pNoID         = "FAIL:NOID"
	p2pNoRouter     = "FAIL:NO_ROUTER"
	p2pNodeExists   = "[FAIL:NODEEXIST]"
	p2pKeyOverride  = "[FAIL:KEY_OVERRIDE]"
	p2pBadID        = "[FAIL:ID]"
	p2pDataSent     = "[OK:DATA_SENT]"
	p2pRemID        = "[FAIL:REM_ID]"
	p2pRemLink      = "[FAIL:REM_LINK]"
	p2pNoGroupID    = "[FAIL:NO_ID]"
	p2pNoParent     = "[FAIL:NO_PARENT]"
	p2pRemoved      = "[OK:NODEREMOVED]"
	p2pLinkSync     = "[OK:LINK_SYNC]"
	p2pRawNotice    = "PUSHRAW:"
	p2pTooLong      = "[FAIL:TOO_LONG]"
	p2pTooMany      = "[FAIL:TOO_MANY]"
	p2pFormatExc    = "[FAIL:FORMAT EXCEPTION!]"
	p2pMailSent     = "[OK:MAIL_SENT]"
	p2pMailBadTo    = "[FAIL:INVALID ID]"
	p2pMailFormat   = "[FAIL:INVAILD_FORMAT]"
	p2pMailOff      = "[FAIL:MAIL_DISABLED]"
	p2pMailLimit    = "[FAIL:MAIL_LIMIT]"
	p2pSSL          = "HTTP/1.1 403 SSL Required\n"
)

// p2pReason maps a coconet Reason to the P2Pcluster dialect's reply.
var p2pReason = map[string]string{
	ReasonUnknown:  p2pUnknown,
	ReasonFields:   p2pBadFormat,
	ReasonTooLong:  p2pTooLong,
	ReasonKey:      p2pBadKey,
	ReasonNoID:     p2pNoID,
	ReasonOffline:  p2pRemID,
	ReasonBusy:     p2pRemLink,
	ReasonNoRouter: p2pNoRouter,
	ReasonNoParent: p2pNoParent,
	ReasonTooMany:  p2pTooMany,
}

// replyLine formats a reply in the server's dialect.
func (s *Server) replyLine(ok bool, msg string) []byte {
	if s.Dialect != DialectP2Pcluster {
		return replyLine(ok, msg)
	}
	if ok {
		return []byte("[OK:" + msg + "]")
	}
	if r, found := p2pReason[msg]; found {
		return []byte(r)
	}
	return []byte("[FAIL:" + msg + "]")
}

// pushLine is what a device receives for a push, in the server's dialect.
func (s *Server) pushLine(data []byte) []byte {
	if s.Dialect != DialectP2Pcluster {
		return pushLine(data)
	}
	return append([]byte("PUSH:"), data...)
}

// pushReplyFor is the reply to a push of group that n of total receivers
// took (busy were too busy).
func (s *Server) pushReplyFor(group string, n, total, busy int) []byte {
	if s.Dialect != DialectP2Pcluster {
		return pushReply(group, n, busy)
	}
	switch {
	case group == GroupRID || group == GroupParent:
		if n > 0 {
			return []byte(p2pDataSent)
		}
		if busy > 0 {
			return []byte(p2pRemLink)
		}
		return []byte(p2pRemID)
	case n == 0:
		return []byte(p2pNoGroupID)
	case n >= total:
		return []byte("[OK:ALL_" + strconv.Itoa(n) + "]")
	}
	return []byte("[OK:" + strconv.Itoa(n) + "/" + strconv.Itoa(total) + "]")
}

// rawWaitReply is the reply to a first ask for a raw channel with peer.
func (s *Server) rawWaitReply(peer string) []byte {
	if s.Dialect == DialectP2Pcluster {
		return []byte(p2pLinkSync)
	}
	return replyLine(true, "WAIT:"+peer)
}

// rawNotice tells a device that from asks it for a raw channel.
func (s *Server) rawNotice(from string) []byte {
	if s.Dialect == DialectP2Pcluster {
		return []byte(p2pRawNotice)
	}
	return []byte("RAW:" + from + "\n")
}

// rawPairedReply is what a device gets when its raw channel with peer
// runs; second says it completed the pairing by asking second. The
// P2Pcluster dialect tells only the second (the first got [OK:LINK_SYNC]
// when it asked): nil.
func (s *Server) rawPairedReply(peer string, second bool) []byte {
	if s.Dialect == DialectP2Pcluster {
		if second {
			return []byte(p2pLinkSync)
		}
		return nil
	}
	return replyLine(true, "RAW:"+peer)
}

// syncLine is the P2Pcluster keepalive a silent device gets.
func syncLine(now time.Time) []byte {
	return []byte("[SYNC:" + now.Format("02.01.2006_15:04:05") + "]")
}

// p2pCmd is one command of the P2Pcluster dialect. Names are upper-cased
// as the original does; data is passed as is.
type p2pCmd struct {
	proto string // TCP, STCP, DSTCP, STCP256, DSTCP256
	verb  string // upper case
	key   string // as sent
	// rest is everything after "TCP:<verb>:<key>:" ("" without it): what
	// the original's DSTCP key and coconet's DSTCP256 key cover.
	rest   []byte
	hasKey bool
	// STCP: the account user id and the client random.
	uid, clientRnd string
}

// parseP2P splits a P2Pcluster command (terminator already stripped) into
// its protocol, verb and key, as the original's PACKET_parse does: the
// protocol is everything before the first ':'. A command without ':' (or
// starting with one) has no protocol: errReply is the reply.
func parseP2P(b []byte) (c p2pCmd, errReply string) {
	proto, rest, ok := bytes.Cut(b, []byte{':'})
	if !ok || len(proto) == 0 {
		return c, p2pUnknown
	}
	c.proto = strings.ToUpper(string(proto))
	switch c.proto {
	case ProtoTCP:
	case ProtoSTCP, ProtoDSTCP, ProtoSTCP256, ProtoDSTCP256:
		f := javaSplit(string(rest))
		if len(f) < 2 {
			return c, p2pBadFormat
		}
		c.uid, c.verb = strings.ToUpper(f[0]), strings.ToUpper(f[1])
		if len(f) > 2 {
			c.clientRnd = f[2]
		}
		return c, ""
	default:
		return c, p2pUnknown
	}
	verb, rest, ok := bytes.Cut(rest, []byte{':'})
	c.verb = strings.ToUpper(string(verb))
	if !ok || len(verb) == 0 {
		return c, p2pBadKey
	}
	key, rest, more := bytes.Cut(rest, []byte{':'})
	if len(key) == 0 {
		return c, p2pBadKey
	}
	c.key, c.hasKey = string(key), true
	if more {
		c.rest = rest
	}
	return c, ""
}

// javaSplit splits s at ':' as Java's String.split(":") does: trailing
// empty fields are dropped.
func javaSplit(s string) []string {
	f := strings.Split(s, ":")
	for len(f) > 1 && f[len(f)-1] == "" {
		f = f[:len(f)-1]
	}
	if len(f) == 1 && f[0] == "" {
		return f
	}
	return f
}

// md5Upper is the original's hash: MD5 of s as upper-case hex.
func md5Upper(s string) string {
	h := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(h[:]))
}

// p2pPacketData is the part of a TCP command the original's DSTCP key
// covers: the first ':'-field after the key before the connection has an
// id, the second one after ("" if there is none).
func p2pPacketData(rest []byte, registered bool) string {
	f := javaSplit(string(rest))
	i := 0
	if registered {
		i = 1
	}
	if i < len(f) {
		return f[i]
	}
	return ""
}

// zoneNames are the zone abbreviations the original (Java's "z" pattern)
// prints for the common offsets.
var zoneNames = map[int]string{
	0: "GMT", 60: "CET", 120: "EET", 180: "MSK", 210: "IRST", 240: "GST", 270: "AFT",
	300: "PKT", 330: "IST", 345: "NPT", 360: "BST", 390: "MMT", 420: "ICT", 480: "CST",
	540: "JST", 570: "ACST", 600: "AEST", 720: "NZST", -180: "BRT", -240: "AST",
	-300: "EST", -360: "CST", -420: "MST", -480: "PST", -540: "AKST", -600: "HST",
}

// zoneOffsets are the offsets some zone of the tz database uses; an offset
// outside them falls back to GMT, as in the original.
var zoneOffsets = map[int]bool{
	-720: true, -660: true, -600: true, -570: true, -540: true, -480: true, -420: true,
	-360: true, -300: true, -240: true, -210: true, -180: true, -120: true, -60: true,
	0: true, 60: true, 120: true, 180: true, 210: true, 240: true, 270: true, 300: true,
	330: true, 345: true, 360: true, 390: true, 420: true, 480: true, 525: true, 540: true,
	570: true, 600: true, 630: true, 660: true, 720: true, 765: true, 780: true, 840: true,
}

// p2pTime is the original's TIME reply for the offset text ("+05:30"):
// [IST:(Thu)(3,12,2026)(13:21:07)(<unix seconds>)], the zone's name, the
// day, date and time at the offset and the real Unix time. An offset the
// tz database does not use falls back to GMT.
func p2pTime(now time.Time, offset string) string {
	min, err := parseOffset([]byte(offset))
	if err != nil || !zoneOffsets[min] {
		min = 0
	}
	name, ok := zoneNames[min]
	if !ok {
		name = "GMT" + formatOffset(min)
	}
	t := now.In(time.FixedZone(name, min*60))
	return fmt.Sprintf("[%s:(%s)(%d,%02d,%d)(%s)(%d)]", name, t.Format("Mon"),
		t.Day(), int(t.Month()), t.Year(), t.Format("15:04:05"), now.Unix())
}

// p2pRetdata is the original's RETDATA reply for the pushes a connection
// sent (oldest first): n = 0 gives ">d1>d2…", 1 ≤ n ≤ len the n-th, else
// nothing.
func p2pRetdata(sent [][]byte, arg string) ([]byte, bool) {
	n, err := strconv.Atoi(arg)
	if err != nil {
		return []byte(p2pFormatExc), true
	}
	if n <= 0 {
		var out []byte
		for _, d := range sent {
			out = append(append(out, '>'), d...)
		}
		return out, len(out) > 0
	}
	if n <= len(sent) {
		return bytes.Clone(sent[n-1]), len(sent[n-1]) > 0
	}
	return nil, false
}
