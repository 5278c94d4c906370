// Package transfer copies files between nodes over a stream, with resume and SHA-256.
//
// It copies files between nodes over a coconet stream: the sender announces name, size
// and SHA-256; the receiver answers how much of that file it already holds from an
// interrupted attempt; the sender sends the rest; the receiver checks the whole file's
// hash before it gives the file its name. A receiver accepts only what its user
// allowed.
package transfer
