package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
	"github.com/coconet/coconet/consortium/consnode"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
)

// errNoConsortium: the network's node runs no validating node.
var errNoConsortium = errors.New("this node runs no consortium: start one with `coco consortium start NET GENESIS`")

// genesisFile is where a network's consortium genesis is kept.
func (d *Daemon) genesisFile(e *engine.Engine) string {
	return filepath.Join(consnode.Dir(homedir.NetworkDir(d.Home, e.NetworkID())), "genesis.json")
}

// joinFile marks a node started with Join: it must never bootstrap as a
// genesis node, even when restarted before the leader reached it.
func joinFile(genesisFile string) string { return filepath.Join(filepath.Dir(genesisFile), "join") }

// apiFile keeps the address of the node's mutual-TLS REST API.
func apiFile(genesisFile string) string { return filepath.Join(filepath.Dir(genesisFile), "api-addr") }

// attachConsortium starts the validating node of a network whose genesis
// was saved by ConsortiumStart.
func (d *Daemon) attachConsortium(ctx context.Context, p *parts) error {
	b, err := os.ReadFile(d.genesisFile(p.e))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consortium genesis: %w", err)
	}
	_, statErr := os.Stat(joinFile(d.genesisFile(p.e)))
	addr, err := os.ReadFile(apiFile(d.genesisFile(p.e)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("consortium API address: %w", err)
	}
	_, err = d.startConsortium(p.e, b, statErr == nil, string(addr))
	return err
}

func (d *Daemon) startConsortium(e *engine.Engine, genesis []byte, join bool, apiAddr string) (*consnode.Service, error) {
	var g consortium.Genesis
	if err := json.Unmarshal(genesis, &g); err != nil {
		return nil, fmt.Errorf("consortium genesis: %w", err)
	}
	return consnode.Attach(e, consnode.Config{Genesis: &g, Dir: consnode.Dir(homedir.NetworkDir(d.Home, e.NetworkID())), Join: join, APIAddr: apiAddr})
}

// consortiumOf is the validating node of a network's running node and the
// user's member key.
func (d *Daemon) consortiumOf(network, what string) (*consnode.Service, *consortium.Member, error) {
	e, err := d.runningEngine(network, what)
	if err != nil {
		return nil, nil, err
	}
	s, ok := engine.Lookup[*consnode.Service](e)
	if !ok {
		return nil, nil, api.NotFound{Err: errNoConsortium}
	}
	m, err := consnode.Member(e.Identity(), e.NetworkID())
	if err != nil {
		return nil, nil, err
	}
	return s, m, nil
}

func (d *Daemon) ConsortiumStart(ctx context.Context, network string, req api.ConsortiumStartRequest) (api.ConsortiumStatus, error) {
	e, err := d.runningEngine(network, "starting a consortium")
	if err != nil {
		return api.ConsortiumStatus{}, err
	}
	if k := e.Ledger().State().Kind; k != ledger.NetKindConsortium {
		return api.ConsortiumStatus{}, api.Conflict{Err: fmt.Errorf("%q is a %s network: a consortium runs in a network created with `coco net create NAME --kind consortium`", network, k)}
	}
	if _, ok := engine.Lookup[*consnode.Service](e); ok {
		return api.ConsortiumStatus{}, api.Conflict{Err: errors.New("this node already runs a consortium")}
	}
	var g consortium.Genesis
	if err := json.Unmarshal(req.Genesis, &g); err != nil {
		return api.ConsortiumStatus{}, fmt.Errorf("consortium genesis: %w", err)
	}
	path := d.genesisFile(e)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return api.ConsortiumStatus{}, err
	}
	if req.Join {
		if err := atomicfile.Write(joinFile(path), nil, 0o600); err != nil {
			return api.ConsortiumStatus{}, err
		}
	}
	if req.API != "" {
		if err := atomicfile.Write(apiFile(path), []byte(req.API), 0o600); err != nil {
			return api.ConsortiumStatus{}, err
		}
	}
	if err := atomicfile.Write(path, req.Genesis, 0o600); err != nil {
		return api.ConsortiumStatus{}, err
	}
	if _, err := d.startConsortium(e, req.Genesis, req.Join, req.API); err != nil {
		os.Remove(path)
		os.Remove(joinFile(path))
		os.Remove(apiFile(path))
		return api.ConsortiumStatus{}, err
	}
	return d.ConsortiumStatus(ctx, network)
}

func (d *Daemon) ConsortiumStatus(ctx context.Context, network string) (api.ConsortiumStatus, error) {
	s, m, err := d.consortiumOf(network, "the consortium's status")
	if err != nil {
		return api.ConsortiumStatus{}, err
	}
	st := wireConsortiumStatus(s.Node(), m)
	st.API = s.APIAddr()
	return st, nil
}

