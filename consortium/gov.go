package consortium

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Action kinds a proposal can carry.
const (
	ActAddMember         = "add_member"
	ActRemoveMember      = "remove_member"
	ActAddParticipant    = "add_participant"
	ActRemoveParticipant = "remove_participant"
	ActAddNode           = "add_node"
	ActRemoveNode        = "remove_node"
	ActAllowCode         = "allow_code"
	ActRemoveCode        = "remove_code"
	ActAllowEnv          = "allow_env"
	ActRemoveEnv         = "remove_env"
	ActAddCA             = "add_ca"
	ActRemoveCA          = "remove_ca"
	ActSetPolicy         = "set_policy"
	ActRekey             = "rekey"
)

// Proposal states, as CCF has them.
const (
	StateOpen      = "open"
	StateAccepted  = "accepted"
	StateWithdrawn = "withdrawn"
	StateRejected  = "rejected"
	StateFailed    = "failed"
	StateDropped   = "dropped"
)

// Governance operations a SignedRequest carries.
const (
	OpPropose  = "propose"
	OpBallot   = "ballot"
	OpWithdraw = "withdraw"
)

// Action is one change of the constitution.
type Action struct {
	Kind   string
	Cert   []byte    `cbor:",omitempty"` // add_member, add_participant, add_ca (DER)
	ID     string    `cbor:",omitempty"` // remove_member, remove_participant, remove_ca: CertID
	Node   *NodeInfo `cbor:",omitempty"` // add_node
	NodeID uint64    `cbor:",omitempty"` // remove_node
	Hash   []byte    `cbor:",omitempty"` // allow_code, remove_code
	Env    string    `cbor:",omitempty"` // allow_env, remove_env
	Policy *Policy   `cbor:",omitempty"` // set_policy
	Rekey  *Rekey    `cbor:",omitempty"` // rekey (made by Node.RekeyAction)
}

// GovBody is what a member signs.
type GovBody struct {
	Consortium []byte   // the consortium's ID: a request is bound to one consortium
	Op         string   // propose, ballot, withdraw
	Actions    []Action `cbor:",omitempty"` // propose
	Nonce      []byte   `cbor:",omitempty"` // propose: distinguishes equal proposals
	Proposal   []byte   `cbor:",omitempty"` // ballot, withdraw: the proposal's ID
	Approve    bool     `cbor:",omitempty"` // ballot
}

// SignedRequest is a governance request: the body, the signer's certificate
// and its signature over sigDomain || Body.
type SignedRequest struct {
	Cert []byte
	Body []byte
	Sig  []byte
}

const sigDomain = "coconet/consortium/gov/v1\x00"

// ProposalInfo is a proposal as the governance table holds it.
type ProposalInfo struct {
	ID       string // hex SHA-256 of the proposer's ID and the signed body
	Proposer string
	Actions  []Action
	State    string
	Ballots  map[string]bool // by member ID
	Created  int64           // state-machine time, unix ns
	Failure  string          `cbor:",omitempty"` // why an accepted proposal failed
}

// Member is a key that signs governance requests: its certificate and a
// crypto.Signer for the certificate's key (Ed25519 or ECDSA P-256).
type Member struct {
	Cert []byte
	Key  crypto.Signer
}

// ID is the member's CertID.
func (m *Member) ID() string { return CertID(m.Cert) }

