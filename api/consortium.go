package api

import "context"

// ConsortiumService is the part of Service for a consortium (package
// consortium): a replicated, governed ledger whose validating nodes are
// member nodes of the network. The calling user acts as the member (or
// participant) whose certificate the daemon derives from the user's seed.
type ConsortiumService interface {
	// ConsortiumStart saves the consortium's genesis (the same file on every
	// validating node) and starts this node's validating node; a restarted
	// daemon starts it again from the saved genesis.
	ConsortiumStart(ctx context.Context, network string, req ConsortiumStartRequest) (ConsortiumStatus, error)
	// ConsortiumStatus reports the leader, applied index, voters and members.
	ConsortiumStatus(ctx context.Context, network string) (ConsortiumStatus, error)
	// ConsortiumIdentity is what this user and node bring to a genesis or
	// an add_member/add_node proposal: the member certificate and the node's
	// table entry.
	ConsortiumIdentity(ctx context.Context, network string) (ConsortiumIdentity, error)
	// ConsortiumPut writes a key of an application table and waits until it
	// commits; with Receipt, the answer carries the write's receipt.
	ConsortiumPut(ctx context.Context, network, table, key string, req ConsortiumPutRequest) (ConsortiumPutResult, error)
	// ConsortiumGet reads a key linearizably.
	ConsortiumGet(ctx context.Context, network, table, key string) (ConsortiumValue, error)
	// ConsortiumProposals lists the proposals, open and resolved.
	ConsortiumProposals(ctx context.Context, network string) ([]ConsortiumProposal, error)
	// ConsortiumPropose signs and submits a proposal of actions.
	ConsortiumPropose(ctx context.Context, network string, req ConsortiumProposeRequest) (ConsortiumProposal, error)
	// ConsortiumVote signs and submits a ballot on a proposal.
	ConsortiumVote(ctx context.Context, network, proposal string, req ConsortiumVoteRequest) (ConsortiumProposal, error)
	// ConsortiumDelete deletes a key of an application table and waits
	// until it commits.
	ConsortiumDelete(ctx context.Context, network, table, key string) (ConsortiumPutResult, error)
	// ConsortiumRange reads keys of an application table linearizably, by
	// prefix or [from, to), at most limit of them; Next continues.
	ConsortiumRange(ctx context.Context, network, table string, req ConsortiumRangeRequest) (ConsortiumRange, error)
	// ConsortiumWithdraw withdraws the user's own open proposal.
	ConsortiumWithdraw(ctx context.Context, network, proposal string) (ConsortiumProposal, error)
	// ConsortiumRecoveryShare opens the user's recovery share of the ledger
	// secret (sealed to the user's member key in the constitution).
	ConsortiumRecoveryShare(ctx context.Context, network string) (ConsortiumShare, error)
	// ConsortiumRecoverySubmit gives this node a member's recovery share;
	// with k of them it reconstructs the ledger secret.
	ConsortiumRecoverySubmit(ctx context.Context, network string, req ConsortiumShare) (ConsortiumRecovery, error)
	// ConsortiumRecoveryStatus says whether this node holds the ledger
	// secret and which members' shares it has.
	ConsortiumRecoveryStatus(ctx context.Context, network string) (ConsortiumRecovery, error)
	// ConsortiumRekey proposes a rekey: this node (which must hold the
	// ledger secret) makes a new one, split for the current members and
	// sealed to the current nodes; it rotates when the members accept.
	ConsortiumRekey(ctx context.Context, network string) (ConsortiumProposal, error)
}

