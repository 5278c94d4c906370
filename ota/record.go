package ota

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/ledger"
)

// RecordVersion is the version of the ledger record's encoding ("v").
const RecordVersion = 1

// MaxImageSize bounds an image (4 GiB).
const MaxImageSize = 4 << 30

// maxField bounds a model or version string.
const maxField = 64

// Authorization is one firmware image the owner authorized for one device
// node, as the ledger's ota table records it.
type Authorization struct {
	V       int    `json:"v"`
	Device  string `json:"device"`         // the device node's peer ID
	Name    string `json:"name,omitempty"` // the device's name when authorized
	Model   string `json:"model,omitempty"`
	Version string `json:"version"`
	Size    int64  `json:"size"`
	SHA256  string `json:"sha256"`
	// Source is the node that keeps the image and serves it.
	Source       string    `json:"source,omitempty"`
	AuthorizedAt time.Time `json:"authorized_at"`

	// Op is the ledger operation that put the record; set when read from
	// a ledger, never stored.
	Op ledger.ID `json:"-"`
}

// Key is the record's key in the ota table: "<device>/<version>".
func (a Authorization) Key() string { return a.Device + "/" + a.Version }

// Marshal encodes the record's value.
func (a Authorization) Marshal() []byte {
	a.V = RecordVersion
	b, _ := json.Marshal(a)
	return b
}

// Validate reports what is wrong with a record, nil if nothing.
func (a Authorization) Validate() error {
	if a.V != RecordVersion {
		return fmt.Errorf("record format v%d is not known (this coco knows v%d); update coco", a.V, RecordVersion)
	}
	if _, err := peer.Decode(a.Device); err != nil {
		return fmt.Errorf("device %q is not a node ID", a.Device)
	}
	if a.Source != "" {
		if _, err := peer.Decode(a.Source); err != nil {
			return fmt.Errorf("source %q is not a node ID", a.Source)
		}
	}
	if err := checkVersion(a.Version); err != nil {
		return err
	}
	if err := checkModel(a.Model); err != nil {
		return err
	}
	if a.Size <= 0 || a.Size > MaxImageSize {
		return fmt.Errorf("image size %d is out of range (1 byte to %d bytes)", a.Size, int64(MaxImageSize))
	}
	if !isSHA256(a.SHA256) {
		return fmt.Errorf("sha256 %q is not 64 lowercase hex digits", a.SHA256)
	}
	return nil
}

// ParseAuthorization decodes and validates a record's value.
func ParseAuthorization(b []byte) (Authorization, error) {
	var a Authorization
	if err := json.Unmarshal(b, &a); err != nil {
		return Authorization{}, fmt.Errorf("ota: bad record: %w", err)
	}
	if err := a.Validate(); err != nil {
		return Authorization{}, fmt.Errorf("ota: bad record: %w", err)
	}
	return a, nil
}

// List returns every valid authorization in st, newest first. Records that
// do not decode, or whose key does not match their value, are skipped.
func List(st *ledger.State) []Authorization {
	var out []Authorization
	for _, r := range st.Table(ledger.TableOTA) {
		a, err := fromRecord(st, r)
		if err != nil {
			continue
		}
		out = append(out, a)
	}
	slices.SortStableFunc(out, newerFirst)
	return out
}

// ForDevice returns the authorizations for the device node dev, newest
// first.
func ForDevice(st *ledger.State, dev peer.ID) []Authorization {
	var out []Authorization
	for _, a := range List(st) {
		if a.Device == dev.String() {
			out = append(out, a)
		}
	}
	return out
}

// Lookup returns the authorization recorded under key in st.
func Lookup(st *ledger.State, key string) (Authorization, bool) {
	r := st.Record(ledger.TableOTA, key)
	if r == nil {
		return Authorization{}, false
	}
	a, err := fromRecord(st, r)
	return a, err == nil
}

func fromRecord(st *ledger.State, r *ledger.Record) (Authorization, error) {
	a, err := ParseAuthorization(r.Value)
	if err != nil {
		return a, err
	}
	if a.Key() != r.Key {
		return a, errors.New("ota: record key does not match its value")
	}
	// The ledger lets only the owner write the table; check it anyway, so
	// that a change in the table's rules cannot authorize firmware.
	if st.Role(r.Author) != ledger.RoleOwner {
		return a, errors.New("ota: record not written by the owner")
	}
	a.Op = r.Op
	return a, nil
}

// newerFirst orders by authorization time, newest first; then by key.
func newerFirst(a, b Authorization) int {
	if c := b.AuthorizedAt.Compare(a.AuthorizedAt); c != 0 {
		return c
	}
	return strings.Compare(a.Key(), b.Key())
}

func checkVersion(v string) error {
	if v == "" {
		return errors.New("a version is required (e.g. --version 1.2.0)")
	}
	if len(v) > maxField {
		return fmt.Errorf("version %q is longer than %d characters", v, maxField)
	}
	for _, c := range v {
		if !isAlnum(c) && !strings.ContainsRune(".-+_", c) {
			return fmt.Errorf("version %q may hold only letters, digits and . - + _", v)
		}
	}
	return nil
}

func checkModel(m string) error {
	if len(m) > maxField {
		return fmt.Errorf("model %q is longer than %d characters", m, maxField)
	}
	for _, c := range m {
		if !isAlnum(c) && !strings.ContainsRune(".-+_ ", c) {
			return fmt.Errorf("model %q may hold only letters, digits, spaces and . - + _", m)
		}
	}
	return nil
}

func isAlnum(c rune) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isSHA256(s string) bool {
	if len(s) != 64 || strings.ToLower(s) != s {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// CompareVersions compares two versions the way semantic versioning does,
// leniently: a leading "v" and build metadata ("+…") are ignored, the dotted
// parts compare numerically when both are numbers (missing parts count as
// 0, so 1.2 = 1.2.0), and a pre-release ("-rc1") comes before its release.
// It returns -1, 0 or +1.
func CompareVersions(a, b string) int {
	am, ap := splitVersion(a)
	bm, bp := splitVersion(b)
	if c := compareParts(am, bm, true); c != 0 {
		return c
	}
	switch {
	case ap == nil && bp == nil:
		return 0
	case ap == nil:
		return 1
	case bp == nil:
		return -1
	}
	return compareParts(ap, bp, false)
}

func splitVersion(v string) (main, pre []string) {
	v = strings.TrimPrefix(strings.TrimPrefix(v, "v"), "V")
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		pre = strings.Split(v[i+1:], ".")
		v = v[:i]
	}
	return strings.Split(v, "."), pre
}

// compareParts compares dotted parts; pad says missing parts count as "0"
// (the release), otherwise the shorter list comes first (pre-releases).
func compareParts(a, b []string, pad bool) int {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		switch {
		case i < len(a) && i < len(b):
			x, y = a[i], b[i]
		case !pad && i >= len(a):
			return -1
		case !pad:
			return 1
		case i < len(a):
			x, y = a[i], "0"
		default:
			x, y = "0", b[i]
		}
		if c := comparePart(x, y); c != 0 {
			return c
		}
	}
	return 0
}

func comparePart(x, y string) int {
	xn, xerr := strconv.ParseUint(x, 10, 64)
	yn, yerr := strconv.ParseUint(y, 10, 64)
	switch {
	case xerr == nil && yerr == nil:
		switch {
		case xn < yn:
			return -1
		case xn > yn:
			return 1
		}
		return 0
	case xerr == nil: // numbers come before words
		return -1
	case yerr == nil:
		return 1
	}
	return strings.Compare(x, y)
}