// Sign signs a governance body.
func (m *Member) Sign(body GovBody) (*SignedRequest, error) {
	b, err := encMode.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("consortium: encode request: %w", err)
	}
	msg := append([]byte(sigDomain), b...)
	var sig []byte
	switch m.Key.Public().(type) {
	case ed25519.PublicKey:
		sig, err = m.Key.Sign(rand.Reader, msg, crypto.Hash(0))
	default:
		h := sha256.Sum256(msg)
		sig, err = m.Key.Sign(rand.Reader, h[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("consortium: sign request: %w", err)
	}
	return &SignedRequest{Cert: m.Cert, Body: b, Sig: sig}, nil
}

// Propose signs a proposal of actions for the consortium id.
func (m *Member) Propose(id [32]byte, actions ...Action) (*SignedRequest, error) {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	return m.Sign(GovBody{Consortium: id[:], Op: OpPropose, Actions: actions, Nonce: nonce})
}

// Ballot signs a vote on a proposal.
func (m *Member) Ballot(id [32]byte, proposal string, approve bool) (*SignedRequest, error) {
	p, err := hex.DecodeString(proposal)
	if err != nil {
		return nil, fmt.Errorf("consortium: proposal id: %w", ErrBadRequest)
	}
	return m.Sign(GovBody{Consortium: id[:], Op: OpBallot, Proposal: p, Approve: approve})
}

// Withdraw signs the withdrawal of the member's own proposal.
func (m *Member) Withdraw(id [32]byte, proposal string) (*SignedRequest, error) {
	p, err := hex.DecodeString(proposal)
	if err != nil {
		return nil, fmt.Errorf("consortium: proposal id: %w", ErrBadRequest)
	}
	return m.Sign(GovBody{Consortium: id[:], Op: OpWithdraw, Proposal: p})
}

// ProposalID is the ID a proposal request gets.
func ProposalID(req *SignedRequest) string {
	h := sha256.New()
	h.Write([]byte(CertID(req.Cert)))
	h.Write(req.Body)
	return hex.EncodeToString(h.Sum(nil))
}

// constitution is the governance tables, loaded whole: they are small and a
// proposal's actions apply to a copy, all or nothing.
type constitution struct {
	Members      map[string][]byte // ID -> cert
	Participants map[string][]byte
	CAs          map[string][]byte
	Nodes        map[uint64]NodeInfo
	Code         map[string]bool // hex SHA-256
	Envs         map[string]bool
	Policy       Policy
	Recovery     *Recovery     // the current ledger secret's shares (nil: none)
	Epochs       []SecretEpoch // the ledger secrets, oldest first
}

func newConstitution() *constitution {
	return &constitution{
		Members:      map[string][]byte{},
		Participants: map[string][]byte{},
		CAs:          map[string][]byte{},
		Nodes:        map[uint64]NodeInfo{},
		Code:         map[string]bool{},
		Envs:         map[string]bool{},
	}
}

func (c *constitution) clone() *constitution {
	d := newConstitution()
	for k, v := range c.Members {
		d.Members[k] = v
	}
	for k, v := range c.Participants {
		d.Participants[k] = v
	}
	for k, v := range c.CAs {
		d.CAs[k] = v
	}
	for k, v := range c.Nodes {
		d.Nodes[k] = v
	}
	for k, v := range c.Code {
		d.Code[k] = v
	}
	for k, v := range c.Envs {
		d.Envs[k] = v
	}
	d.Policy = c.Policy
	d.Recovery = c.Recovery
	d.Epochs = append([]SecretEpoch(nil), c.Epochs...)
	return d
}

// fromGenesis builds the first constitution; genesis members and nodes are
// checked like later ones (valid certificates, listed code and environments).
func fromGenesis(g *Genesis) (*constitution, error) {
	c := newConstitution()
	for _, h := range g.Code {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("consortium: genesis code hash of %d bytes: %w", len(h), ErrBadRequest)
		}
		c.Code[hex.EncodeToString(h)] = true
	}
	for _, e := range g.Envs {
		c.Envs[e] = true
	}
	for _, ca := range g.CAs {
		if _, err := x509.ParseCertificate(ca); err != nil {
			return nil, fmt.Errorf("consortium: genesis CA: %w", err)
		}
		c.CAs[CertID(ca)] = ca
	}
	for _, m := range g.Members {
		if _, err := x509.ParseCertificate(m); err != nil {
			return nil, fmt.Errorf("consortium: genesis member: %w", err)
		}
		c.Members[CertID(m)] = m
	}
	for _, p := range g.Participants {
		if _, err := x509.ParseCertificate(p); err != nil {
			return nil, fmt.Errorf("consortium: genesis participant: %w", err)
		}
		c.Participants[CertID(p)] = p
	}
	for _, n := range g.Nodes {
		if err := c.checkNode(n); err != nil {
			return nil, fmt.Errorf("consortium: genesis node %d: %w", n.ID, err)
		}
		c.Nodes[n.ID] = n
	}
	if len(c.Members) == 0 || len(c.Nodes) == 0 {
		return nil, fmt.Errorf("consortium: genesis needs a member and a node: %w", ErrBadRequest)
	}
	if err := checkPolicy(&g.Policy); err != nil {
		return nil, err
	}
	c.Policy = g.Policy
	if g.Recovery != nil {
		if len(g.Recovery.SecretHash) != sha256.Size {
			return nil, fmt.Errorf("consortium: genesis recovery without a secret hash: %w", ErrBadRequest)
		}
		c.Recovery = g.Recovery
		c.Epochs = []SecretEpoch{{ID: g.Recovery.SecretHash[:secretIDLen]}}
	}
	return c, nil
}