func (d *Daemon) ConsortiumIdentity(ctx context.Context, network string) (api.ConsortiumIdentity, error) {
	e, err := d.runningEngine(network, "the consortium identity")
	if err != nil {
		return api.ConsortiumIdentity{}, err
	}
	m, err := consnode.Member(e.Identity(), e.NetworkID())
	if err != nil {
		return api.ConsortiumIdentity{}, err
	}
	ni, err := consnode.Info(e)
	if err != nil {
		return api.ConsortiumIdentity{}, err
	}
	return api.ConsortiumIdentity{Member: m.ID(), Cert: m.Cert, Node: wireConsortiumNode(ni)}, nil
}

func (d *Daemon) ConsortiumPut(ctx context.Context, network, table, key string, req api.ConsortiumPutRequest) (api.ConsortiumPutResult, error) {
	s, m, err := d.consortiumOf(network, "a consortium write")
	if err != nil {
		return api.ConsortiumPutResult{}, err
	}
	res, err := s.Node().Transact(ctx, consortium.Txn{Caller: m.ID(),
		Writes: []consortium.Write{{Table: table, Key: []byte(key), Value: req.Value}}})
	if err != nil {
		return api.ConsortiumPutResult{}, err
	}
	out := api.ConsortiumPutResult{Seqno: res.Seqno, Index: res.Index}
	if req.Receipt {
		rc, err := s.Node().Receipt(ctx, res.Seqno)
		if err != nil {
			return api.ConsortiumPutResult{}, err
		}
		out.Receipt = wireReceipt(rc)
	}
	return out, nil
}

func (d *Daemon) ConsortiumGet(ctx context.Context, network, table, key string) (api.ConsortiumValue, error) {
	s, _, err := d.consortiumOf(network, "a consortium read")
	if err != nil {
		return api.ConsortiumValue{}, err
	}
	v, ver, err := s.Node().Get(ctx, table, []byte(key))
	if errors.Is(err, consortium.ErrNotFound) {
		return api.ConsortiumValue{}, api.NotFound{Err: err}
	}
	if err != nil {
		return api.ConsortiumValue{}, err
	}
	return api.ConsortiumValue{Value: v, Version: ver}, nil
}

func (d *Daemon) ConsortiumProposals(ctx context.Context, network string) ([]api.ConsortiumProposal, error) {
	s, _, err := d.consortiumOf(network, "the consortium's proposals")
	if err != nil {
		return nil, err
	}
	ps, err := s.Node().Proposals(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]api.ConsortiumProposal, 0, len(ps))
	for _, p := range ps {
		out = append(out, wireProposal(p))
	}
	return out, nil
}

func (d *Daemon) ConsortiumPropose(ctx context.Context, network string, req api.ConsortiumProposeRequest) (api.ConsortiumProposal, error) {
	s, m, err := d.consortiumOf(network, "a consortium proposal")
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	acts := make([]consortium.Action, 0, len(req.Actions))
	for _, a := range req.Actions {
		acts = append(acts, unwireConsAction(a))
	}
	sr, err := m.Propose(s.Node().ConsortiumID(), acts...)
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	return govern(ctx, s, sr)
}

func (d *Daemon) ConsortiumVote(ctx context.Context, network, proposal string, req api.ConsortiumVoteRequest) (api.ConsortiumProposal, error) {
	s, m, err := d.consortiumOf(network, "a consortium ballot")
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	if _, err := hex.DecodeString(proposal); err != nil {
		return api.ConsortiumProposal{}, api.NotFound{Err: fmt.Errorf("proposal %q: %w", proposal, consortium.ErrUnknownProposal)}
	}
	sr, err := m.Ballot(s.Node().ConsortiumID(), proposal, req.Approve)
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	return govern(ctx, s, sr)
}

func govern(ctx context.Context, s *consnode.Service, sr *consortium.SignedRequest) (api.ConsortiumProposal, error) {
	res, err := s.Node().Govern(ctx, sr)
	if errors.Is(err, consortium.ErrUnknownProposal) {
		return api.ConsortiumProposal{}, api.NotFound{Err: err}
	}
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	if res.Proposal == nil {
		return api.ConsortiumProposal{}, errors.New("consortium: the governance entry returned no proposal")
	}
	return wireProposal(res.Proposal), nil
}

func (d *Daemon) ConsortiumDelete(ctx context.Context, network, table, key string) (api.ConsortiumPutResult, error) {
	s, m, err := d.consortiumOf(network, "a consortium delete")
	if err != nil {
		return api.ConsortiumPutResult{}, err
	}
	res, err := s.Node().Transact(ctx, consortium.Txn{Caller: m.ID(),
		Writes: []consortium.Write{{Table: table, Key: []byte(key), Delete: true}}})
	if err != nil {
		return api.ConsortiumPutResult{}, err
	}
	return api.ConsortiumPutResult{Seqno: res.Seqno, Index: res.Index}, nil
}

