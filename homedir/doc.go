// Package homedir keeps a coconet home directory ($COCO_HOME, ~/.coco).
//
// A home holds one identity (the parent seed and the user's name) and, under
// networks/, one directory per network: its ledger, its node's state (peer
// book, revocation queue, remembered control planes). The functions here
// create the identity (Init), create, join, adopt and forget networks, find
// a network by name or ID, and take the home's daemon lock so two daemons
// never run on one home. They run without a node: a node (package engine,
// or the face coconet.Node) opens a network this package stored.
package homedir
