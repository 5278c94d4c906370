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

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
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
	// Addrs are where the inviting node can be reached, binary multiaddrs
	// each ending in /p2p/<inviter>: direct addresses first, then relay
	// addresses (/…/p2p/<control plane>/p2p-circuit/p2p/<inviter>).
	Addrs [][]byte
	// Controls are the control planes the inviting node uses, binary
	// multiaddrs each ending in /p2p/<control plane>. A joiner can ask each
	// to relay it to the inviter (CONTROL/p2p-circuit/p2p/<inviter>) when
	// no address in Addrs answers. Version 1 codes have none.
	Controls [][]byte
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
	version  = 2 // what Encode writes; Decode also reads version 1
	sumLen   = 4
	maxName  = 64
	maxAddrs = 16 // entries (addresses) per code
	maxPeers = 4  // control planes per code (version 2)
)

// Entry kinds of a version 2 code. An entry is a multiaddr without any
// /p2p/ part; its kind says what to append:
//
//	kindDirect   /p2p/<inviter>
//	kindRelay    /p2p/<control plane i>/p2p-circuit/p2p/<inviter>
//	kindControl  /p2p/<control plane i>
//	kindBoth     a control plane address at which the inviter also holds a relay slot
const (
	kindDirect = iota
	kindRelay
	kindControl
	kindBoth
)

// Encode renders the code as text: "coco1" and lowercase base32 of a
// version 2 payload.
//
// Version 2 names the inviter's peer ID and each control plane's once and
// stores addresses without them, which keeps codes short. Only addresses
// of the shapes documented on Addrs and Controls, with one inviter (that of
// the first address), are kept; others are dropped, as are addresses past
// 16 in all or control planes past 4.
func (c *Code) Encode() string {
	var b bytes.Buffer
	b.WriteByte(version)
	b.Write(c.Network[:])
	b.Write(c.Secret[:])
	b.WriteByte(c.Role)
	b.Write(binary.AppendVarint(nil, c.Expires))
	name := c.NetName
	if len(name) > maxName {
		name = name[:maxName]
	}
	b.WriteByte(byte(len(name)))
	b.WriteString(name)

	var inviter []byte
	var peers [][]byte
	type entry struct {
		kind, peer int
		addr       []byte
	}
	var direct, relays, controls []entry
	peerIndex := func(id []byte) int {
		for i, p := range peers {
			if bytes.Equal(p, id) {
				return i
			}
		}
		if len(peers) == maxPeers {
			return -1
		}
		peers = append(peers, id)
		return len(peers) - 1
	}
	for _, raw := range c.Addrs {
		base, ids, ok := split(raw)
		if !ok || len(ids) == 0 || (inviter != nil && !bytes.Equal(ids[len(ids)-1], inviter)) {
			continue
		}
		inviter = ids[len(ids)-1]
		switch len(ids) {
		case 1:
			direct = append(direct, entry{kindDirect, 0, base})
		case 2:
			if i := peerIndex(ids[0]); i >= 0 {
				relays = append(relays, entry{kindRelay, i, base})
			}
		}
	}
	for _, raw := range c.Controls {
		base, ids, ok := split(raw)
		if !ok || len(ids) != 1 {
			continue
		}
		if i := peerIndex(ids[0]); i >= 0 {
			controls = append(controls, entry{kindControl, i, base})
		}
	}
	// A relay address at a control plane address listed in Controls is
	// one entry of kind both.
	used := make([]bool, len(controls))
	for i, r := range relays {
		for j, ct := range controls {
			if !used[j] && ct.peer == r.peer && bytes.Equal(ct.addr, r.addr) {
				used[j], relays[i].kind = true, kindBoth
				break
			}
		}
	}
	entries := append(direct, relays...)
	for j, ct := range controls {
		if !used[j] {
			entries = append(entries, ct)
		}
	}
	if len(entries) > maxAddrs {
		entries = entries[:maxAddrs]
	}
	b.WriteByte(byte(len(inviter)))
	b.Write(inviter)
	b.WriteByte(byte(len(peers)))
	for _, p := range peers {
		b.WriteByte(byte(len(p)))
		b.Write(p)
	}
	b.WriteByte(byte(len(entries)))
	for _, e := range entries {
		b.WriteByte(byte(e.kind | e.peer<<2))
		b.WriteByte(byte(len(e.addr)))
		b.Write(e.addr)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:sumLen])
	return Prefix + strings.ToLower(enc.EncodeToString(b.Bytes()))
}

