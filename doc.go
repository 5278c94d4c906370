// Package coconet is the embeddable coconet library: one app's node in one private network.
//
// A Node, in the spirit of tsnet.Server, is configured by its exported
// fields; Start brings it up, then Send, Messages, Request, Dial, Listen,
// Publish, Subscribe, Peers, Invite and Remove use the network; Close stops
// it. The coco daemon runs exactly this code, one Node per network.
//
// The face is thin: each method is a call into package engine, which owns
// the running node and the services attached to it. An application attaches
// its own services with Attach (the home model, OTA and the push server
// attach the same way) and finds them again with Lookup.
//
// A home directory holds the user's identity (parent seed) and one folder
// per network with its ledger. Init, CreateNetwork, Networks and Join are
// shortcuts to package homedir, which manages it.
package coconet
