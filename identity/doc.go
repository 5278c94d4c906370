// Package identity holds a user's parent seed and every key derived from it.
//
// It holds a user's parent seed and derives every key coconet uses from it: the user's
// signing key, one node key per (network, app) and the one-time keys behind invite
// codes. The seed can be exported as 24 BIP39 words and restored from them.
package identity
