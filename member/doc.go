// Package member implements membership proofs a control plane checks without the ledger.
//
// It implements membership proofs that a control plane can verify from a network's ID
// alone, without the network's ledger: the network's genesis operation (whose hash is
// the network ID and whose author is the owner), a short-lived node certificate signed
// by the owner or by an admin, and for an admin the owner's longer-lived delegation.
// It also defines signed revocations of a node or a user.
//
// A revocation covers only what existed when it was issued: certificates
// issued at or before it (for the node key, or for the user), and for a
// user the certificates they issued under a delegation given at or before
// it. An admin's revocation can neither name the owner nor cover the
// owner's certificates, and a control plane keeps it no longer than a
// certificate lives; the owner's revocation of a user is kept as long as
// a delegation lives, and withdraws the revocations that user signed.
//
// Wire format (version 1, big-endian, fixed order; a new version gets a new
// leading byte, so a reader refuses what it does not know):
//
//	Cert       = 0x01 net[32] node[32] user[32] role[1] issued[8] expires[8] issuer[32] sig[64]
//	Delegation = 0x01 net[32] admin[32] issued[8] expires[8] sig[64]
//	Revocation = 0x01 net[32] kind[1] subject[32] until[8] issued[8] issuer[32] sig[64] hasDeleg[1] [Delegation]
//	Proof      = 0x01 len[2] genesis[len] hasDeleg[1] [Delegation] Cert
//
// Times are unix seconds. Signatures are Ed25519 over a domain string
// ("coconet/member/<kind>/v1\x00") followed by the encoding without sig.
package member