// ConsortiumRangeRequest selects keys: Prefix, or From (inclusive) to To
// (exclusive, "" = to the end); Limit 0 means 100.
type ConsortiumRangeRequest struct {
	Prefix string `json:"prefix,omitempty"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	Limit  int    `json:"limit,omitempty"`
}

// ConsortiumKV is one key of a range.
type ConsortiumKV struct {
	Key     string `json:"key"`
	Value   []byte `json:"value"`
	Version uint64 `json:"version"`
}

// ConsortiumRange is a page of keys; Next, when set, is the From of the
// next page (same Prefix or To).
type ConsortiumRange struct {
	Items []ConsortiumKV `json:"items"`
	Next  string         `json:"next,omitempty"`
}

// ConsortiumShare is a member's recovery share of the ledger secret.
type ConsortiumShare struct {
	Member string `json:"member"` // member ID
	Share  []byte `json:"share"`
}

// ConsortiumRecovery is a node's recovery state.
type ConsortiumRecovery struct {
	Open      bool     `json:"open"` // the node holds the ledger secret
	Threshold int      `json:"threshold"`
	Members   int      `json:"members"`   // shares the recovery information holds
	Submitted []string `json:"submitted"` // members whose shares this node holds
}

// ConsortiumStartRequest carries the genesis file's bytes (JSON, as `coco
// consortium genesis` writes it).
type ConsortiumStartRequest struct {
	Genesis []byte `json:"genesis"`
	// Join starts a node that is not in the genesis: the members added it
	// with an add_node proposal, and the leader sends it the log.
	Join bool `json:"join,omitempty"`
	// API is a TCP address where the node serves the consortium's REST API
	// over mutual TLS (members' and participants' certificates); "" none.
	API string `json:"api,omitempty"`
}

// ConsortiumStatus is a validating node's view of its consortium.
type ConsortiumStatus struct {
	ID      string           `json:"id"` // hex SHA-256 of the genesis
	Name    string           `json:"name"`
	Node    uint64           `json:"node"`   // this node's raft ID
	Leader  uint64           `json:"leader"` // 0: none known
	Applied uint64           `json:"applied"`
	Voters  []uint64         `json:"voters"`
	Members []string         `json:"members"` // member IDs (hex SHA-256 of the certificate)
	Nodes   []ConsortiumNode `json:"nodes"`
	Self    string           `json:"self"`          // the calling user's member ID
	API     string           `json:"api,omitempty"` // where the mutual-TLS REST API listens, if served
}

// ConsortiumNode is an entry of the validating-node table.
type ConsortiumNode struct {
	ID       uint64 `json:"id"`
	PubKey   []byte `json:"pubkey"`    // Ed25519, signs receipts
	CodeHash []byte `json:"code_hash"` // SHA-256 of the binary
	Env      string `json:"env"`
	Addr     string `json:"addr"` // the node's peer ID
}

// ConsortiumIdentity is a user's member certificate and its node's entry.
type ConsortiumIdentity struct {
	Member string         `json:"member"` // member ID
	Cert   []byte         `json:"cert"`   // X.509, DER
	Node   ConsortiumNode `json:"node"`
}

// ConsortiumPutRequest is a value to write.
type ConsortiumPutRequest struct {
	Value   []byte `json:"value"`
	Receipt bool   `json:"receipt,omitempty"`
}

// ConsortiumPutResult is a committed write.
type ConsortiumPutResult struct {
	Seqno   uint64             `json:"seqno"`
	Index   uint64             `json:"index"`
	Receipt *ConsortiumReceipt `json:"receipt,omitempty"`
}

// ConsortiumReceipt proves a committed transaction's inclusion (RFC 6962)
// under a root signed by a validating node; it verifies offline.
type ConsortiumReceipt struct {
	Consortium []byte   `json:"consortium"`
	Seqno      uint64   `json:"seqno"`
	Record     []byte   `json:"record"`
	TreeSize   uint64   `json:"tree_size"`
	Root       []byte   `json:"root"`
	Proof      [][]byte `json:"proof"`
	Node       uint64   `json:"node"`
	Sig        []byte   `json:"sig"`
}

// ConsortiumValue is a key's value and version (the seqno of its last write).
type ConsortiumValue struct {
	Value   []byte `json:"value"`
	Version uint64 `json:"version"`
}

// ConsortiumAction is one change of the constitution.
type ConsortiumAction struct {
	Kind   string          `json:"kind"` // add_member, remove_member, add_participant, add_node, allow_code…
	Cert   []byte          `json:"cert,omitempty"`
	ID     string          `json:"id,omitempty"`
	Node   *ConsortiumNode `json:"node,omitempty"`
	NodeID uint64          `json:"node_id,omitempty"`
	Hash   []byte          `json:"hash,omitempty"`
	Env    string          `json:"env,omitempty"`
}

// ConsortiumProposeRequest is a proposal's actions.
type ConsortiumProposeRequest struct {
	Actions []ConsortiumAction `json:"actions"`
}

// ConsortiumVoteRequest is a ballot.
type ConsortiumVoteRequest struct {
	Approve bool `json:"approve"`
}

// ConsortiumProposal is a proposal and its state (open, accepted,
// withdrawn, rejected, failed, dropped).
type ConsortiumProposal struct {
	ID       string             `json:"id"`
	Proposer string             `json:"proposer"`
	Actions  []ConsortiumAction `json:"actions"`
	State    string             `json:"state"`
	Ballots  map[string]bool    `json:"ballots"`
	Failure  string             `json:"failure,omitempty"`
}

// The routes of ConsortiumService, each with its Client method.

var rConsortiumStart = newRoute("POST", "/v1/networks/{net}/consortium", func(ctx context.Context, s Service, p []string, req ConsortiumStartRequest) (ConsortiumStatus, error) {
	return s.ConsortiumStart(ctx, p[0], req)
})

func (c *Client) ConsortiumStart(ctx context.Context, network string, req ConsortiumStartRequest) (ConsortiumStatus, error) {
	return rConsortiumStart.do(ctx, c, req, network)
}

var rConsortiumStatus = newRoute("GET", "/v1/networks/{net}/consortium", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumStatus, error) {
	return s.ConsortiumStatus(ctx, p[0])
})

