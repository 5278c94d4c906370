// Package dialerr classifies the errors of opening a libp2p stream by their type, never their text.
//
// go-libp2p reports a peer that refused the connection and a peer that does
// not speak a protocol as wrapped errors of its transports and of
// multistream; rpc, stream and node turn them into their own sentinel
// errors with these functions.
package dialerr

import (
	"errors"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multistream"
)

// Refused reports whether err says the peer's connection gater closed the
// connection: the peer does not admit this node. The refusing side closes
// a QUIC connection with the code network.ConnGated, which a stream opened
// on that connection reports as a *network.ConnError.
//
// Refused is false when the refusal cannot be told apart from a peer that
// went away: over TCP the refusing side closes without a code, and over
// QUIC, if the connection is already gone when the host opens its stream,
// go-libp2p's host says only "connection failed" (TestOverQUIC shows both
// forms).
func Refused(err error) bool {
	var ce *network.ConnError
	return errors.As(err, &ce) && ce.ErrorCode == network.ConnGated
}

// NotSupported reports whether err says the peer does not serve the
// protocol asked for (multistream's ErrNotSupported).
func NotSupported(err error) bool {
	return errors.Is(err, multistream.ErrNotSupported[protocol.ID]{})
}
