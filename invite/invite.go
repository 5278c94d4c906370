package invite

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Prefix starts every invite code of this version.
const Prefix = "coco1"

// SecretSize is the length of the one-time secret.
const SecretSize = 16

// MaxCodeLen bounds what Decode will look at.
const MaxCodeLen = 4096

// Code is the content of an invite code. Only Secret is trusted by the member
// that redeems it; Role, Expires and NetName are copies for clear messages.
type Code struct {
	Network [32]byte
	Secret  [SecretSize]byte
	Role    uint8 // ledger.Role value
	Expires int64 // unix seconds
	NetName string
	Addrs   [][]byte // binary multiaddrs, each including /p2p/<peer>
}

// NewSecret returns a fresh random secret.
func NewSecret() ([SecretSize]byte, error) {
	var s [SecretSize]byte
	_, err := rand.Read(s[:])
	return s, err
}

// Errors returned by Decode. Each says what to do.
var (
	ErrNotInvite  = errors.New("this is not a coconet invite code (codes start with \"coco1\")")
	ErrCharacters = errors.New("invite code contains characters that are not part of a code; copy it again exactly")
	ErrTruncated  = errors.New("invite code is incomplete (it was cut off); copy the whole code")
	ErrDamaged    = errors.New("invite code is damaged (its checksum does not match); copy it again, or ask for a new one")
	ErrVersion    = errors.New("invite code is from a newer coconet; update coco")
)

var enc = base32.StdEncoding.WithPadding(base32.NoPadding)

const (
	version  = 1
	sumLen   = 4
	maxName  = 64
	maxAddrs = 16
)

// Encode renders the code as text: "coco1" and lowercase base32.
func (c *Code) Encode() string {
	var b bytes.Buffer
	b.WriteByte(version)
	b.Write(c.Network[:])
	b.Write(c.Secret[:])
	b.WriteByte(c.Role)
	binary.Write(&b, binary.BigEndian, c.Expires)
	name := c.NetName
	if len(name) > maxName {
		name = name[:maxName]
	}
	b.WriteByte(byte(len(name)))
	b.WriteString(name)
	addrs := c.Addrs
	if len(addrs) > maxAddrs {
		addrs = addrs[:maxAddrs]
	}
	b.WriteByte(byte(len(addrs)))
	for _, a := range addrs {
		binary.Write(&b, binary.BigEndian, uint16(len(a)))
		b.Write(a)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:sumLen])
	return Prefix + strings.ToLower(enc.EncodeToString(b.Bytes()))
}

// Decode parses a code, tolerating surrounding spaces and line breaks.
func Decode(s string) (*Code, error) {
	s = strings.Join(strings.Fields(s), "")
	if len(s) > MaxCodeLen {
		return nil, ErrDamaged
	}
	if !strings.HasPrefix(strings.ToLower(s), Prefix) {
		return nil, ErrNotInvite
	}
	body := strings.ToUpper(s[len(Prefix):])
	raw, err := enc.DecodeString(body)
	if err != nil {
		// A base32 string whose length is impossible was cut off.
		var ce base32.CorruptInputError
		if errors.As(err, &ce) && int(ce) >= len(body)-1 && validChars(body) {
			return nil, ErrTruncated
		}
		return nil, ErrCharacters
	}
	const minLen = 1 + 32 + SecretSize + 1 + 8 + 1 + 1 + sumLen
	if len(raw) < minLen {
		if len(raw) > 0 && raw[0] > version {
			return nil, ErrVersion
		}
		return nil, ErrTruncated
	}
	payload, sum := raw[:len(raw)-sumLen], raw[len(raw)-sumLen:]
	want := sha256.Sum256(payload)
	if !bytes.Equal(sum, want[:sumLen]) {
		if raw[0] > version {
			return nil, ErrVersion
		}
		if !parses(payload) {
			return nil, ErrTruncated
		}
		return nil, ErrDamaged
	}
	if payload[0] != version {
		return nil, ErrVersion
	}
	c, err := parse(payload)
	if err != nil {
		return nil, ErrDamaged
	}
	return c, nil
}

func validChars(s string) bool {
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}

func parses(p []byte) bool {
	_, err := parse(p)
	return err == nil
}

func parse(p []byte) (*Code, error) {
	r := bytes.NewReader(p[1:])
	c := &Code{}
	if _, err := r.Read(c.Network[:]); err != nil {
		return nil, err
	}
	if n, _ := r.Read(c.Secret[:]); n != SecretSize {
		return nil, errors.New("short")
	}
	var err error
	if c.Role, err = r.ReadByte(); err != nil {
		return nil, err
	}
	if err := binary.Read(r, binary.BigEndian, &c.Expires); err != nil {
		return nil, err
	}
	nl, err := r.ReadByte()
	if err != nil || int(nl) > maxName || r.Len() < int(nl) {
		return nil, errors.New("bad name")
	}
	name := make([]byte, nl)
	r.Read(name)
	c.NetName = string(name)
	na, err := r.ReadByte()
	if err != nil || na > maxAddrs {
		return nil, errors.New("bad addrs")
	}
	for i := 0; i < int(na); i++ {
		var l uint16
		if err := binary.Read(r, binary.BigEndian, &l); err != nil || r.Len() < int(l) {
			return nil, errors.New("bad addr")
		}
		a := make([]byte, l)
		r.Read(a)
		c.Addrs = append(c.Addrs, a)
	}
	if r.Len() != 0 {
		return nil, errors.New("trailing bytes")
	}
	return c, nil
}

// ExpiredError is returned by CheckExpiry.
type ExpiredError struct {
	NetName string
	At      time.Time
}

func (e *ExpiredError) Error() string {
	return fmt.Sprintf("invite to %q expired on %s; ask an admin of %q for a new one",
		e.NetName, e.At.UTC().Format("2006-01-02 15:04 MST"), e.NetName)
}

// CheckExpiry returns an *ExpiredError when the code's expiry is before now.
func (c *Code) CheckExpiry(now time.Time) error {
	if c.Expires != 0 && now.Unix() > c.Expires {
		return &ExpiredError{NetName: c.NetName, At: time.Unix(c.Expires, 0)}
	}
	return nil
}
