package msg

import "errors"

// Errors returned by Send, matched with errors.Is. The wrapped message adds
// what went wrong underneath.
var (
	// ErrOffline: no connection to the peer could be made, or it was lost
	// before the acknowledgement came, or the receiver is closing. When
	// the only path is a control plane's relay that cut the network off at
	// its plan's limit, the error says so and wraps the
	// *controlproto.LimitError.
	ErrOffline = errors.New("peer is offline or unreachable")
	// ErrRefused: the peer's node refused this one: its ledger does not
	// list this node as a member (not yet synced, or removed), or its
	// Authorize hook refused messages from it.
	ErrRefused = errors.New("the peer's node refused the connection: its ledger does not list this node as a member")
	// ErrInboxFull: the receiver's backlog or a subscriber's buffer is
	// full; the message may not have reached every subscriber.
	ErrInboxFull = errors.New("the receiver's inbox is full; try again later")
	// ErrTooLarge: the message is over MaxMessage; nothing was sent.
	ErrTooLarge = errors.New("message too large")
)
