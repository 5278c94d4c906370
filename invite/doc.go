// Package invite encodes and decodes coconet invite codes.
//
// It encodes and decodes coconet invite codes: the network ID, the one-time secret
// whose derived key the ledger's invite operation names, the role and expiry (for a
// clear error before any network round trip), the inviting node's direct and relay
// addresses, and the control planes it uses.
//
// Codes are "coco1" and base32 of a versioned binary payload with a
// checksum. Encode writes version 2, which names each peer ID once; Decode
// reads versions 1 and 2.
package invite
