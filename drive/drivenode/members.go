package drivenode

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Who may write a network drive, from the network's ledger: a writer key
// whose cert (drive.WriterCert, table drive_cert) its own user put, while
// that user is a member with the role of an admin or the owner. Every
// replica asks its own ledger, on every batch: a removed or demoted
// member's later blocks are refused everywhere, a blind replica's
// included (it checks the cert's two signatures and the author's role;
// it cannot check what the sealed entries say).

// certOK reports whether c, read from the record r, is a valid cert of
// drive addr.
func certOK(addr drive.Address, r *ledger.Record) (drive.WriterCert, bool) {
	c, err := drive.ParseWriterCert(r.Value)
	if err != nil || c.Verify(addr) != nil || c.Key() != r.Key || identity.UserID(c.User) != r.Author {
		return c, false
	}
	return c, true
}

// writerAllowed reports whether st lets w write drive addr now.
func writerAllowed(st *ledger.State, addr drive.Address, w drive.WriterID) bool {
	prefix := drive.CertPrefix(addr, w)
	for k, r := range st.Records[ledger.TableDriveCert] {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if _, ok := certOK(addr, r); ok && roleWrites(st, r.Author) {
			return true
		}
	}
	return false
}

// roleWrites reports whether user may write the network's drives: the
// owner and admins, as for the drive's sessions (allowPeer).
func roleWrites(st *ledger.State, user identity.UserID) bool {
	m := st.Members[user]
	return m != nil && m.Role >= ledger.RoleAdmin
}

// certs returns the writers certified in drive addr, with their users,
// whether or not those users are still members.
func certs(st *ledger.State, addr drive.Address) []drive.WriterCert {
	var out []drive.WriterCert
	prefix := addr.String() + "/"
	for k, r := range st.Records[ledger.TableDriveCert] {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		if c, ok := certOK(addr, r); ok {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b drive.WriterCert) int { return strings.Compare(a.Key(), b.Key()) })
	return out
}

// writersOf returns the writers user certified in drive addr.
func writersOf(st *ledger.State, addr drive.Address, user identity.UserID) func(drive.WriterID) bool {
	var ws []drive.WriterID
	for _, c := range certs(st, addr) {
		if identity.UserID(c.User) == user {
			ws = append(ws, c.Writer)
		}
	}
	return func(w drive.WriterID) bool { return slices.Contains(ws, w) }
}

// certify puts this user's cert for its writer key in drive addr in the
// ledger, unless it is there already.
func (s *Service) certify(addr drive.Address) error {
	c := drive.CertifyWriter(s.e.Identity().Seed.DriveWriterKey(addr), addr, s.e.User())
	if r := s.e.Ledger().State().Record(ledger.TableDriveCert, c.Key()); r != nil && string(r.Value) == string(c.Marshal()) {
		return nil
	}
	if _, err := s.e.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDriveCert, Key: c.Key(), Value: c.Marshal()}); err != nil {
		return fmt.Errorf("drivenode: certify this member's writer key: %w", err)
	}
	return nil
}

// epochKeys returns the epoch records of drive addr in the ledger, by
// epoch, each with its author.
type epochRecord struct {
	drive.EpochKeys
	Author identity.UserID
}

func epochRecords(st *ledger.State, addr drive.Address) []epochRecord {
	var out []epochRecord
	for k, r := range st.Records[ledger.TableDriveKeys] {
		if !drive.IsEpochKey(addr, k) {
			continue
		}
		ek, err := drive.ParseEpochKeys(r.Value)
		if err != nil || ek.Drive != addr || ek.Key(r.Author) != k {
			continue
		}
		out = append(out, epochRecord{ek, r.Author})
	}
	slices.SortFunc(out, func(a, b epochRecord) int {
		if a.Epoch != b.Epoch {
			return int(a.Epoch) - int(b.Epoch)
		}
		return strings.Compare(a.Author.String(), b.Author.String())
	})
	return out
}

// The key rpc's answer: every epoch secret the answering node holds, as
// records of a 4-byte big-endian epoch and the 32-byte secret.
const keyRecord = 4 + 32

// maxKeyring bounds the epochs one answer may carry.
const maxKeyring = 1024

type epochSecret struct {
	Epoch  uint32
	Secret [32]byte
}

func encodeKeyring(ks []epochSecret) []byte {
	b := make([]byte, 0, len(ks)*keyRecord)
	for _, k := range ks {
		b = binary.BigEndian.AppendUint32(b, k.Epoch)
		b = append(b, k.Secret[:]...)
	}
	return b
}

// errKeyring: the key rpc's answer does not parse.
var errKeyring = errors.New("drivenode: malformed key answer")

func decodeKeyring(b []byte) ([]epochSecret, error) {
	if len(b)%keyRecord != 0 || len(b)/keyRecord > maxKeyring {
		return nil, fmt.Errorf("%w: %d bytes", errKeyring, len(b))
	}
	var out []epochSecret
	for ; len(b) > 0; b = b[keyRecord:] {
		out = append(out, epochSecret{binary.BigEndian.Uint32(b), [32]byte(b[4:keyRecord])})
	}
	return out, nil
}

