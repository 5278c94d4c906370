// Package devapi is the control plane's REST API for a developer network's own service.
//
// `coco control --api ADDR` serves it. A developer's service calls it with an
// API key (`Authorization: Bearer cak_…`) to list the network's nodes, read
// its usage against the plan, and — through the delegation the owner signed
// for the control plane — mint auth keys, revoke nodes and set the tag ACL.
//
// An API key is a random secret; the control plane keeps only its SHA-256
// inside a Grant the network's owner signed (network, key ID, hash, scopes,
// validity). The control plane cannot invent a key: every request re-checks
// the grant's signature against the owner named by the network's genesis
// (whose hash is the network ID), so a grant written into the store by
// anyone else, or a key of another network, gives nothing. A key is
// withdrawn by the owner's signed KeyRevocation, kept until the grant
// expires. Keys are compared in constant time, each route names the scope
// it needs, each key (and each source address for failed attempts) has a
// token bucket, and bodies are bounded.
//
// The control plane acts for a network only through the owner's
// delegate_service op naming its own service key (LoadServiceKey; the key
// never leaves the control plane), handed over signed (PUT /delegation)
// and checked again on every use: with ScopeEnroll it mints auth keys
// (package devnet), with ScopeRevoke it signs the next version of the
// network's revocation list, with ScopeACL the next tag policy; the
// control plane (control/devnet.go) takes them, drops revoked
// registrations and pushes the lists to the network's nodes, which check
// every signature back to the genesis themselves. Lists the API signs are
// also saved in its Store (KVStore over etcd for replicas), so a restarted
// or another replica continues from the newest version.
//
// Wire format of the signed objects (version 1, big-endian; Ed25519 over a
// domain string followed by the encoding without sig):
//
//	Grant         = 0x01 net[32] id[12] hash[32] scopes[2] issued[8] expires[8] issuer[32] sig[64]
//	KeyRevocation = 0x01 net[32] id[12] issued[8] issuer[32] sig[64]
//
// The key a developer holds is "cak_" base32(id) "_" base32(secret[32])
// (lowercase, no padding); hash = SHA-256("coconet/apikey/secret/v1\x00" ‖ secret).
package devapi
