// Package invite encodes and decodes coconet invite codes: the network ID,
// the one-time secret whose derived key the ledger's invite operation names,
// the role and expiry (for a clear error before any network round trip), and
// the addresses of members that can redeem it.
package invite
