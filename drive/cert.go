package drive

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

// WriterCert is a member's claim on a writer key of a network drive, kept
// in the network's ledger under the member's own signature (table
// drive_cert): the writer key signs the drive and the member's user ID, so
// no one can bind another member's writer key to themselves. A replica,
// blind or not, accepts a writer's blocks only while its ledger holds a
// cert whose author is that user and is still a member with the right
// role.
type WriterCert struct {
	Drive  Address  `cbor:"1,keyasint"`
	Writer WriterID `cbor:"2,keyasint"`
	User   [32]byte `cbor:"3,keyasint"`
	Sig    []byte   `cbor:"4,keyasint"`
}

const certContext = "coconet/v1/drive-writer-cert\x00"

func certMessage(d Address, w WriterID, user [32]byte) []byte {
	m := append([]byte(certContext), d[:]...)
	m = append(m, w[:]...)
	return append(m, user[:]...)
}

// CertifyWriter makes the cert binding key's writer in drive d to user.
func CertifyWriter(key ed25519.PrivateKey, d Address, user [32]byte) WriterCert {
	w := WriterOf(key)
	return WriterCert{Drive: d, Writer: w, User: user, Sig: ed25519.Sign(key, certMessage(d, w, user))}
}

// Verify checks that the writer key signed c for drive d.
func (c WriterCert) Verify(d Address) error {
	if c.Drive != d {
		return fmt.Errorf("%w: writer cert of %s", ErrWrongDrive, c.Drive)
	}
	if len(c.Sig) != ed25519.SignatureSize || !ed25519.Verify(ed25519.PublicKey(c.Writer[:]), certMessage(c.Drive, c.Writer, c.User), c.Sig) {
		return fmt.Errorf("%w: writer cert of %s", ErrBadSignature, c.Writer.Short())
	}
	return nil
}

// Key is the ledger key of c: drive/writer/user in hex. Keyed by the user
// too, so a cert another member puts for the same writer never replaces
// the true one.
func (c WriterCert) Key() string {
	return CertPrefix(c.Drive, c.Writer) + hex.EncodeToString(c.User[:])
}

// CertPrefix is the ledger key prefix of every cert of writer w in drive d.
func CertPrefix(d Address, w WriterID) string { return d.String() + "/" + w.String() + "/" }

// Marshal encodes c for the ledger.
func (c WriterCert) Marshal() []byte {
	b, err := encMode.Marshal(c)
	if err != nil {
		panic("drive: encode writer cert: " + err.Error())
	}
	return b
}

// ParseWriterCert decodes a cert read from the ledger (not verified).
func ParseWriterCert(b []byte) (WriterCert, error) {
	var c WriterCert
	err := unmarshal(b, &c)
	return c, err
}

// EpochKeys is a key epoch's secret sealed to each writer that may read
// it (SealInvite), as one member put it in the ledger (table drive_keys)
// when it rotated the drive's key. A writer not listed (a removed member)
// cannot open it.
type EpochKeys struct {
	Drive Address  `cbor:"1,keyasint"`
	Epoch uint32   `cbor:"2,keyasint"`
	Codes []string `cbor:"3,keyasint"`
}

// SealEpochKeys seals secret, the secret of epoch of drive d, to writers.
func SealEpochKeys(d Address, epoch uint32, secret [32]byte, writers []WriterID) (EpochKeys, error) {
	k := EpochKeys{Drive: d, Epoch: epoch}
	for _, w := range writers {
		code, err := SealInvite(d, secret, w)
		if err != nil {
			return k, err
		}
		k.Codes = append(k.Codes, code)
	}
	return k, nil
}

// Writers lists the writers the epoch's secret is sealed to.
func (k EpochKeys) Writers() []WriterID {
	var out []WriterID
	for _, c := range k.Codes {
		if inv, err := ParseInvite(c); err == nil {
			out = append(out, inv.To)
		}
	}
	return out
}

// Open opens the secret sealed to key's writer (ErrNoKey if none is).
func (k EpochKeys) Open(key ed25519.PrivateKey) ([32]byte, error) {
	w := WriterOf(key)
	for _, c := range k.Codes {
		inv, err := ParseInvite(c)
		if err != nil || inv.To != w {
			continue
		}
		addr, secret, err := OpenInvite(c, key)
		if err != nil {
			return secret, err
		}
		if addr != k.Drive {
			return [32]byte{}, fmt.Errorf("%w: epoch key of another drive", ErrWrongDrive)
		}
		return secret, nil
	}
	return [32]byte{}, fmt.Errorf("%w: no key of epoch %d for writer %s", ErrNoKey, k.Epoch, w.Short())
}

// Key is the ledger key of k put by user: drive/epoch/user.
func (k EpochKeys) Key(user [32]byte) string {
	return k.Drive.String() + "/" + strconv.FormatUint(uint64(k.Epoch), 10) + "/" + hex.EncodeToString(user[:])
}

// IsEpochKey reports whether a drive_keys ledger key belongs to drive d.
func IsEpochKey(d Address, key string) bool { return strings.HasPrefix(key, d.String()+"/") }

// Marshal encodes k for the ledger.
func (k EpochKeys) Marshal() []byte {
	b, err := encMode.Marshal(k)
	if err != nil {
		panic("drive: encode epoch keys: " + err.Error())
	}
	return b
}

// ParseEpochKeys decodes epoch keys read from the ledger.
func ParseEpochKeys(b []byte) (EpochKeys, error) {
	var k EpochKeys
	if err := unmarshal(b, &k); err != nil {
		return k, err
	}
	if k.Epoch == 0 {
		return k, fmt.Errorf("%w: epoch keys of epoch 0", ErrMalformed)
	}
	return k, nil
}

// CheckSecret tells whether secret is the drive's secret of epoch, by the
// log entries st holds: it must open an entry of that epoch of a writer
// other than giver (who handed the secret out, and could have written
// entries under a wrong one) when there is such a writer; otherwise one of
// giver's (giver reports whether a writer is the giver's; nil: none is). allow, if not nil, limits the writers considered. Every epoch
// begins with a mark entry of its author (Drive.Mark), so a drive that
// has synced its logs always has an entry to check against. It returns
// ErrWrongSecret when the entries do not open, and ErrUnverified when
// there is no entry of that epoch to check.
func CheckSecret(st *Store, epoch uint32, secret [32]byte, giver, allow func(WriterID) bool) error {
	k, err := newKeys(st.Address(), epoch, secret)
	if err != nil {
		return err
	}
	var others, giverOK, giverBad bool
	for _, h := range st.Heads() {
		if allow != nil && !allow(h.Writer) {
			continue
		}
		for _, b := range st.Blocks(h.Writer, 0, h.Size) {
			e, err := decodeEntry(b)
			if err != nil || e.Epoch != epoch {
				continue
			}
			_, err = k.openOp(h.Writer, e.Sealed)
			given := giver != nil && giver(h.Writer)
			switch {
			case !given && err == nil:
				return nil
			case !given:
				others = true
			case err == nil:
				giverOK = true
			default:
				giverBad = true
			}
			break
		}
	}
	switch {
	case others:
		return fmt.Errorf("%w: the secret of epoch %d opens no entry of the drive's other writers", ErrWrongSecret, epoch)
	case giverOK:
		return nil
	case giverBad:
		return fmt.Errorf("%w: the secret of epoch %d does not open its giver's own entries", ErrWrongSecret, epoch)
	}
	return fmt.Errorf("%w: no entry of epoch %d held", ErrUnverified, epoch)
}
