package control

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/member"
)

// Store is where a control plane keeps the state it shares with its other
// replicas: registrations (with their expiry), revocations, usage counters
// and a generic namespace (KV) for services built on the control plane
// (API keys, developer revocation lists).
//
// A Server keeps what lookups read in its own memory (a cache of every
// registration of every replica, kept current by Watch), so a lookup never
// reaches the store; writes go to the store, batched. Two implementations:
// the memory store (one process, nothing shared: the control plane's own
// maps are the state, usage counters go to a file as before) and EtcdStore
// (an etcd cluster, embedded or shared by several replicas).
type Store interface {
	// Start loads the state the store holds and then calls apply, from
	// one goroutine, for every change any replica makes (this one's
	// included), until ctx ends. It returns once the state held at the
	// start has been applied.
	Start(ctx context.Context, replica string, apply func(Event)) error
	// PutRegistration records or renews a registration; it returns once
	// the registration is durable (writes of many callers are batched).
	PutRegistration(ctx context.Context, r *Registration) error
	// DeleteRegistrations removes registrations (a revocation covered them).
	DeleteRegistrations(ctx context.Context, net [32]byte, peers []peer.ID) error
	// PutRevocation records a network's revocation until its end.
	PutRevocation(ctx context.Context, net [32]byte, owner identity.UserID, rv *member.Revocation) error
	// DeleteRevocation forgets a revocation that no longer covers anything.
	DeleteRevocation(ctx context.Context, net [32]byte, rv *member.Revocation) error
	// Claim raises this replica's claim on a network's usage in a month
	// by c, durably, before the use it covers is served: what a replica
	// that dies without saving its counters leaves counted is its claim,
	// never less than it used.
	Claim(ctx context.Context, month string, net [32]byte, c Counts) error
	// SaveUsage records what this replica used (at most its claim).
	SaveUsage(ctx context.Context, month string, used map[[32]byte]Counts) error
	// LoadUsage returns this replica's usage and claims of a month as the
	// store holds them (after a restart: what it counted before).
	LoadUsage(ctx context.Context, month string) (used, claimed map[[32]byte]Counts, err error)
	// KV is the generic namespace.
	KV() KV
	// Persistent reports whether the store keeps state outside this
	// process (the server then writes registrations, revocations and
	// claims to it).
	Persistent() bool
	Close() error
}

// Counts are a network's usage counters.
type Counts struct {
	Relay, Control, Messages int64
}

func (c Counts) add(d Counts) Counts {
	return Counts{c.Relay + d.Relay, c.Control + d.Control, c.Messages + d.Messages}
}

func maxCounts(a, b Counts) Counts {
	return Counts{max(a.Relay, b.Relay), max(a.Control, b.Control), max(a.Messages, b.Messages)}
}

// Registration is one node's registration as a store holds it: the signed
// peer record, when it ends, and what a revocation needs to know of the
// proof it was made with.
type Registration struct {
	Net     [32]byte
	Owner   identity.UserID
	Peer    peer.ID
	Record  []byte // the signed peer record (envelope)
	Expires int64  // unix nanoseconds
	Cover   Cover
}

// Cover is what member.Revocation.Covers reads of a proof, kept with a
// registration so that a replica that did not see the proof can still drop
// the registrations a revocation covers.
type Cover struct {
	User, Issuer identity.UserID
	Issued       int64 // the certificate's, unix seconds
	Delegated    int64 // the delegation's, 0 if the owner issued
	Until        int64 // the proof's validity, unix nanoseconds
}

func coverOf(v *member.Verified) Cover {
	return Cover{User: v.Cert.User, Issuer: v.Cert.Issuer, Issued: v.Cert.Issued, Delegated: v.Delegated, Until: v.Until.UnixNano()}
}

// verified rebuilds what Covers needs.
// revID names a revocation among its network's.
func revID(rv *member.Revocation) string {
	h := sha256.Sum256(rv.Marshal())
	return hex.EncodeToString(h[:16])
}

func (c *Cover) verified(owner identity.UserID, node [32]byte) *member.Verified {
	return &member.Verified{Owner: owner, Delegated: c.Delegated, Until: time.Unix(0, c.Until),
		Cert: member.Cert{Node: node, User: c.User, Issuer: c.Issuer, Issued: c.Issued}}
}

