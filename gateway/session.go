package gateway

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// Mode is how session and packet keys are derived.
type Mode int

const (
	// ModeMD5 is the historic P2Pcluster form (STCP, DSTCP): MD5 over the
	// concatenation. Kept for devices that already speak it.
	ModeMD5 Mode = iota + 1
	// ModeHMACSHA256 is HMAC-SHA256 keyed with the account key (STCP256,
	// DSTCP256). New devices should use it.
	ModeHMACSHA256
)

func (m Mode) String() string {
	switch m {
	case ModeMD5:
		return "md5"
	case ModeHMACSHA256:
		return "hmac-sha256"
	}
	return "unknown"
}

// modeOf returns the derivation and whether keys are per packet.
func modeOf(proto string) (m Mode, perPacket bool) {
	switch proto {
	case ProtoSTCP:
		return ModeMD5, false
	case ProtoDSTCP:
		return ModeMD5, true
	case ProtoSTCP256:
		return ModeHMACSHA256, false
	case ProtoDSTCP256:
		return ModeHMACSHA256, true
	}
	return 0, false
}

// derive returns lowercase hex of H(key ‖ parts...) in mode m.
func derive(m Mode, key string, parts ...[]byte) string {
	if m == ModeHMACSHA256 {
		h := hmac.New(sha256.New, []byte(key))
		for _, p := range parts {
			h.Write(p)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	h := md5.New()
	h.Write([]byte(key))
	for _, p := range parts {
		h.Write(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SessionKey is the key that replaces the account key for the rest of a
// session: MD5(key ‖ rnd) or HMAC-SHA256(key, rnd), lowercase hex, where
// key is the account key and rnd the server random, both as ASCII.
func SessionKey(m Mode, key, rnd string) string { return derive(m, key, []byte(rnd)) }

// PacketKey is the key of one DSTCP line: MD5(key ‖ rnd ‖ data) or
// HMAC-SHA256(key, rnd ‖ data), lowercase hex, where data is everything
// after "TCP:<verb>:<key>:" (Command.Signed).
func PacketKey(m Mode, key, rnd string, data []byte) string {
	return derive(m, key, []byte(rnd), data)
}

// Proof is the server's answer to a client random: MD5(key ‖ clientRnd ‖
// serverRnd) or HMAC-SHA256(key, clientRnd ‖ serverRnd), lowercase hex. It
// shows the client that the server knows its account key.
func Proof(m Mode, key, clientRnd, serverRnd string) string {
	return derive(m, key, []byte(clientRnd), []byte(serverRnd))
}

// keyEqual compares a key a client sent (hex, any case) with the lowercase
// hex want in constant time.
func keyEqual(got, want string) bool {
	if len(got) != len(want) {
		return false
	}
	b := []byte(got)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return subtle.ConstantTimeCompare(b, []byte(want)) == 1
}
