// Package consnode runs a consortium validating node on a coconet engine.
//
// The node's raft messages travel on the engine's encrypted, authenticated
// streams (service ServiceName): one long-lived stream per peer and
// direction, each message one frame (internal/frame). Raft IDs map to peer
// IDs through the consortium's committed validating-node table
// (consortium.NodeInfo.Addr holds the peer ID): a message is sent only to the
// peer the table names, and a message received on a stream is handed to the
// node as from the raft ID whose table entry names the stream's
// authenticated peer — never the ID the message claims; a peer the table
// does not name is refused before anything it sends is read.
//
// A member's governance identity is derived from the coconet identity (Member):
// an Ed25519 key from the seed and a deterministic self-signed X.509
// certificate, so the paper key restores it. A node's receipt key is derived
// the same way, per node (NodeKey).
package consnode
