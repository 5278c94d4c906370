// Package gateway implements a push server for tiny devices that speaks the
// P2Pcluster line protocol.
//
// A device opens one TCP connection and sends lines ended by "\n" (a "\r"
// before it is dropped). Fields are separated by ':'; the last field of a
// PUSH is the data and may itself hold ':'. Every command gets one reply,
// "[OK:…]" or "[FAIL:REASON]" (the Reason constants). Lines the server sends
// on its own are "PUSH:<data>" (a push to this id) and "RAW:<id>" (id asks
// for a raw channel). An empty line is a keepalive and gets no reply.
//
//	TCP:ID:<key>:<id>               register the connection as <id> in the account of <key> → [OK:<id>]
//	                                (the newest connection of an id wins)
//	TCP:GID:<key>                   → [OK:<id>] or [FAIL:NOID]
//	TCP:REMID:<key>                 unregister → [OK:<id>] or [FAIL:NOID]
//	TCP:PUSH:<key>:RID:<id>:<data>  to one id or alias → [OK:1], [FAIL:OFFLINE], [FAIL:BUSY]
//	TCP:PUSH:<key>:FRIENDS:<data>   to the other children of my parent (roots: the other roots
//	                                and the connected ids outside the tree) → [OK:<n>]
//	TCP:PUSH:<key>:CHILDS:<data>    to my children → [OK:<n>]
//	TCP:PUSH:<key>:ALLCHILDS:<data> to all my descendants → [OK:<n>]
//	TCP:PUSH:<key>:PARENT:<data>    to my parent → [OK:<n>] or [FAIL:NOPARENT]
//	TCP:PUSH:<key>:RO:<router>:<data> to every id attached to a mesh router → [OK:<n>] or [FAIL:NOROUTER]
//	TCP:TIME:<key>:<±hh:mm>         → [OK:<yyyy-mm-dd hh:mm:ss>:<local epoch>], the time at that
//	                                offset and the seconds since 1970-01-01 00:00:00 at that offset
//	                                (Unix time + offset: what an RTC without time zones wants)
//	TCP:RAW:<key>:<id>              ask for a raw channel with <id> → [OK:WAIT:<id>]; when <id> asks
//	                                for us too, both get [OK:RAW:<other>] and from then on the two
//	                                connections carry bytes both ways unchanged. A device that ends
//	                                its side (shutdown or close) ends the other's stream; both close
//	                                when both sides have ended, or at once on an error or after
//	                                IdleTimeout without bytes. Send nothing else between asking
//	                                and [OK:RAW:…].
//
// Receivers get "PUSH:<data>". Group pushes need a registered id; the
// receivers are the ids of the sender's account. A RID target or router
// member that is an alias is replaced by the id it names. Pushes to ids not
// connected to this server go to Server.Forward (nil: they are offline).
// A raw channel pairs two ids of one push server.
//
// # Session keys
//
// A registered connection may replace its account key by a session key so
// that a captured line is worth nothing on another connection:
//
//	STCP:<id>:ACTIVATE              → [OK:<rnd>]
//	STCP:<id>:ACTIVATE:<clientRnd>  → [OK:<rnd>:<proof>]
//	STCP:<id>:DEACTIVATE            → [OK:<id>]; the account key is back
//
// <rnd> is 16 random bytes of the server as 32 lowercase hex digits, fresh
// for each activation. Until DEACTIVATE (or the next ACTIVATE) the key field
// of every TCP line must be the session key (STCP) or the line's packet key
// (DSTCP); the account key itself is refused. Keys are lowercase hex (the
// server accepts upper case). Four protocol names select the form:
//
//	STCP      session key  MD5(key ‖ rnd)                  (historic)
//	DSTCP     packet key   MD5(key ‖ rnd ‖ data)           (historic)
//	STCP256   session key  HMAC-SHA256(key, rnd)
//	DSTCP256  packet key   HMAC-SHA256(key, rnd ‖ data)
//	proof     MD5(key ‖ clientRnd ‖ rnd) or HMAC-SHA256(key, clientRnd ‖ rnd)
//
// key is the account key as registered with TCP:ID, rnd and clientRnd are
// the ASCII of the hex strings, ‖ is concatenation, and data is everything
// after "TCP:<verb>:<key>:" in that line (empty for GID and REMID), so a
// packet key also seals the line's contents. SessionKey, PacketKey and Proof
// compute them. New devices should use the HMAC-SHA256 forms: MD5(key ‖ m)
// is open to length extension. Session keys stop replay across connections;
// a STCP line replayed on the same connection is still accepted, and the
// account key crosses the wire once in TCP:ID.
//
// # Limits
//
// A line longer than Server.MaxLine gets [FAIL:TOOLONG] and the connection
// closes; a connection that does not complete a line within
// Server.IdleTimeout of the previous one closes. Each connection holds at
// most one line buffer of MaxLine bytes and a queue of 64 outgoing lines;
// a push to a full queue is dropped ([FAIL:BUSY] for RID). An idle device
// costs one goroutine (its reader) and about 6 KiB; a writer goroutine runs
// only while something waits to be written.
//
// # Keys, groups and aliases in the network's ledger
//
// KeyStore and Directory say which keys are valid and what the groups are.
// MemKeyStore and MemDirectory keep them in memory (tests, embedding);
// LedgerStore reads them from a coconet network's ledger, where admins
// write them (CreateKey, RevokeKey, Apply; `coco push key|group|router|alias`),
// so that every push server of the network knows the same. The ledger lets
// only the owner and admins write these tables; a guest's write is refused
// with a *ledger.Rejection wrapping ledger.ErrUnauthorized. A LedgerStore
// follows the ledger live: every lookup uses the current state (an index
// of the push tables is rebuilt when the state changes), so a revoked key
// is refused, and a re-pointed alias followed, from the next line on.
//
// The records, one per key of four tables (JSON values; unknown fields are
// ignored, so later versions may add some):
//
//	table        key                         value
//	push_key     KeyID(key)                  {"account":"main","key":"<key>","name":"<label>"}
//	push_group   <account>/<id>              {"parent":"<parent>"}   ("" makes id a root)
//	push_router  <account>/<router>          {}                      (the router exists)
//	push_router  <account>/<router>/<id>     {}                      (id is attached to it)
//	push_alias   <account>/<alias>           {"id":"<id>"}
//
// KeyID is the first 16 hex digits of SHA-256(key): listings and revocations
// name keys by it, and the key itself is shown once, when it is created.
// Accounts, ids, routers and aliases use the id alphabet (no '/'); records
// that do not parse are ignored. A parent without a record of its own is a
// root. The tree is checked for cycles when written; two admins writing at
// once could still make one, and lookups stay finite (a cycle has no root).
// Every member node can read the ledger, so account keys are as secret as
// the network's membership: give push keys only to networks whose members
// may see them.
//
// # Across the network
//
// StartBridge runs a Server on a coconet node with a LedgerStore and a
// Bridge as its Forwarder (`coco push-server NET --listen HOST:PORT` does
// this in the daemon). Push servers find each other over the node's
// request/reply service coco.push: a bridge says hello to every member node
// it is connected to, at start and whenever a connection opens; a node that
// runs a push server answers, one that does not replies "unknown service".
// A hello received tells the same; a server that stops says bye, and one
// whose node disconnects is forgotten. A push for ids not connected to this
// server goes to every known push server (fan-out) and their counts add
// up, so RID, every tree group and RO reach ids wherever they are
// connected; FRIENDS of a root also reaches the ids outside the tree on
// other servers (Push.Loose). Each far server has an outbox: one request at
// a time carries what waits in it, up to 256 pushes, and the far server
// delivers them in that order, so the pushes of one device arrive in the
// order it sent them. The device does not wait: its reader goes on with
// the next lines while the reply to the forwarded push waits for the far
// servers, and every reply keeps its place (AsyncForwarder). The request
// is JSON:
//
//	{"t":"push","p":[{"a":"<account>","f":"<from id>","to":["<id>",…],"d":"<base64 data>","l":true},…]}
//	→ {"n":[<delivered>,…]}
//	{"t":"hello"} / {"t":"bye"} → {}
//
// Only member nodes take part: the node admits no one else, and the
// request/reply service checks membership and the node's policies on every
// request. Any member node may forward pushes (as any member can read the
// keys). The receiving server refuses data holding a newline.
//
// Costs and limits: a push for another server costs a share of one request
// per known push server (fine for the handful of gateways of a network)
// and its reply comes a P2P round trip later; at most 64 replies of one
// device wait so at a time. A raw channel pairs two ids of the same push
// server only.
package gateway
