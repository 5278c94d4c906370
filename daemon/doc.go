// Package daemon is what `coco up` runs: one coconet.Node per network the
// identity belongs to, and the local API on a unix socket in the home
// directory. It holds the home's lock so that no other process writes the
// same ledgers.
package daemon