// errAction is why an accepted proposal failed to apply.
var errAction = errors.New("action refused")

func (c *constitution) checkNode(n NodeInfo) error {
	if n.ID == 0 || len(n.PubKey) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: node needs an ID and an Ed25519 key", errAction)
	}
	if !c.Code[hex.EncodeToString(n.CodeHash)] {
		return fmt.Errorf("%w: code hash %x is not in the code manifest", errAction, n.CodeHash)
	}
	if !c.Envs[n.Env] {
		return fmt.Errorf("%w: environment %q is not in the environment manifest", errAction, n.Env)
	}
	return nil
}

func checkPolicy(p *Policy) error {
	check := func(t Threshold) error {
		if t.Den == 0 && t.Num == 0 {
			return nil
		}
		if t.Den == 0 || t.Num > t.Den {
			return fmt.Errorf("consortium: threshold %d/%d: %w", t.Num, t.Den, ErrBadRequest)
		}
		return nil
	}
	if err := check(p.Default); err != nil {
		return err
	}
	for _, t := range p.PerAction {
		if err := check(t); err != nil {
			return err
		}
	}
	if p.TTL < 0 {
		return fmt.Errorf("consortium: negative proposal TTL: %w", ErrBadRequest)
	}
	return nil
}

// checkCert parses der and checks it is valid at t and, when the
// constitution has CAs, that it chains to one of them.
func (c *constitution) checkCert(der []byte, t time.Time) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
	}
	if t.Before(cert.NotBefore) || t.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: certificate not valid at %s", ErrBadSignature, t.UTC().Format(time.RFC3339))
	}
	if len(c.CAs) > 0 {
		roots := x509.NewCertPool()
		for _, ca := range c.CAs {
			if rc, err := x509.ParseCertificate(ca); err == nil {
				roots.AddCert(rc)
			}
		}
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: t, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
	}
	return cert, nil
}

// verify checks a governance request against the constitution at time t and
// returns its body and the signer's member ID.
func (c *constitution) verify(req *SignedRequest, consortium [32]byte, t time.Time) (*GovBody, string, error) {
	id := CertID(req.Cert)
	stored, ok := c.Members[id]
	if !ok {
		return nil, "", ErrNotMember
	}
	if !bytes.Equal(stored, req.Cert) {
		return nil, "", ErrBadSignature
	}
	cert, err := c.checkCert(req.Cert, t)
	if err != nil {
		return nil, "", err
	}
	msg := append([]byte(sigDomain), req.Body...)
	switch k := cert.PublicKey.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, req.Sig) {
			return nil, "", ErrBadSignature
		}
	case *ecdsa.PublicKey:
		h := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, h[:], req.Sig) {
			return nil, "", ErrBadSignature
		}
	default:
		return nil, "", fmt.Errorf("%w: unsupported key type %T", ErrBadSignature, cert.PublicKey)
	}
	var body GovBody
	if err := decMode.Unmarshal(req.Body, &body); err != nil {
		return nil, "", fmt.Errorf("%w: body: %v", ErrBadRequest, err)
	}
	if !bytes.Equal(body.Consortium, consortium[:]) {
		return nil, "", ErrWrongConsortium
	}
	return &body, id, nil
}

// threshold is the approval count a proposal needs now.
func (c *constitution) threshold(p *ProposalInfo) int {
	t := c.Policy.Default
	best := t.need(len(c.Members))
	for _, a := range p.Actions {
		if at, ok := c.Policy.PerAction[a.Kind]; ok {
			if n := at.need(len(c.Members)); n > best {
				best = n
			}
		}
	}
	return best
}

// tally resolves an open proposal's votes: accepted, rejected or still open.
// Only ballots of current members count.
func (c *constitution) tally(p *ProposalInfo) string {
	yes, no := 0, 0
	for m, v := range p.Ballots {
		if _, ok := c.Members[m]; !ok {
			continue
		}
		if v {
			yes++
			continue
		}
		no++
		if slices.Contains(c.Policy.Veto, m) {
			return StateRejected
		}
	}
	need := c.threshold(p)
	if yes >= need {
		return StateAccepted
	}
	if yes+(len(c.Members)-yes-no) < need {
		return StateRejected
	}
	return StateOpen
}

