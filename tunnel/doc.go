// Package tunnel carries TCP connections between member nodes of a network.
//
// It carries TCP connections between member nodes of a coconet network: Expose
// publishes a local TCP service (say 127.0.0.1:22) under a name, Open listens on a
// local port of another node and forwards each connection to the exposed service over
// a coconet stream.
//
// Each TCP connection is one stream (package stream, service
// "tunnel/NAME"), so connections are independent, flow-controlled and
// end-to-end encrypted. Only the members the tunnel's node.Access admits
// reach an exposed service — by default the owner and admins; guests and
// devices only when Expose names them — and a refused member reads why
// (Opened.Err). Half-close is
// carried in both directions. When the exposing node cannot reach its
// target, it says so in a status byte before any data and the opening node
// closes the local connection at once and logs what to do.
package tunnel
