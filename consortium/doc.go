// Package consortium runs a governed, replicated key-value ledger on etcd's raft.
//
// A consortium is a set of validating nodes that keep one key-value store in a
// single global order: the application's tables and the governance tables (the
// constitution) are written by entries of the same raft log, so every node
// applies every change at the same point. Each node persists raft's log in a
// write-ahead log with snapshots (package wal) and the applied state in bbolt,
// committing the state and the applied raft index in one bbolt transaction.
//
// Members (X.509 certificates) govern: they sign proposals and ballots, and the
// state machine checks each signature against the committed member table at
// the entry's place in the order, never against the receiving node's opinion.
// Participants transact but cannot vote. The voting policy resolves a proposal
// to accepted, rejected, failed (accepted but an action could not apply),
// withdrawn or dropped (expired, or outdated by a change of members or policy).
//
// Every committed transaction gets a sequence number and becomes a leaf of an
// RFC 6962 Merkle tree; a Receipt proves its inclusion under a root signed by
// a validating node and verifies offline.
//
// Raft messages travel over a Transport the caller provides (coconet's
// encrypted node streams in production; MemNetwork and TCPTransport in tests);
// inbound messages enter through Node.Receive, which drops messages from nodes
// that are not in the committed validating-node table.
package consortium
