// Package engine runs one node of a network and the services attached to it.
//
// An Engine owns a started node.Node (its libp2p host, gater, join, sync,
// peer exchange and control-plane client) and the ways of talking on it:
// acknowledged messages (package msg), request/reply (rpc), streams
// (stream) and pub-sub (pubsub). It answers, in one place, "which nodes of
// bob's, in what order" (Resolve) and waits within a context for a path to
// them (Send, Request, Dial). Its policies (AddPolicy) narrow who may use
// what beyond being a member, on every request, stream and subscription.
//
// Features attach to an engine in a typed slot (Attach, Lookup, Use): the
// home model's device host, the push server's bridge, OTA, and the daemon's
// own handles are values an engine keeps and closes with itself, found by
// their type. Nothing in the engine imports the face (package coconet),
// which is a thin layer over it, as tsnet.Server is over Tailscale's
// backend; features import the engine, never the face.
package engine
