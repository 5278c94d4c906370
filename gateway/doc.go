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
//	                                and [OK:RAW:…]. <id> may be connected to another push server
//	                                of the network ([FAIL:OFFLINE] if it is connected nowhere).
//
// Receivers get "PUSH:<data>". Group pushes need a registered id; the
// receivers are the ids of the sender's account. A RID target or router
// member that is an alias is replaced by the id it names. Pushes to ids not
// connected to this server go to Server.Forward (nil: they are offline).
// A raw channel pairs two ids of one push server, or, through a Bridge,
// of two push servers of a network (see "Raw channels across push
// servers"). Paired ids are no longer registered: pushes to them fail
// with OFFLINE. A device that asked and waits sends nothing, so if the
// other never asks in turn its connection closes after IdleTimeout; to
// give up sooner it closes the connection, and the other's late ask then
// gets [FAIL:OFFLINE]. A connection that is closing (after an error, its
// end, or IdleTimeout) loses its id at once.
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
// What a stranger can hold is bounded: a new connection must send a line
// with a valid key within Server.AuthTimeout (10 s; empty lines and
// refused lines do not count) or it closes. Server.MaxConns (20,000, at
// most a quarter of the process's file descriptor limit) caps the
// connections; at the cap a new connection takes the place of the oldest
// one that has not sent a valid key yet, and with none such it gets
// [FAIL:TOOMANY] and closes. Server.MaxConnsPerIP (256; IPv6 by /64)
// caps those from one source the same way. Accept errors (EMFILE) back off
// from 5 ms to 1 s, as net/http's Server does, and are logged at most once
// every 10 s. bench/pushflood.sh shows a daemon under 20,000 idle
// connections still answering `coco status` and delivering pushes.
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
// The records, one per key of five tables (JSON values; unknown fields are
// ignored, so later versions may add some):
//
//	table        key                         value
//	push_server  <peer ID of a node>         {}   (the node is a push server)
//	push_key     <16 random hex digits>      {"account":"main","name":"<label>","sealed":[{"to":"<reader>","who":"<name>","box":"<base64>"}…],"exposed":["<name>"…]}
//	push_group   <account>/<id>              {"parent":"<parent>"}   ("" makes id a root)
//	push_router  <account>/<router>          {}                      (the router exists)
//	push_router  <account>/<router>/<id>     {}                      (id is attached to it)
//	push_alias   <account>/<alias>           {"id":"<id>"}
//
// # Who reads the account keys
//
// Only the admins (and the owner) and the push-server nodes an admin named
// (AddServer; `coco push server add NET NODE`, or an admin's `coco
// push-server` on the admin's own node) may read the account keys: each
// key record holds the key sealed to each of them (HPKE to the X25519 form
// of the reader's Ed25519 user or node key, see seal.go), so a guest's
// copy of the ledger holds boxes she cannot open. The key itself is shown
// once, when it is created or rotated; listings name it by its record's
// random ID. StartBridge runs only on a named node, and push servers
// exchange pushes, hellos and raw channels (coco.push, coco.push.raw)
// only with named nodes: any other member node is refused with
// ErrNotPushServer. An admin's daemon seals the keys again when the
// readers change (Reseal), so a newly named push server or a new admin
// reads them once an admin who can is online. A reader that loses access
// (removed, demoted, its node removed or no longer named) may remember the
// keys: Keys marks each key it could read with Rotate until RotateKey gives
// it a new value (`coco push key rotate NET ACCOUNT`; `coco remove` and
// `coco push key list` say so); push servers refuse the old value as soon
// as the rotation reaches their ledger. Records of the old plain-text form
// ({"account","key","name"} under KeyID(key)) still work and are marked to
// rotate; the first reseal turns them into sealed ones.
//
// Accounts, ids, routers and aliases use the id alphabet (no '/'); records
// that do not parse are ignored. A parent without a record of its own is a
// root. The tree is checked for cycles when written; two admins writing at
// once could still make one, and lookups stay finite (a cycle has no root).
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
//	{"t":"raw","p":[{"a":"<account>","f":"<from id>","to":["<id>"]}]} → {"raw":"wait"|"both"} or {}
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
// device wait so at a time.
//
// # Raw channels across push servers
//
// TCP:RAW for an id that is not connected to this server asks every known
// push server at once (a "raw" request, above; the asking device's reader
// waits for the answers, at most 10 s) and replies [OK:WAIT:<id>] if one
// has the id, [FAIL:OFFLINE] if none does. The server that has it sends
// the device "RAW:<asker>", as for a local ask, and remembers who asked
// from where ("wait"). When that device asks for the asker in turn, its
// server opens one stream to the asker's node on the stream service
// coco.push.raw and sends a header, one length byte then
// "<account>:<from>:<to>"; the asker's server answers one byte, 0 if <to>
// still waits for <from> (it stops taking pushes and gets [OK:RAW:<from>])
// or 1 if not, and the dialing device gets [OK:RAW:<to>] (after a refusal
// its ask is sent out as a first one). If both ask before either has its
// answer, both servers answer "both" and the one with the lower peer ID
// opens the stream; a stream that comes while its id's own ask is still
// out waits for that ask's reply, so every device sees its replies in the
// order of the local protocol.
//
// From then on each server copies between its device and the stream: the
// bytes are unchanged both ways; a device that ends its side (EOF) ends
// the stream's write side and the other device reads the end and may still
// answer; a server closes its device's connection and the stream once both
// directions have ended, and resets the stream (which closes the other
// device's connection) on an error, a reset, or after IdleTimeout without
// bytes in a direction. A closing push server or node ends its channels
// the same way. Only member nodes can open the stream (the node's gater
// and the stream service, with the node's policies); like a forwarded
// push, the stream's header is taken on trust from a member node.
//
// Limits: pairing across servers costs a P2P round trip for the ask and
// one for the stream, and the bytes take the P2P connection between the
// two nodes (yamux over Noise over TCP, or QUIC): see bench/push.sh for
// what that costs beside plain TCP. An id connected to this server is
// paired here even if it is connected elsewhere too. An id remembers at
// most 64 far asks (until it leaves). If an ask or its answer is lost (a
// far server that does not answer within 10 s) one device may wait for a
// stream that never comes, until IdleTimeout; every wait of a server is
// bounded (10 s for an ask, 20 s for opening a stream).
package gateway
