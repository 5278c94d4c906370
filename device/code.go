package device

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
	ma "github.com/multiformats/go-multiaddr"
)

// Prefix starts every claim code.
const Prefix = "cocodev1"

// MaxCodeLen bounds what ParseCode looks at.
const MaxCodeLen = 4096

// SecretSize is the length of a claim code's secret.
const SecretSize = 16

// Code is what a claim code holds.
type Code struct {
	Key    [32]byte         `cbor:"1,keyasint"`           // the device node's public key
	Name   string           `cbor:"2,keyasint"`           // what the device calls itself
	Model  string           `cbor:"3,keyasint,omitempty"` // its model, for OTA
	Addrs  [][]byte         `cbor:"4,keyasint"`           // binary multiaddrs of the claim host, without /p2p
	Secret [SecretSize]byte `cbor:"5,keyasint"`           // one-time secret the owner proves
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

const checksumLen = 4

// String encodes the code: Prefix, then lowercase base32 of the CBOR of c
// followed by the first 4 bytes of its SHA-256.
func (c *Code) String() string {
	b, err := cbor.Marshal(c)
	if err != nil {
		panic("device: encode code: " + err.Error())
	}
	sum := sha256.Sum256(b)
	b = append(b, sum[:checksumLen]...)
	return Prefix + strings.ToLower(b32.EncodeToString(b))
}

// ErrBadCode is wrapped by every ParseCode error.
var ErrBadCode = errors.New("not a valid device claim code")

// ParseCode decodes a claim code, saying what is wrong with a bad one.
func ParseCode(s string) (*Code, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "coco1"):
		return nil, fmt.Errorf("%w: this is an invite code for a person; use `coco join` with it", ErrBadCode)
	case !strings.HasPrefix(s, Prefix):
		return nil, fmt.Errorf("%w: it should start with %q (copy it whole from the device's `coco up --device` output)", ErrBadCode, Prefix)
	case len(s) > MaxCodeLen:
		return nil, fmt.Errorf("%w: %d characters, more than %d", ErrBadCode, len(s), MaxCodeLen)
	}
	b, err := b32.DecodeString(strings.ToUpper(s[len(Prefix):]))
	if err != nil || len(b) < checksumLen+1 {
		return nil, fmt.Errorf("%w: it is damaged or cut short", ErrBadCode)
	}
	body, sum := b[:len(b)-checksumLen], b[len(b)-checksumLen:]
	want := sha256.Sum256(body)
	if !bytes.Equal(sum, want[:checksumLen]) {
		return nil, fmt.Errorf("%w: its checksum does not match (a character is wrong or missing)", ErrBadCode)
	}
	var c Code
	if err := cbor.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCode, err)
	}
	if c.Key == [32]byte{} {
		return nil, fmt.Errorf("%w: it names no device key", ErrBadCode)
	}
	for _, a := range c.Addrs {
		if _, err := ma.NewMultiaddrBytes(a); err != nil {
			return nil, fmt.Errorf("%w: bad address: %v", ErrBadCode, err)
		}
	}
	return &c, nil
}

// Multiaddrs decodes the code's addresses (skipping ones that do not parse).
func (c *Code) Multiaddrs() []ma.Multiaddr {
	var out []ma.Multiaddr
	for _, a := range c.Addrs {
		if m, err := ma.NewMultiaddrBytes(a); err == nil {
			out = append(out, m)
		}
	}
	return out
}

func newSecret() [SecretSize]byte {
	var s [SecretSize]byte
	if _, err := rand.Read(s[:]); err != nil {
		panic("device: random: " + err.Error())
	}
	return s
}