func (c *Client) ConsortiumStatus(ctx context.Context, network string) (ConsortiumStatus, error) {
	return rConsortiumStatus.do(ctx, c, none{}, network)
}

var rConsortiumIdentity = newRoute("GET", "/v1/networks/{net}/consortium/identity", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumIdentity, error) {
	return s.ConsortiumIdentity(ctx, p[0])
})

func (c *Client) ConsortiumIdentity(ctx context.Context, network string) (ConsortiumIdentity, error) {
	return rConsortiumIdentity.do(ctx, c, none{}, network)
}

var rConsortiumPut = newRoute("PUT", "/v1/networks/{net}/consortium/kv/{table}/{key}", func(ctx context.Context, s Service, p []string, req ConsortiumPutRequest) (ConsortiumPutResult, error) {
	return s.ConsortiumPut(ctx, p[0], p[1], p[2], req)
})

func (c *Client) ConsortiumPut(ctx context.Context, network, table, key string, req ConsortiumPutRequest) (ConsortiumPutResult, error) {
	return rConsortiumPut.do(ctx, c, req, network, table, key)
}

var rConsortiumGet = newRoute("GET", "/v1/networks/{net}/consortium/kv/{table}/{key}", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumValue, error) {
	return s.ConsortiumGet(ctx, p[0], p[1], p[2])
})

func (c *Client) ConsortiumGet(ctx context.Context, network, table, key string) (ConsortiumValue, error) {
	return rConsortiumGet.do(ctx, c, none{}, network, table, key)
}

var rConsortiumProposals = newList("GET", "/v1/networks/{net}/consortium/proposals", func(ctx context.Context, s Service, p []string, _ none) ([]ConsortiumProposal, error) {
	return s.ConsortiumProposals(ctx, p[0])
})

func (c *Client) ConsortiumProposals(ctx context.Context, network string) ([]ConsortiumProposal, error) {
	return rConsortiumProposals.do(ctx, c, none{}, network)
}

var rConsortiumPropose = newRoute("POST", "/v1/networks/{net}/consortium/proposals", func(ctx context.Context, s Service, p []string, req ConsortiumProposeRequest) (ConsortiumProposal, error) {
	return s.ConsortiumPropose(ctx, p[0], req)
})