// metaEpoch is a later epoch's secret kept in a drive's record.
type metaEpoch struct {
	Epoch  uint32 `json:"epoch"`
	Secret string `json:"secret"` // hex
}

func (m meta) keyring() ([]epochSecret, error) {
	var out []epochSecret
	add := func(epoch uint32, h string) error {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return errors.New("bad secret in the drive's record")
		}
		out = append(out, epochSecret{epoch, [32]byte(b)})
		return nil
	}
	if err := add(0, m.Secret); err != nil {
		return nil, err
	}
	for _, e := range m.Epochs {
		if err := add(e.Epoch, e.Secret); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// epochs brings the member drive d up to date with the key epochs in the
// ledger: it takes the secrets sealed to this member's writer (each
// checked against its author's entries of that epoch), and starts a new
// epoch when a writer that could read the current one is no longer
// allowed to write (a removed or demoted member): the new secret, from
// this user's seed, is sealed to the writers still allowed, put in the
// ledger, and marked in this member's log. Several members may rotate at
// once; the drive keeps every secret of an epoch.
func (s *Service) epochs(d *Drive) {
	if err := s.takeEpochs(d); err != nil {
		s.opts.Logf("drive %s: %v", d.Name, err)
	}
	if err := s.rotate(d); err != nil {
		s.opts.Logf("drive %s: rotate the key: %v", d.Name, err)
	}
}

func (s *Service) takeEpochs(d *Drive) error {
	st := s.e.Ledger().State()
	key := s.e.Identity().Seed.DriveWriterKey(d.Address)
	allow := func(w drive.WriterID) bool { return writerAllowed(st, d.Address, w) }
	for _, r := range epochRecords(st, d.Address) {
		secret, err := r.Open(key)
		if err != nil {
			continue // not sealed to this member
		}
		s.mu.Lock()
		held, refused := s.holdsLocked(d, secret), d.refused[secret]
		s.mu.Unlock()
		if held || refused {
			continue
		}
		err = drive.CheckSecret(d.Store, r.Epoch, secret, writersOf(st, d.Address, r.Author), allow)
		if errors.Is(err, drive.ErrUnverified) {
			continue // its author's mark has not arrived yet
		}
		if err != nil {
			s.mu.Lock()
			d.refused[secret] = true
			s.mu.Unlock()
			s.opts.Logf("drive %s: the key of epoch %d that %s put in the ledger is wrong: %v", d.Name, r.Epoch, r.Author, err)
			continue
		}
		if err := s.addEpoch(d, r.Epoch, secret); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) holdsLocked(d *Drive, secret [32]byte) bool {
	ks, _ := d.meta.keyring()
	return slices.ContainsFunc(ks, func(k epochSecret) bool { return k.Secret == secret })
}

// addEpoch keeps a secret in the drive's record, then gives it to the
// drive.
func (s *Service) addEpoch(d *Drive, epoch uint32, secret [32]byte) error {
	s.mu.Lock()
	if !s.holdsLocked(d, secret) {
		m := d.meta
		m.Epochs = append(slices.Clone(m.Epochs), metaEpoch{epoch, hex.EncodeToString(secret[:])})
		if err := s.save(d.Address, m); err != nil {
			s.mu.Unlock()
			return err
		}
		d.meta = m
	}
	s.mu.Unlock()
	return d.Drive.AddEpoch(epoch, secret)
}

// readers returns the writers that can read the drive's current epoch:
// for epoch 0 every writer ever certified (the key rpc answers only
// those), for a later one those its secrets were sealed to.
func readers(st *ledger.State, addr drive.Address, epoch uint32) []drive.WriterID {
	var out []drive.WriterID
	if epoch == 0 {
		for _, c := range certs(st, addr) {
			out = append(out, c.Writer)
		}
		return out
	}
	for _, r := range epochRecords(st, addr) {
		if r.Epoch == epoch {
			out = append(out, r.Writers()...)
		}
	}
	return out
}

func (s *Service) rotate(d *Drive) error {
	st := s.e.Ledger().State()
	addr := d.Address
	me := d.Drive.Writer()
	if !writerAllowed(st, addr, me) {
		return nil // not ours to do: this member cannot write either
	}
	cur := d.Drive.Epoch()
	stale := slices.ContainsFunc(readers(st, addr, cur), func(w drive.WriterID) bool { return !writerAllowed(st, addr, w) })
	if !stale {
		return nil
	}
	var writers []drive.WriterID
	for _, c := range certs(st, addr) {
		if writerAllowed(st, addr, c.Writer) && !slices.Contains(writers, c.Writer) {
			writers = append(writers, c.Writer)
		}
	}
	next := cur + 1
	secret := s.e.Identity().Seed.DriveSecret(drive.EpochAddress(addr, next))
	ek, err := drive.SealEpochKeys(addr, next, secret, writers)
	if err != nil {
		return err
	}
	if err := s.addEpoch(d, next, secret); err != nil {
		return err
	}
	if err := d.Drive.Mark(); err != nil {
		return err
	}
	if _, err := s.e.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDriveKeys, Key: ek.Key(s.e.User()), Value: ek.Marshal()}); err != nil {
		return err
	}
	s.opts.Logf("drive %s: key epoch %d begins, sealed to %d writers", d.Name, next, len(writers))
	s.Kick()
	return nil
}
