// Package devnet implements developer-network credentials: auth keys, node credentials, revocation lists and tag ACLs.
//
// In a developer network (ledger.NetKindDeveloper) a node is a member
// because it holds a node credential whose chain verifies, not because the
// ledger lists it; the ledger holds only governance (the owner, admins,
// and the service keys the owner delegated with ledger.KindDelegateService).
// The chain is
//
//	genesis (its hash is the network ID, its author the owner)
//	  → [delegate_service op, signed by the owner, naming a service key and its scopes]
//	  → AuthKeyCert, signed by the owner or a service key with ScopeEnroll
//	  → NodeCred, signed by the auth key's enrollment key, naming the node key
//
// and every link is self-contained: a control plane checks a Proof (the
// genesis and a NodeCred) without the ledger; a node checks a NodeCred
// against its ledger's Anchor. An AuthKey, printed as one string, holds the
// enrollment private key, its certificate, the genesis and the control
// planes to register at: a node that has it makes its own credential, with
// no server.
//
// Revocations and Policy are signed, versioned lists per network (by the
// owner, or a service key with ScopeRevoke or ScopeACL); a verifier takes a
// list only if its version is higher than the one it holds (Store), so an
// old list replayed never undoes a revocation. Revocations name node keys,
// auth keys (every credential made under one) and, when the owner signs,
// service keys (everything they enrolled). Policy says which tags may talk
// to which; without one every member may talk to every other.
//
// One-off auth keys (not Reusable) need a place that remembers their first
// use: the control plane, at registration, through Claims. Peers cannot
// tell a second use; a node enrolled twice from a one-off key is refused
// registration, so it is not listed and not found through control planes,
// and the key is revoked to cut it off everywhere.
//
// Wire format (version 1): every type is a CBOR map with small integer
// keys (the tags on the struct fields) in RFC 8949 core deterministic
// encoding (internal/strictcbor), decoded strictly (unknown or duplicate
// keys, non-canonical forms and trailing bytes refused) and bounded in
// size. Signatures are Ed25519 over a domain string
// ("coconet/devnet/<kind>/v1\x00") followed by the encoding without Sig.
// Times are unix seconds.
package devnet
