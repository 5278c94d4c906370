// Package stream implements byte streams between member nodes as net.Conn.
//
// It implements ordered, flow-controlled byte streams between the member nodes of a
// coconet network, as net.Conn and net.Listener.
//
// A Dial opens one libp2p stream (protocol "/coco/stream/1.0.0", a yamux
// stream over TCP or a QUIC stream) and names the service in a one-byte
// length-prefixed header; the listening node answers with a status byte and,
// on refusal, a reason — so an unknown service or a refused caller is a
// clear error at Dial, not a reset later. After that the stream carries the
// application's bytes untouched: half-close (CloseWrite) and deadlines are
// those of the libp2p stream.
//
// The listener identifies the caller only through its own ledger
// (node.SenderOf), re-checks membership on every stream, asks the
// Authorize hook and then the listener's node.Access (by default the owner
// and admins only) before a connection reaches Accept.
package stream