// Bounds on what a store accepts, so that nothing a node sends makes a
// record of unbounded size.
const (
	// MaxRecord bounds a registration's signed peer record.
	MaxRecord = 4 << 10
	// regHeader is the fixed part of an encoded registration.
	regHeader  = 1 + 32 + 32 + 8 + 32 + 32 + 8 + 8 + 8
	regVersion = 1
)

// ErrBadRecord: a stored record does not decode (or is out of bounds).
var ErrBadRecord = errors.New("control: bad stored record")

// marshalRegistration encodes r (without its peer ID, which is in its key).
func marshalRegistration(r *Registration) []byte {
	b := make([]byte, 0, regHeader+len(r.Record))
	b = append(b, regVersion)
	b = append(b, r.Net[:]...)
	b = append(b, r.Owner[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Expires))
	b = append(b, r.Cover.User[:]...)
	b = append(b, r.Cover.Issuer[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Cover.Issued))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Cover.Delegated))
	b = binary.BigEndian.AppendUint64(b, uint64(r.Cover.Until))
	return append(b, r.Record...)
}

// unmarshalRegistration decodes b; the record is copied out of b.
func unmarshalRegistration(b []byte, p peer.ID) (*Registration, error) {
	if len(b) < regHeader || b[0] != regVersion || len(b)-regHeader > MaxRecord {
		return nil, fmt.Errorf("%w: registration of %d bytes", ErrBadRecord, len(b))
	}
	r := &Registration{Peer: p}
	o := 1
	o += copy(r.Net[:], b[o:])
	o += copy(r.Owner[:], b[o:])
	r.Expires = int64(binary.BigEndian.Uint64(b[o:]))
	o += 8
	o += copy(r.Cover.User[:], b[o:])
	o += copy(r.Cover.Issuer[:], b[o:])
	r.Cover.Issued = int64(binary.BigEndian.Uint64(b[o:]))
	r.Cover.Delegated = int64(binary.BigEndian.Uint64(b[o+8:]))
	r.Cover.Until = int64(binary.BigEndian.Uint64(b[o+16:]))
	o += 24
	r.Record = append([]byte(nil), b[o:]...)
	return r, nil
}

// EventKind says what changed.
type EventKind int

const (
	EventRegistered     EventKind = iota + 1 // Reg is new or renewed
	EventUnregistered                        // Net, Peer's registration is gone
	EventRevoked                             // Net has revocation Rev (by Owner)
	EventRevocationGone                      // Net's revocation Rev is gone
	EventUsage                               // Replica's usage of Net in Month is Used, Claimed
	EventReplicaLive                         // Replica runs (its saved usage counts)
	EventReplicaGone                         // Replica stopped (its claims count)
)

// Event is one change in a store.
type Event struct {
	Kind    EventKind
	Net     [32]byte
	Peer    peer.ID
	Reg     *Registration
	Owner   identity.UserID
	Rev     *member.Revocation
	RevID   string // names Rev in its network
	Replica string
	Month   string
	Used    Counts
	Claimed Counts
}

// KV is a bounded generic namespace kept by a control plane's store
// (shared by its replicas when the store is). Services attached to the
// control plane keep their records here, each under a namespace of its
// own, e.g. "apikeys".
type KV interface {
	// Put stores val under ns/key; ttl > 0 makes it disappear after ttl.
	Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error
	// Get returns ErrNotFound if there is no such key.
	Get(ctx context.Context, ns, key string) ([]byte, error)
	Delete(ctx context.Context, ns, key string) error
	// List returns the keys of ns beginning with prefix and their values,
	// at most MaxKVList of them (ErrTooMany beyond).
	List(ctx context.Context, ns, prefix string) (map[string][]byte, error)
	// Create stores val under ns/key only if the key does not exist,
	// atomically across every replica sharing the store; when it exists,
	// it stores nothing and returns the value held (created false).
	Create(ctx context.Context, ns, key string, val []byte, ttl time.Duration) (held []byte, created bool, err error)
}

// Bounds of the generic namespace.
const (
	MaxKVName  = 256
	MaxKVValue = 64 << 10
	MaxKVList  = 10000
)

// Errors of the generic namespace.
var (
	ErrNotFound = errors.New("control: no such key")
	ErrTooMany  = errors.New("control: too many keys")
	ErrKVBounds = errors.New("control: key or value out of bounds")
)

