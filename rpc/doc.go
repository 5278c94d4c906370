// Package rpc implements request/reply between the member nodes of a network.
//
// It implements request/reply between the member nodes of a coconet network: a node
// serves named services and other members call them with a payload and a deadline.
//
// Each caller keeps one long-lived libp2p stream per peer (protocol
// "/coco/rpc/1.0.0") that carries many requests at once, told apart by
// request IDs, so a call costs one frame each way and no stream setup.
// Requests with payloads over 64 KiB go on a stream of their own so they do
// not hold up small ones. The caller's deadline travels with the request
// (as the time left, since clocks differ): the handler's context ends when
// it passes, and a caller that gives up cancels the handler's context too.
//
// The server identifies the caller only through its own ledger
// (node.SenderOf), re-checks membership on every request, asks the
// Authorize hook and then the service's node.Access (by default the owner
// and admins only) before running a handler.
package rpc
