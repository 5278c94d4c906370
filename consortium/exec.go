package consortium

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Reader is what a transaction handler reads: this node's applied state. Each
// read joins the transaction's read set, so the handler's writes apply only
// if nothing it read changed before the transaction's place in the order.
type Reader interface {
	Get(table string, key []byte) (value []byte, ok bool, err error)
}

// Handler is application code run by Execute: it reads, decides (it may be
// non-deterministic: only its read and write sets are replicated, as in CCF)
// and returns the writes.
type Handler func(ctx context.Context, r Reader) ([]Write, error)

// Execute runs h for caller on this node and commits its writes with its
// read set, running it again on a conflict, at most attempts times (0 = 10).
func (n *Node) Execute(ctx context.Context, caller string, attempts int, h Handler) (Result, error) {
	if attempts <= 0 {
		attempts = 10
	}
	var err error
	for i := 0; i < attempts; i++ {
		if err = n.sync(ctx); err != nil {
			return Result{}, err
		}
		rr := &recReader{n: n}
		writes, herr := h(ctx, rr)
		if herr != nil {
			return Result{}, herr
		}
		if rr.err != nil {
			return Result{}, rr.err
		}
		var res Result
		res, err = n.Transact(ctx, Txn{Caller: caller, Reads: rr.reads, Writes: writes})
		if !errors.Is(err, ErrConflict) {
			return res, err
		}
	}
	return Result{}, fmt.Errorf("consortium: execute: %d attempts: %w", attempts, err)
}

// recReader reads the applied state and records versions.
type recReader struct {
	n     *Node
	reads []Read
	err   error
}

func (r *recReader) Get(table string, key []byte) ([]byte, bool, error) {
	name, err := readBucket(table)
	if err != nil {
		r.err = err
		return nil, false, err
	}
	var val []byte
	var ver uint64
	var ok bool
	err = r.n.st.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(name)
		if b == nil {
			return nil
		}
		v := b.Get(key)
		if v == nil {
			return nil
		}
		ok = true
		if bytes.HasPrefix(name, []byte("t.")) {
			ver, val = u64(v[:8]), bytes.Clone(v[8:])
		} else {
			val = bytes.Clone(v)
		}
		return nil
	})
	if err != nil {
		r.err = err
		return nil, false, err
	}
	if ok {
		if val, err = r.n.openValue(table, key, val); err != nil {
			r.err = err
			return nil, false, err
		}
	}
	if bytes.HasPrefix(name, []byte("t.")) {
		r.reads = append(r.reads, Read{Table: table, Key: bytes.Clone(key), Version: ver})
	}
	return val, ok, nil
}
