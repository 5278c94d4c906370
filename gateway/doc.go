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
//	                                connections carry bytes both ways unchanged until either closes.
//	                                Send nothing else between asking and [OK:RAW:…].
//
// Receivers get "PUSH:<data>". Group pushes need a registered id; the
// receivers are the ids of the sender's account. A RID target or router
// member that is an alias is replaced by the id it names. Pushes to ids not
// connected to this server go to Server.Forward (nil: they are offline).
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
// a push to a full queue is dropped ([FAIL:BUSY] for RID).
//
// # What comes later
//
// KeyStore and Directory have in-memory implementations (MemKeyStore,
// MemDirectory). The ledger-backed ones, which let every push server of a
// network share the account keys, tree groups, mesh routers and aliases an
// admin defines, come later, as does the Forwarder that bridges push
// servers over the P2P network (it calls Server.Deliver on the far side).
package gateway
