// Package ledger implements a network's ledger: a signed DAG of operations and its fold.
//
// It implements a private network's ledger: a signed, hash-linked DAG of operations
// (genesis, invites, members, nodes) stored on disk, and the State every member
// computes from it.
//
// # Operations
//
// An Op is signed by its Author over its canonical CBOR encoding (RFC 8949
// Core Deterministic Encoding, by github.com/fxamacker/cbor/v2; without the
// signature, after the domain string "coconet/ledger/op/v1\x00"). Its ID is
// the SHA-256 of the whole encoding, signature included, and it names as
// Parents the IDs of the operations its author had seen (the heads of the
// author's log). The NetworkID is the ID of the genesis operation, so anyone
// holding it can check the owner.
//
// # The fold
//
// Fold turns a set of operations into a State. It is a pure function of the
// SET: every node that holds the same operations computes the same State, in
// whatever order they arrived. The rule, in plain words:
//
//  1. Order. Operations are applied in a canonical order: a topological order
//     of the DAG (parents before children) in which, whenever several
//     operations are ready, the one with the smallest ID (bytewise) goes
//     first. Operations whose parents are absent are ignored.
//
//  2. Removal wins; seniority decides between removals. Every remove_user
//     operation is ranked by the seniority of its author at the operation's
//     causal point (the state folded from the operation's ancestors alone):
//     the owner first, then admins, then guests, then non-members; within a
//     role, the user who was added earlier in the canonical order first; ties
//     by operation ID. Walking that ranking, each removal that has not been
//     voided itself voids every operation authored by its subject that is
//     concurrent with it (neither its ancestor nor its descendant) —
//     including the subject's own removals of others. What the subject did
//     before the removal (ancestors) stands; what the subject does after
//     seeing it (descendants) is judged normally, so it counts only if the
//     subject was added again.
//
//  3. Apply. Walking the canonical order, each operation that was not voided
//     is checked against the permission matrix (see State.Check) on the state
//     so far and applied if it passes. Voided and failing operations have no
//     effect and are listed in State.Rejected with a reason.
//
//  4. Repeat. A removal rejected in step 3 (for instance because its author's
//     own membership came from a voided add) must not void anything, so steps
//     2 and 3 are repeated, ignoring the removals rejected by the previous
//     pass, until the set of applied operations stops changing (at most
//     len(ops)+1 rounds). This is deterministic too.
//
// Examples: two admins removing each other concurrently — the one added first
// wins, the other is removed and their removal has no effect. An admin adding
// a guest concurrently with the owner removing that admin — the add is
// voided, and what the guest did afterwards is rejected because the guest
// never became a member.
//
// # Checks at the causal point
//
// Log.Add accepts an operation from a peer only if it verifies and is
// authorized at its causal point (the fold of its ancestors), so a log never
// holds operations that were invalid when they were made; concurrent
// conflicts between valid operations are settled by the fold.
//
// # Proofs and time
//
// Besides its author's signature, an operation carries the proofs of the
// keys it speaks for, checked in the fold (State.Check):
//
//   - A redeem (add_user with Ref) carries InviteSig, the signature of the
//     invite's key (the public key of the invite op's InviteKey, derived
//     from the code's secret) over RedeemSigningBytes: network, invite,
//     subject and role. Only the holder of the code can redeem it, for the
//     user and role it signed; no other member can use up an invite or its
//     leftover uses, and a proof seen in the ledger names its user, so it
//     cannot be replayed for a puppet.
//   - An add_node authored by anyone but the owner carries NodeSig, the
//     node key's signature over NodeProofBytes: network, node and user. Nobody
//     binds a key they do not hold (a device's, another user's node) to
//     themselves; the owner alone binds keys without it (devices, from their
//     claim codes).
//
// An operation is dated no earlier than its newest parent (an equal time is
// fine); Append dates its ops so even when a peer's clock runs ahead, and
// Add refuses ops more than MaxClockSkew (10 minutes) ahead of this node's
// clock. The fold checks an invite's expiry against the redeem's Time, which
// its author chooses; so when a redeem first reaches a node by Add or
// AddAll, that node also checks the expiry against its own clock, allowing
// RedeemSkew (5 minutes), if the invite was already in its log and the
// redeem's author could not have added the user directly (a guest, or an
// admin redeeming an admin invite): a redeem backdated to before its
// invite's expiry is refused by every member that saw the invite. Honest
// joins are served by the inviter's node, which could add the user
// directly, so a member back from offline takes them whenever they arrive,
// and a new member takes the history its first sync brings.
//
// # Application tables
//
// Besides members, nodes and invites, a ledger holds the records of the
// application tables listed in Tables (devices, firmware authorizations,
// zones, placements, grants, scenes, the push server's keys, groups, routers
// and aliases): put and delete operations, each table writable from a
// least role. They fold like everything else: canonical order, the last put
// of a key wins, a concurrent removal of their author voids them.
//
// # Quotas
//
// So that no member can make the others store and fold without limit, the
// permission matrix has quotas (quota.go), decided in the fold like every
// other check, from the ops' signed times and the DAG:
//
//   - operations per author per hour (UTC clock hours): guests 1,000,
//     admins 10,000, the owner unlimited; counted over the author's ops that
//     took effect earlier in the canonical order, so concurrent branches of
//     one author dated in the same hour share one budget and every replica
//     picks the same ones;
//   - nodes per member at a time: guests 16, admins 256, the owner
//     unlimited, whoever adds them.
//
// An op over a quota is refused (Append, Add at its causal point) or, in a
// fold, listed in Rejected, with ErrQuota and a reason naming the quota.
// Guests write no application records, so they need no quota of records.
//
// # Cost
//
// Ancestry is a chain decomposition with a persistent vector clock per op
// (fold.go): exact, and one small leaf per op on a linear ledger. The
// seniority of a removal that descends from every op before it is read from
// a running fold of the prefix, so a mostly linear ledger folds in two
// passes; a removal concurrent with earlier ops costs a fold of its
// ancestors, once (memoised by the log). About 0.7 s of CPU and 180 MB
// allocated for 100,000 ops (BenchmarkFold). An operation that descends
// from the whole log (every Append, and live sync of a linear history)
// extends the current state instead (extend.go), in time independent of
// the log's size; Fold is run again only when concurrent operations arrive.
// AddAll verifies a batch without the log's lock and adds it 1,000 ops per
// hold of the lock.
package ledger
