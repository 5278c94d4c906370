// Package gateway implements the push server for tiny devices and its bridge.
//
// It implements a push server for tiny devices that speaks the P2Pcluster protocol.
//
// A Server speaks one of two dialects (Server.Dialect): the wire protocol
// of the original P2Pcluster server (github.com/workaholic2002x/P2Pcluster,
// DialectP2Pcluster, the default of `coco push-server`), so that devices
// and scripts written for it work unchanged, or coconet's newline-framed
// dialect (DialectCoconet, the zero value, `--dialect coconet`). Both route
// the same way (ids, tree groups, mesh routers, aliases), take the same
// keys and records from the network's ledger, reach ids on the other push
// servers of the network, and offer HMAC-SHA256 session keys and the raw
// channel across servers. The coconet dialect is described first; "The
// P2Pcluster dialect" below says what differs.
//
// # The coconet dialect
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
// # The P2Pcluster dialect
//
// Framing. The original takes one TCP read as one command. Here a command
// ends at "\n" (a "\r" before it is dropped) when there is one, so that two
// commands in one segment are two commands and a command split over
// several segments is one; bytes without a terminator are taken as one
// command once no byte came for Server.ReadPause (25 ms, `--read-pause`)
// after the last. A device that sends a command and waits for its reply
// (as every client of the original does) is parsed as by the original; a
// device that sends several commands without waiting must end each with a
// terminator, or they run together. A terminator also saves the pause.
// Commands are at most Server.MaxLine bytes ([FAIL:TOO_LONG], then the
// connection closes). An empty line is ignored.
//
// Replies have no terminator, nor does a push ("PUSH:<data>"):
//
//	TCP:ID:<key>:<id>                 [OK:<ID>] (the id in upper case); [FAIL:NODEEXIST] and the
//	                                  connection closes if another live connection has the id;
//	                                  [FAIL:<current id>] if this one has another id;
//	                                  [FAIL:KEY_OVERRIDE] if it has an id in another account
//	TCP:GID:<key>                     [OK:<ID>]
//	TCP:REMID:<key>                   [OK:NODEREMOVED]
//	TCP:PUSH:<key>:RID:<id>:<data>    [OK:DATA_SENT] or [FAIL:REM_ID] ([FAIL:REM_LINK]: its queue is full)
//	TCP:PUSH:<key>:PARENT:<data>      [OK:DATA_SENT], [FAIL:REM_ID], [FAIL:NO_PARENT] for a root
//	TCP:PUSH:<key>:CHILDS|ALLCHILDS|FRIENDS:<data>
//	                                  [OK:ALL_<n>] if all n got it, [OK:<delivered>/<total>], [FAIL:NO_ID]
//	TCP:PUSH:<key>:RO:<router>:<data> the same, to the other ids attached; FAIL:NO_ROUTER (no
//	                                  brackets) for an unknown router or a sender not attached
//	TCP:PUSH:<key>:RAW:<id>           [OK:LINK_SYNC]; <id> gets "PUSHRAW:", asks back the same way
//	                                  and gets [OK:LINK_SYNC]; from then on bytes flow unchanged.
//	                                  Bytes the first sends before that wait for the channel (at
//	                                  most Server.IdleTimeout). [FAIL:REM_ID]: not connected.
//	TCP:TIME:<key>:<±hh:mm>           [IST:(Thu)(3,12,2026)(13:21:07)(<unix seconds>)]: the zone's
//	                                  name, day, date (day unpadded) and time at the offset, and
//	                                  the real Unix time; an offset no zone uses gives GMT
//	TCP:RETDATA:<key>:<n>             the connection's last 5 pushes: n = 0 ">d1>d2…", n the n-th
//	                                  (oldest first), past the end nothing (no reply)
//	TCP:EMAIL:<key>:<to>:<subject>:<message>
//	                                  [OK:MAIL_SENT] through Server.Mail (`--smtp`); [FAIL:INVALID ID],
//	                                  [FAIL:INVAILD_FORMAT] (sic), [FAIL:MAIL_LIMIT] (Mailer.PerHour
//	                                  per account), [FAIL:MAIL_DISABLED] without a mail server
//	any TCP command but ID before it  FAIL:NOID (no brackets); FAIL:NOKEY with another account's key
//	a wrong key                       [FAIL:INVALID_KEY]; 5 of them before a valid one close the connection
//	an unknown protocol               [FAIL:Unknown Command]; an unknown TCP verb [FAIL:Invalid Command];
//	                                  an unknown group [FAIL:UNKNOWN_CMD]; a group without data
//	                                  [FAIL:Invalid Format]
//	a TLS ClientHello                 "HTTP/1.1 403 SSL Required\n", then the connection closes
//
// Case: protocols, verbs, keys (hex, any case), ids, group and router
// names are case-insensitive; PUSH data is passed as is. An id is
// registered as the directory spells it (so `coco push group` records in
// any case match), or in upper case if the directory does not know it, and
// is echoed in upper case. A coconet-dialect device of the same network
// registered under a spelling the directory does not know is reached only
// by that spelling in upper case.
//
// Idle devices stay: a connection that sent a valid key is never closed
// for silence; after Server.SyncEvery (300 s) without a byte from it, it
// gets [SYNC:dd.MM.yyyy_HH:mm:ss] (and TCP keepalives find dead peers). A
// connection that sends no valid key within Server.AuthTimeout (60 s in
// this dialect) is closed.
//
// Session keys, as the original's README documents them, work before
// TCP:ID, naming the account by its user id (the account's name, e.g.
// `coco push key create NET --account alice@example.com`), so that the key
// never crosses the wire:
//
//	STCP:<user id>:ACTIVATE[:<clientRnd>]   [OK:<RND>] or [OK:<RND>:<MD5(KEY ‖ clientRnd)>] (clientRnd
//	                                        of 8 or more characters); [FAIL:INVALID_USERID]
//	DSTCP:<user id>:ACTIVATE[:<clientRnd>]  the same
//	STCP:<user id>:DEACTIVATE               [OK:STCP_DEACTIVATED] (DSTCP: [OK:DSTCP_DEACTIVATED])
//
// RND is a fresh challenge of 8 upper-case hex digits; the session key is
// MD5(KEY ‖ RND) in upper-case hex (any case accepted), the DSTCP key of a
// command MD5(KEY ‖ RND ‖ d) where d is, as in the original, the first
// ':'-field after the key before TCP:ID and the second one after ("" if
// none): it does not cover the rest of the data. KEY is the account key as
// stored (as `coco push key create` printed it). With several keys in an
// account, the smallest is the account's. STCP256/DSTCP256 (HMAC-SHA256)
// work as in the coconet dialect, after TCP:ID, named by the connection's
// id.
//
// HTTP on the device port: a connection whose first command starts with
// "GET " is an HTTP request, answered in the original's envelope
// ("HTTP/1.0 200 OK", "Server: HTTP server/0.1", a Date, text/html, then
// "<html><body><answer> [dd.MM.yyyy_HH:mm:ss]</body></html>", line breaks
// as <br>) or, with "Accept: application/json", as JSON; then the
// connection closes. Routes, all authorised by KEY=<account key> and
// about that account ("ERROR! Invalid KEY" without it):
//
//	GETTREE[&NODE=n]     "{id|id|…}" then "parent->child,child" per parent (the account's name
//	                     is the parent of the roots); from n's subtree if given
//	ADDNODE&PNODE=p[&NODE=n]  p becomes a root, or n a child of p; answers GETTREE
//	DELNODE&NODE=n       n and its subtree leave the tree; UPDATENODE&PNODE=old&NODE=new renames
//	DEPTH                the number of levels; PARENT&NODE=n its parent or ROOT; CHILD&NODE=n its children
//	GETINTROUTER         "router->id,id" per router; ADDINTROUTER&ROID=r, DELINTROUTER&ROID=r,
//	                     ADDNODEINTROUTER&ROID=r&NOID=a,b, DELNODEINTROUTER&ROID=r&NOID=a
//	ADMIN&LIVE           "[ID][ID]…": the account's ids connected to this server
//	GET /TCP:<command>   runs one command on this connection and answers its reply (HTML-escaped)
//
// Edits go through Server.Edit: `coco push-server` writes them to the
// network's ledger like `coco push group|router` (they need an admin's
// node; elsewhere they are refused).
//
// Differences from the original, on purpose:
//
//   - GOOGLESHEET is left out ([FAIL:Invalid Command]): it made the server
//     fetch any URL a device named.
//   - Framing: see above; the original runs two commands of one segment
//     together and splits one command over two reads.
//   - An LF-only line: the original registers an id ending in "\n"; here
//     the terminator is stripped.
//   - CHILDS and FRIENDS of a non-root with two or more children fail in
//     the original; here they reach every child or sibling.
//   - Router names in lower case are unreachable in the original; here all
//     names are case-insensitive.
//   - The original takes any key once a connection has registered; here
//     every command's key is checked.
//   - The original's STCP proof MD5(KEY ‖ clientRnd), offered before
//     TCP:ID, lets a stranger who knows a user id ask for
//     MD5(KEY ‖ <another connection's challenge>), its session key: a
//     clientRnd that starts like a challenge (8 upper-case hex digits with a
//     letter; every challenge has one) gets [FAIL:CLIENT_RND]. Digits or
//     lower-case hex are fine. The original's challenge is per connection;
//     here it is fresh for each ACTIVATE.
//   - RETDATA remembers each push once (the original once per receiver).
//   - ADMIN?LIVE lists the ids of the key's account only (the original
//     lists every account's "key:id" to anyone); the HTTP routes the
//     original has for user accounts (USER, USERDEL, …) are not offered:
//     accounts are keys in the network's ledger.
//   - [FAIL:TOO_LONG], [FAIL:TOO_MANY], [FAIL:CLIENT_RND], [FAIL:MAIL_…]
//     and the limits of "Limits" below are coconet's.
//
// The tests in p2pcluster_test.go replay the sessions of the original's
// README and PushAPI.txt byte for byte in both framings; the original
// itself was not run beside them (its repository lacks the built jar).
//
// # Session keys
//
// In the coconet dialect, a registered connection may replace its account key by a session key so
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
// a push to a full queue is dropped ([FAIL:BUSY] for RID). A reader
// goroutine runs only while a device sends, a writer goroutine only while
// something waits to be written: a registered device silent for 10 ms is
// parked (Linux), its socket and its read deadline left to the server's
// poller (one epoll set, one heap of deadlines, one goroutine), its read
// buffer back in a shared pool; its next bytes, its hang-up or its
// deadline ([SYNC:…], IdleTimeout) start a reader again, which goes on
// where the last one stopped. A connection that has not sent a valid key
// yet, holds part of a command, or waits in a raw channel's hold keeps
// its reader. An idle device costs about 2 KiB (bench/push.sh: RSS with
// 10,000 of them; 6 KiB with a reader each).
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
// order it sent them. The far server queues all the pushes of a request
// before it writes, so a device gets what one request holds for it with
// one write, and the replies of a request's pushes reach their senders
// the same way. The device does not wait: its reader goes on with
// the next lines while the reply to the forwarded push waits for the far
// servers, and every reply keeps its place (AsyncForwarder). The request
// is JSON (version 1):
//
//	{"t":"push","p":[{"a":"<account>","f":"<from id>","to":["<id>",…],"d":"<base64 data>","l":true},…]}
//	→ {"n":[<delivered>,…]}
//	{"t":"raw","p":[{"a":"<account>","f":"<from id>","to":["<id>"]}]} → {"raw":"wait"|"both"} or {}
//	{"t":"hello","v":2} → {"v":2}; {"t":"bye"} → {}
//
// A push server whose hello (or reply to one) says "v":2 reads push
// requests in version 2, binary, and gets them so; the reply is the same
// JSON. Numbers are unsigned varints, strings and data a length then the
// bytes:
//
//	0x02 <n> n × (<flags: 1 = loose> <account> <from id> <count> count × <id> <data>)
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