func checkKV(ns, key string, val []byte) error {
	switch {
	case ns == "" || len(ns) > MaxKVName || strings.ContainsAny(ns, "\x00/"):
		return fmt.Errorf("%w: namespace %q", ErrKVBounds, ns)
	case len(key) > MaxKVName || strings.Contains(key, "\x00"):
		return fmt.Errorf("%w: key of %d bytes", ErrKVBounds, len(key))
	case len(val) > MaxKVValue:
		return fmt.Errorf("%w: value of %d bytes (at most %d)", ErrKVBounds, len(val), MaxKVValue)
	}
	return nil
}

// memStore is the store of a control plane alone in its process: the
// Server's own maps are the registrations and revocations (nothing to
// share, nothing to write), the usage counters go to usage-YYYY-MM.json
// in the state directory (see meter), the KV to memory.
type memStore struct{ kv *memKV }

// NewMemStore returns the store of a single control plane with no etcd:
// its state lives in its memory (usage counters in its state directory).
func NewMemStore() Store { return &memStore{kv: &memKV{m: map[string]memVal{}}} }

func (*memStore) Start(context.Context, string, func(Event)) error               { return nil }
func (*memStore) PutRegistration(context.Context, *Registration) error           { return nil }
func (*memStore) DeleteRegistrations(context.Context, [32]byte, []peer.ID) error { return nil }
func (*memStore) PutRevocation(context.Context, [32]byte, identity.UserID, *member.Revocation) error {
	return nil
}
func (*memStore) DeleteRevocation(context.Context, [32]byte, *member.Revocation) error { return nil }
func (*memStore) Claim(context.Context, string, [32]byte, Counts) error                { return nil }
func (*memStore) SaveUsage(context.Context, string, map[[32]byte]Counts) error         { return nil }
func (*memStore) LoadUsage(context.Context, string) (map[[32]byte]Counts, map[[32]byte]Counts, error) {
	return nil, nil, nil
}
func (s *memStore) KV() KV         { return s.kv }
func (*memStore) Persistent() bool { return false }
func (*memStore) Close() error     { return nil }

type memVal struct {
	v   []byte
	end time.Time
}

type memKV struct {
	mu sync.Mutex
	m  map[string]memVal // ns "\x00" key
}

func (m *memKV) Put(_ context.Context, ns, key string, val []byte, ttl time.Duration) error {
	if err := checkKV(ns, key, val); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v := memVal{v: append([]byte(nil), val...)}
	if ttl > 0 {
		v.end = time.Now().Add(ttl)
	}
	if _, ok := m.m[ns+"\x00"+key]; !ok && len(m.m) >= 16*MaxKVList {
		return fmt.Errorf("%w: the namespace holds %d keys", ErrTooMany, len(m.m))
	}
	m.m[ns+"\x00"+key] = v
	return nil
}

func (m *memKV) Create(_ context.Context, ns, key string, val []byte, ttl time.Duration) ([]byte, bool, error) {
	if err := checkKV(ns, key, val); err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := ns + "\x00" + key
	v, ok := m.m[k]
	if ok && (v.end.IsZero() || time.Now().Before(v.end)) {
		return append([]byte(nil), v.v...), false, nil
	}
	if !ok && len(m.m) >= 16*MaxKVList {
		return nil, false, fmt.Errorf("%w: the namespace holds %d keys", ErrTooMany, len(m.m))
	}
	nv := memVal{v: append([]byte(nil), val...)}
	if ttl > 0 {
		nv.end = time.Now().Add(ttl)
	}
	m.m[k] = nv
	return nil, true, nil
}

func (m *memKV) Get(_ context.Context, ns, key string) ([]byte, error) {
	if err := checkKV(ns, key, nil); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[ns+"\x00"+key]
	if !ok || (!v.end.IsZero() && !time.Now().Before(v.end)) {
		return nil, ErrNotFound
	}
	return append([]byte(nil), v.v...), nil
}

func (m *memKV) Delete(_ context.Context, ns, key string) error {
	if err := checkKV(ns, key, nil); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.m, ns+"\x00"+key)
	return nil
}

func (m *memKV) List(_ context.Context, ns, prefix string) (map[string][]byte, error) {
	if err := checkKV(ns, prefix, nil); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]byte{}
	now := time.Now()
	for k, v := range m.m {
		if !v.end.IsZero() && !now.Before(v.end) {
			delete(m.m, k)
			continue
		}
		if rest, ok := strings.CutPrefix(k, ns+"\x00"); ok && strings.HasPrefix(rest, prefix) {
			if len(out) >= MaxKVList {
				return nil, ErrTooMany
			}
			out[rest] = append([]byte(nil), v.v...)
		}
	}
	return out, nil
}