// split cuts a binary multiaddr into its address part (which must have no
// /p2p/ or /p2p-circuit/ part and be at most 255 bytes) and the peer IDs
// of its /p2p/ parts: [inviter] for a direct address, [control, inviter]
// for a relay address (the /p2p-circuit/ between them), [control] for a
// control plane's address. A relay address gives ids of length 2 only if
// it has exactly that shape.
func split(raw []byte) (base []byte, ids [][]byte, ok bool) {
	m, err := ma.NewMultiaddrBytes(raw)
	if err != nil {
		return nil, nil, false
	}
	i := 0
	for i < len(m) && m[i].Code() != ma.P_P2P && m[i].Code() != ma.P_CIRCUIT {
		i++
	}
	if i == 0 {
		return nil, nil, false
	}
	base = m[:i].Bytes()
	rest := m[i:]
	switch {
	case len(rest) == 1 && rest[0].Code() == ma.P_P2P:
		ids = [][]byte{rest[0].RawValue()}
	case len(rest) == 3 && rest[0].Code() == ma.P_P2P && rest[1].Code() == ma.P_CIRCUIT && rest[2].Code() == ma.P_P2P:
		ids = [][]byte{rest[0].RawValue(), rest[2].RawValue()}
	default:
		return nil, nil, false
	}
	return base, ids, len(base) <= 255
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
	const minLen = 1 + 32 + SecretSize + 1 + 1 + 1 + 1 + 1 + 1 + sumLen // version 2's shortest
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
	if payload[0] > version || payload[0] == 0 {
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
	switch p[0] {
	case 1:
		return parseV1(p)
	case 2:
		return parseV2(p)
	}
	return nil, errors.New("unknown version")
}

// header reads the fields both versions share up to the name; v1 has a
// fixed-size expiry, v2 a varint.
func header(r *bytes.Reader, v1 bool) (*Code, error) {
	c := &Code{}
	if n, _ := r.Read(c.Network[:]); n != len(c.Network) {
		return nil, errors.New("short")
	}
	if n, _ := r.Read(c.Secret[:]); n != SecretSize {
		return nil, errors.New("short")
	}
	var err error
	if c.Role, err = r.ReadByte(); err != nil {
		return nil, err
	}
	if v1 {
		err = binary.Read(r, binary.BigEndian, &c.Expires)
	} else {
		c.Expires, err = binary.ReadVarint(r)
	}
	if err != nil {
		return nil, err
	}
	nl, err := r.ReadByte()
	if err != nil || int(nl) > maxName || r.Len() < int(nl) {
		return nil, errors.New("bad name")
	}
	name := make([]byte, nl)
	r.Read(name)
	c.NetName = string(name)
	return c, nil
}

func parseV1(p []byte) (*Code, error) {
	r := bytes.NewReader(p[1:])
	c, err := header(r, true)
	if err != nil {
		return nil, err
	}
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

// readBytes reads a length byte and that many bytes.
func readBytes(r *bytes.Reader) ([]byte, error) {
	l, err := r.ReadByte()
	if err != nil || r.Len() < int(l) {
		return nil, errors.New("short")
	}
	b := make([]byte, l)
	r.Read(b)
	return b, nil
}

// plainAddr parses an address part: a canonical multiaddr with no /p2p/
// or /p2p-circuit/ part.
func plainAddr(raw []byte) (ma.Multiaddr, bool) {
	m, err := ma.NewMultiaddrBytes(raw)
	if err != nil || len(m) == 0 || !bytes.Equal(m.Bytes(), raw) {
		return nil, false
	}
	for _, c := range m {
		if c.Code() == ma.P_P2P || c.Code() == ma.P_CIRCUIT {
			return nil, false
		}
	}
	return m, true
}

func p2p(id []byte) ma.Multiaddr {
	c, err := ma.NewComponent("p2p", peer.ID(id).String())
	if err != nil {
		return nil
	}
	return ma.Multiaddr{*c}
}

var circuit = ma.StringCast("/p2p-circuit")

func parseV2(p []byte) (*Code, error) {
	r := bytes.NewReader(p[1:])
	c, err := header(r, false)
	if err != nil {
		return nil, err
	}
	inviter, err := readBytes(r)
	if err != nil {
		return nil, err
	}
	var inv ma.Multiaddr
	if len(inviter) > 0 {
		if _, err := peer.IDFromBytes(inviter); err != nil {
			return nil, err
		}
		inv = p2p(inviter)
	}
	np, err := r.ReadByte()
	if err != nil || np > maxPeers {
		return nil, errors.New("bad peers")
	}
	peers := make([]ma.Multiaddr, np)
	for i := range peers {
		id, err := readBytes(r)
		if err != nil {
			return nil, err
		}
		if _, err := peer.IDFromBytes(id); err != nil {
			return nil, err
		}
		peers[i] = p2p(id)
	}
	ne, err := r.ReadByte()
	if err != nil || ne > maxAddrs {
		return nil, errors.New("bad addrs")
	}
	var relays [][]byte
	for range ne {
		kb, err := r.ReadByte()
		if err != nil {
			return nil, err
		}
		kind, pi := int(kb&3), int(kb>>2)
		raw, err := readBytes(r)
		if err != nil {
			return nil, err
		}
		m, ok := plainAddr(raw)
		if !ok {
			return nil, errors.New("bad address")
		}
		if kind == kindDirect {
			if inv == nil {
				return nil, errors.New("address without inviter")
			}
			c.Addrs = append(c.Addrs, m.Encapsulate(inv).Bytes())
			continue
		}
		if pi >= len(peers) {
			return nil, errors.New("bad control plane")
		}
		if kind == kindRelay || kind == kindBoth {
			if inv == nil {
				return nil, errors.New("relay without inviter")
			}
			relays = append(relays, ma.Join(m, peers[pi], circuit, inv).Bytes())
		}
		if kind == kindControl || kind == kindBoth {
			c.Controls = append(c.Controls, m.Encapsulate(peers[pi]).Bytes())
		}
	}
	c.Addrs = append(c.Addrs, relays...)
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
