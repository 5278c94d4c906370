// Package strictcbor holds the CBOR modes for signed and hashed data.
//
// Encoding is RFC 8949's core deterministic form (shortest integers and
// lengths, definite lengths, map keys in order) with byte arrays as byte
// strings and no MarshalText/MarshalBinary or tags, so a type's wire form
// cannot change by accident. Decoding refuses duplicate and unknown map
// keys, indefinite lengths, tags and invalid UTF-8, and bounds nesting,
// arrays and maps to what the caller's schema needs. The ledger's
// operations and the drive's log entries use them.
package strictcbor

import "github.com/fxamacker/cbor/v2"

// EncMode is the deterministic encoding.
var EncMode = func() cbor.EncMode {
	opts := cbor.CoreDetEncOptions()
	opts.ByteArray = cbor.ByteArrayToByteSlice
	opts.BinaryMarshaler = cbor.BinaryMarshalerNone
	opts.TextMarshaler = cbor.TextMarshalerNone
	opts.TagsMd = cbor.TagsForbidden
	em, err := opts.EncMode()
	if err != nil {
		panic("strictcbor: encoding options: " + err.Error())
	}
	return em
}()

// DecMode is the strict decoding, bounded to nesting levels, array
// elements and map pairs (the library's least allowed are 4, 16 and 16).
func DecMode(nesting, arrays, maps int) cbor.DecMode {
	dm, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		UTF8:              cbor.UTF8RejectInvalid,
		MaxNestedLevels:   nesting,
		MaxArrayElements:  arrays,
		MaxMapPairs:       maps,
		BinaryUnmarshaler: cbor.BinaryUnmarshalerNone,
		TextUnmarshaler:   cbor.TextUnmarshalerNone,
	}.DecMode()
	if err != nil {
		panic("strictcbor: decoding options: " + err.Error())
	}
	return dm
}
