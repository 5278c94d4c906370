package consortium

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// EnvSoftware is the environment a validating node without a trusted
// execution environment reports, honestly.
const EnvSoftware = "software, no enclave"

// NodeInfo is a validating node as the constitution lists it.
type NodeInfo struct {
	ID       uint64 // raft ID, never 0
	PubKey   []byte // Ed25519 key that signs receipts
	CodeHash []byte // SHA-256 of the binary the node runs (self-reported)
	Env      string // what the node reports about where it runs
	Addr     string // transport address (peer ID or host:port), informative
}

// Threshold is the share of current members whose approval accepts a
// proposal: strictly more than Num/Den of them, at most all of them, at
// least one. {1, 2} is a majority; {1, 1} is unanimity.
type Threshold struct {
	Num, Den uint32
}

func (t Threshold) need(members int) int {
	if t.Den == 0 {
		t = Threshold{1, 2}
	}
	n := int(uint64(members)*uint64(t.Num)/uint64(t.Den)) + 1
	if n > members {
		n = members
	}
	if n < 1 {
		n = 1
	}
	return n
}

// Policy is the voting policy of the constitution.
type Policy struct {
	Default   Threshold            // zero means a majority
	PerAction map[string]Threshold // by action kind; a proposal needs the highest of its actions
	Veto      []string             // member IDs whose rejection rejects the proposal
	TTL       int64                // seconds a proposal stays open; 0 = until resolved
}

// Genesis is the constitution a consortium starts with. Every node of the
// consortium is configured with the same genesis; its hash is the
// consortium's ID.
type Genesis struct {
	Name         string
	Members      [][]byte // X.509 certificates, DER
	Participants [][]byte
	CAs          [][]byte // when set, members and participants added later must chain to one
	Nodes        []NodeInfo
	Code         [][]byte // allowed binary SHA-256s
	Envs         []string // accepted environments
	Policy       Policy
	Nonce        []byte
	Recovery     *Recovery `cbor:",omitempty"` // the ledger secret's shares, one per member
}

// ID is the consortium's ID: SHA-256 of the genesis' canonical encoding.
func (g *Genesis) ID() [32]byte {
	b, err := encMode.Marshal(g)
	if err != nil {
		panic(fmt.Sprintf("consortium: encode genesis: %v", err))
	}
	return sha256.Sum256(b)
}

// CertID is the identity of a member or participant: the hex SHA-256 of its
// certificate's DER bytes.
func CertID(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// Read is one element of a transaction's read set: the version (sequence
// number of the last write; 0 = absent) the client saw.
type Read struct {
	Table   string
	Key     []byte
	Version uint64
}

// Write is one element of a transaction's write set.
type Write struct {
	Table  string
	Key    []byte
	Value  []byte
	Delete bool
}

// Txn is an application transaction: applied atomically, in the global
// order, only if every read still has its version.
type Txn struct {
	Caller string // CertID of the member or participant, as its front end authenticated it
	Reads  []Read
	Writes []Write
}

// Result is what a committed entry produced.
type Result struct {
	Seqno    uint64        // sequence number of its record (the Merkle leaf index)
	Index    uint64        // raft index
	Proposal *ProposalInfo // for governance requests: the proposal after this entry
}

// entry is what the raft log carries.
type entry struct {
	V    uint8
	Req  []byte         // the proposing node's request ID, to find its waiter
	Time int64          // proposer's clock, unix ns; the state machine never goes back in time
	Txn  *Txn           `cbor:",omitempty"`
	Gov  *SignedRequest `cbor:",omitempty"`
}

// record is a Merkle leaf: one committed entry and what it did.
type record struct {
	Seqno   uint64
	Kind    string // genesis, txn, propose, ballot, withdraw
	Entry   []byte // the entry as replicated (the genesis for seqno 0)
	Outcome string `cbor:",omitempty"` // proposal ID and state after a governance entry
}

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxArrayElements: 1 << 16,
		MaxMapPairs:      1 << 16,
		MaxNestedLevels:  16,
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}
