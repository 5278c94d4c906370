// Package msg delivers acknowledged messages between the member nodes of a network.
//
// Send returns once the receiving node has queued the message for its
// subscribers (or kept it in a bounded backlog while nobody listens); it
// does not wait for an application to read it. Messages ride request/reply
// (package rpc) as the reserved service "coco.msg", so they share rpc's one
// long-lived, multiplexed stream per peer instead of opening a stream per
// message, and the sender's deadline travels with each message.
//
// The receiver names the sender from its own ledger (rpc.Request.From),
// never from the payload, which is the message's bytes and nothing else;
// rpc re-checks membership on every request, so a removed member's
// messages are refused. Every member and device may send (node.Everyone);
// rpc's Authorize hook, if the node sets one, applies to "coco.msg" too.
//
// The reply is one status byte: 0 queued, 1 the inbox is full, 2 the
// receiver is closing, 3 the message is over MaxMessage. The format is
// pinned by TestWireGolden; a change needs a new service name.
package msg