func (c *Client) ConsortiumPropose(ctx context.Context, network string, req ConsortiumProposeRequest) (ConsortiumProposal, error) {
	return rConsortiumPropose.do(ctx, c, req, network)
}

var rConsortiumVote = newRoute("POST", "/v1/networks/{net}/consortium/proposals/{proposal}/ballots", func(ctx context.Context, s Service, p []string, req ConsortiumVoteRequest) (ConsortiumProposal, error) {
	return s.ConsortiumVote(ctx, p[0], p[1], req)
})

func (c *Client) ConsortiumVote(ctx context.Context, network, proposal string, req ConsortiumVoteRequest) (ConsortiumProposal, error) {
	return rConsortiumVote.do(ctx, c, req, network, proposal)
}

var rConsortiumDelete = newRoute("DELETE", "/v1/networks/{net}/consortium/kv/{table}/{key}", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumPutResult, error) {
	return s.ConsortiumDelete(ctx, p[0], p[1], p[2])
})

func (c *Client) ConsortiumDelete(ctx context.Context, network, table, key string) (ConsortiumPutResult, error) {
	return rConsortiumDelete.do(ctx, c, none{}, network, table, key)
}

// rConsortiumRange is a POST with the selection as its body (etcd's
// /v3/kv/range does the same): a read, not a write.
var rConsortiumRange = newRoute("POST", "/v1/networks/{net}/consortium/range/{table}", func(ctx context.Context, s Service, p []string, req ConsortiumRangeRequest) (ConsortiumRange, error) {
	return s.ConsortiumRange(ctx, p[0], p[1], req)
})

func (c *Client) ConsortiumRange(ctx context.Context, network, table string, req ConsortiumRangeRequest) (ConsortiumRange, error) {
	return rConsortiumRange.do(ctx, c, req, network, table)
}

var rConsortiumWithdraw = newRoute("POST", "/v1/networks/{net}/consortium/proposals/{proposal}/withdraw", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumProposal, error) {
	return s.ConsortiumWithdraw(ctx, p[0], p[1])
})

func (c *Client) ConsortiumWithdraw(ctx context.Context, network, proposal string) (ConsortiumProposal, error) {
	return rConsortiumWithdraw.do(ctx, c, none{}, network, proposal)
}

var rConsortiumRecoveryShare = newRoute("GET", "/v1/networks/{net}/consortium/recovery/share", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumShare, error) {
	return s.ConsortiumRecoveryShare(ctx, p[0])
})

func (c *Client) ConsortiumRecoveryShare(ctx context.Context, network string) (ConsortiumShare, error) {
	return rConsortiumRecoveryShare.do(ctx, c, none{}, network)
}

var rConsortiumRecoverySubmit = newRoute("POST", "/v1/networks/{net}/consortium/recovery/shares", func(ctx context.Context, s Service, p []string, req ConsortiumShare) (ConsortiumRecovery, error) {
	return s.ConsortiumRecoverySubmit(ctx, p[0], req)
})

func (c *Client) ConsortiumRecoverySubmit(ctx context.Context, network string, req ConsortiumShare) (ConsortiumRecovery, error) {
	return rConsortiumRecoverySubmit.do(ctx, c, req, network)
}

var rConsortiumRecoveryStatus = newRoute("GET", "/v1/networks/{net}/consortium/recovery", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumRecovery, error) {
	return s.ConsortiumRecoveryStatus(ctx, p[0])
})

func (c *Client) ConsortiumRecoveryStatus(ctx context.Context, network string) (ConsortiumRecovery, error) {
	return rConsortiumRecoveryStatus.do(ctx, c, none{}, network)
}

var rConsortiumRekey = newRoute("POST", "/v1/networks/{net}/consortium/rekey", func(ctx context.Context, s Service, p []string, _ none) (ConsortiumProposal, error) {
	return s.ConsortiumRekey(ctx, p[0])
})

func (c *Client) ConsortiumRekey(ctx context.Context, network string) (ConsortiumProposal, error) {
	return rConsortiumRekey.do(ctx, c, none{}, network)
}
