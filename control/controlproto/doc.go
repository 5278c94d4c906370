// Package controlproto is the client side and the wire format of the control protocol.
//
// A node calls Register, Lookup, GetUsage and SendRevocation on a control
// plane (package control, the server, which imports this package for the
// same Request, Response and Usage types and the same framing). This
// package imports nothing of the server, so a node never links it. The
// wire format is pinned by wire_test.go: a change to it is a new Protocol
// ID or a new WireVersion, never an edit in place.
package controlproto