// apply applies a proposal's actions to a copy of c at time t; on error c is
// unchanged. changesVoters reports a change of members or policy, which drops
// the other open proposals.
func (c *constitution) apply(actions []Action, t time.Time) (next *constitution, changesVoters bool, err error) {
	d := c.clone()
	for i, a := range actions {
		if err := d.applyOne(a, t); err != nil {
			return nil, false, fmt.Errorf("action %d (%s): %w", i, a.Kind, err)
		}
		switch a.Kind {
		case ActAddMember, ActRemoveMember, ActSetPolicy:
			changesVoters = true
		}
	}
	if len(d.Members) == 0 {
		return nil, false, fmt.Errorf("%w: the last member cannot be removed", errAction)
	}
	if len(d.Nodes) == 0 {
		return nil, false, fmt.Errorf("%w: the last node cannot be removed", errAction)
	}
	return d, changesVoters, nil
}

func (c *constitution) applyOne(a Action, t time.Time) error {
	switch a.Kind {
	case ActAddMember, ActAddParticipant:
		if _, err := c.checkCert(a.Cert, t); err != nil {
			return fmt.Errorf("%w: %v", errAction, err)
		}
		id := CertID(a.Cert)
		if _, ok := c.Members[id]; ok {
			return fmt.Errorf("%w: already a member", errAction)
		}
		if _, ok := c.Participants[id]; ok {
			return fmt.Errorf("%w: already a participant", errAction)
		}
		if a.Kind == ActAddMember {
			c.Members[id] = a.Cert
		} else {
			c.Participants[id] = a.Cert
		}
	case ActRemoveMember:
		if _, ok := c.Members[a.ID]; !ok {
			return fmt.Errorf("%w: no member %s", errAction, a.ID)
		}
		delete(c.Members, a.ID)
		c.Policy.Veto = slices.DeleteFunc(slices.Clone(c.Policy.Veto), func(v string) bool { return v == a.ID })
	case ActRemoveParticipant:
		if _, ok := c.Participants[a.ID]; !ok {
			return fmt.Errorf("%w: no participant %s", errAction, a.ID)
		}
		delete(c.Participants, a.ID)
	case ActAddNode:
		if a.Node == nil {
			return fmt.Errorf("%w: add_node without a node", errAction)
		}
		if _, ok := c.Nodes[a.Node.ID]; ok {
			return fmt.Errorf("%w: node %d exists", errAction, a.Node.ID)
		}
		if err := c.checkNode(*a.Node); err != nil {
			return err
		}
		c.Nodes[a.Node.ID] = *a.Node
	case ActRemoveNode:
		if _, ok := c.Nodes[a.NodeID]; !ok {
			return fmt.Errorf("%w: no node %d", errAction, a.NodeID)
		}
		delete(c.Nodes, a.NodeID)
	case ActAllowCode, ActRemoveCode:
		if len(a.Hash) != sha256.Size {
			return fmt.Errorf("%w: code hash of %d bytes", errAction, len(a.Hash))
		}
		if a.Kind == ActAllowCode {
			c.Code[hex.EncodeToString(a.Hash)] = true
		} else {
			delete(c.Code, hex.EncodeToString(a.Hash))
		}
	case ActAllowEnv:
		c.Envs[a.Env] = true
	case ActRemoveEnv:
		delete(c.Envs, a.Env)
	case ActAddCA:
		if _, err := x509.ParseCertificate(a.Cert); err != nil {
			return fmt.Errorf("%w: CA: %v", errAction, err)
		}
		c.CAs[CertID(a.Cert)] = a.Cert
	case ActRemoveCA:
		delete(c.CAs, a.ID)
	case ActRekey:
		if err := c.checkRekey(a.Rekey); err != nil {
			return err
		}
		c.Recovery = a.Rekey.Recovery
		c.Epochs = append(c.Epochs, SecretEpoch{ID: a.Rekey.Recovery.SecretHash[:secretIDLen], Nodes: a.Rekey.Nodes, Prev: a.Rekey.Prev})
	case ActSetPolicy:
		if a.Policy == nil {
			return fmt.Errorf("%w: set_policy without a policy", errAction)
		}
		if err := checkPolicy(a.Policy); err != nil {
			return fmt.Errorf("%w: %v", errAction, err)
		}
		c.Policy = *a.Policy
	default:
		return fmt.Errorf("%w: unknown action %q", errAction, a.Kind)
	}
	return nil
}

// nodeIDs lists the validating nodes in order.
func (c *constitution) nodeIDs() []uint64 {
	ids := make([]uint64, 0, len(c.Nodes))
	for id := range c.Nodes {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}
