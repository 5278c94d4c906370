package drive

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/coconet/coconet/internal/strictcbor"
)

// Entry is one block of a writer's log as a replica sees it: the addresses
// of the chunks the entry needs (so that a replica without the key knows
// what to fetch and keep) and the sealed operation, readable only with the
// drive's key of its epoch.
type Entry struct {
	Refs   []Hash `cbor:"1,keyasint,omitempty"`
	Sealed []byte `cbor:"2,keyasint"`
	// Epoch names the content key the op is sealed with: 0 is the drive
	// secret, each removal of a member starts a new one (see Rotate).
	Epoch uint32 `cbor:"3,keyasint,omitempty"`
}

var encMode = strictcbor.EncMode

// decMode reads everything that comes from a peer or the disk: no
// duplicate or unknown keys, no indefinite lengths or tags, and arrays and
// maps bounded (a message's block list is the longest array).
var decMode = strictcbor.DecMode(8, MaxRefs, 64)

func unmarshal(b []byte, v any) error {
	if err := decMode.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

func encodeEntry(e Entry) []byte {
	b, err := encMode.Marshal(e)
	if err != nil {
		panic("drive: encode entry: " + err.Error())
	}
	return b
}

func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	if len(b) > MaxBlock {
		return e, fmt.Errorf("%w: block of %d bytes", ErrMalformed, len(b))
	}
	if err := unmarshal(b, &e); err != nil {
		return e, err
	}
	return e, nil
}

func cutSuffix(s, suf string) (string, bool) { return strings.CutSuffix(s, suf) }

func decodeHex(dst []byte, s string) error {
	if hex.DecodedLen(len(s)) != len(dst) {
		return fmt.Errorf("%w: hex of %d chars", ErrMalformed, len(s))
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}