// maxRange bounds one page of ConsortiumRange.
const maxRange = 1000

func (d *Daemon) ConsortiumRange(ctx context.Context, network, table string, req api.ConsortiumRangeRequest) (api.ConsortiumRange, error) {
	s, _, err := d.consortiumOf(network, "a consortium range")
	if err != nil {
		return api.ConsortiumRange{}, err
	}
	from := []byte(req.From)
	var to []byte
	if req.To != "" {
		to = []byte(req.To)
	}
	if req.Prefix != "" {
		if req.From < req.Prefix {
			from = []byte(req.Prefix)
		}
		to = consortium.PrefixEnd([]byte(req.Prefix))
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, maxRange)
	kvs, err := s.Node().Range(ctx, table, from, to, limit+1)
	if err != nil {
		return api.ConsortiumRange{}, err
	}
	out := api.ConsortiumRange{Items: make([]api.ConsortiumKV, 0, len(kvs))}
	if len(kvs) > limit {
		out.Next = string(kvs[limit].Key)
		kvs = kvs[:limit]
	}
	for _, kv := range kvs {
		out.Items = append(out.Items, api.ConsortiumKV{Key: string(kv.Key), Value: kv.Value, Version: kv.Version})
	}
	return out, nil
}

func (d *Daemon) ConsortiumWithdraw(ctx context.Context, network, proposal string) (api.ConsortiumProposal, error) {
	s, m, err := d.consortiumOf(network, "withdrawing a consortium proposal")
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	if _, err := hex.DecodeString(proposal); err != nil {
		return api.ConsortiumProposal{}, api.NotFound{Err: fmt.Errorf("proposal %q: %w", proposal, consortium.ErrUnknownProposal)}
	}
	sr, err := m.Withdraw(s.Node().ConsortiumID(), proposal)
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	return govern(ctx, s, sr)
}

func wireRecovery(st consortium.RecoveryState) api.ConsortiumRecovery {
	out := api.ConsortiumRecovery{Open: st.Open, Threshold: st.Threshold, Members: st.Members, Submitted: st.Submitted}
	if out.Submitted == nil {
		out.Submitted = []string{}
	}
	return out
}

func (d *Daemon) ConsortiumRecoveryShare(ctx context.Context, network string) (api.ConsortiumShare, error) {
	s, m, err := d.consortiumOf(network, "your recovery share")
	if err != nil {
		return api.ConsortiumShare{}, err
	}
	r := s.Node().Recovery()
	if r == nil {
		return api.ConsortiumShare{}, api.NotFound{Err: errors.New("this consortium's genesis has no recovery shares (`coco consortium genesis --recovery K`)")}
	}
	share, err := m.OpenShare(r)
	if err != nil {
		return api.ConsortiumShare{}, api.NotFound{Err: fmt.Errorf("you hold no recovery share: %w", err)}
	}
	return api.ConsortiumShare{Member: m.ID(), Share: share}, nil
}

func (d *Daemon) ConsortiumRecoverySubmit(ctx context.Context, network string, req api.ConsortiumShare) (api.ConsortiumRecovery, error) {
	s, _, err := d.consortiumOf(network, "a recovery share")
	if err != nil {
		return api.ConsortiumRecovery{}, err
	}
	st, err := s.Node().SubmitShare(req.Member, req.Share)
	if err != nil {
		return api.ConsortiumRecovery{}, err
	}
	return wireRecovery(st), nil
}

func (d *Daemon) ConsortiumRecoveryStatus(ctx context.Context, network string) (api.ConsortiumRecovery, error) {
	s, _, err := d.consortiumOf(network, "the consortium's recovery")
	if err != nil {
		return api.ConsortiumRecovery{}, err
	}
	return wireRecovery(s.Node().RecoveryStatus()), nil
}

func (d *Daemon) ConsortiumRekey(ctx context.Context, network string) (api.ConsortiumProposal, error) {
	s, m, err := d.consortiumOf(network, "a consortium rekey")
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	act, err := s.Node().RekeyAction()
	if errors.Is(err, consortium.ErrNoSecret) {
		return api.ConsortiumProposal{}, api.Conflict{Err: fmt.Errorf("this node does not hold the ledger secret (see `coco consortium recovery status`): %w", err)}
	}
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	sr, err := m.Propose(s.Node().ConsortiumID(), act)
	if err != nil {
		return api.ConsortiumProposal{}, err
	}
	return govern(ctx, s, sr)
}
