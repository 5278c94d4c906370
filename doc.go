// Package coconet is the embeddable coconet library: a Node joins one
// private network as one app, in the spirit of tsnet.Server. Configure its
// exported fields, call Start, then Send, Messages, Peers, Invite and
// Remove; Close stops it. The coco daemon runs exactly this code, one Node
// per network.
//
// A home directory holds the user's identity (parent seed) and one folder
// per network with its ledger. Init, CreateNetwork, Networks and Join manage
// it.
package coconet
