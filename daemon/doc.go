// Package daemon runs a home's nodes and serves the local API (`coco up`).
//
// A Daemon runs one coconet.Node per network the identity belongs to and
// serves the local API (package api) on a unix socket in the home
// directory. It holds the home's lock so that no other process writes the
// same ledgers. With LedgerOnly it runs no node and serves no socket: the
// CLI runs the same code on the home directly when no daemon runs, and what
// needs a running node fails with ErrNodeNotRunning.
//
// The daemon speaks api's types: the engine's and the features' structs are
// converted field by field (wire.go, wire_home.go, wire_device.go,
// wire_ota.go, wire_push.go), and TestWireJSON checks that each
// conversion keeps the JSON they had.
package daemon
