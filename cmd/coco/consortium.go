package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/consortium"
)

// readCert reads an X.509 certificate file, PEM or DER.
func readCert(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if p, _ := pem.Decode(b); p != nil {
		return p.Bytes, nil
	}
	return b, nil
}

func readIdentity(path string) (api.ConsortiumIdentity, error) {
	var id api.ConsortiumIdentity
	b, err := os.ReadFile(path)
	if err != nil {
		return id, err
	}
	if err := json.Unmarshal(b, &id); err != nil {
		return id, fmt.Errorf("%s: not an identity file of `coco consortium identity NET --json`: %w", path, err)
	}
	return id, nil
}

func runConsIdentity(ctx context.Context, e *env, args []string) error {
	id, err := e.svc.ConsortiumIdentity(ctx, args[0])
	return show(e, id, err, func(w io.Writer) {
		fmt.Fprintf(w, "member %s\nnode %d (%s), code %x, %s\n", id.Member, id.Node.ID, id.Node.Addr, id.Node.CodeHash, id.Node.Env)
		pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: id.Cert})
		fmt.Fprintf(w, "Give `coco consortium identity %s --json` to whoever writes the genesis.\n", args[0])
	})
}

// runConsGenesis writes a genesis whose members and validating nodes are
// the users and nodes of the identity files, with a majority policy and
// the code hashes the nodes report.
func runConsGenesis(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium genesis", flag.ContinueOnError)
	var parts multi
	fs.Var(&parts, "participant", "a participant's certificate file (PEM or DER); repeat")
	recovery := fs.Int("recovery", 0, "split a new ledger secret (for private tables) into one share per member, any K of which recover it; the secret itself is written nowhere")
	pos, err := parseN(fs, args, 2, -1, "the consortium's name and one identity file per founding member")
	if err != nil {
		return err
	}
	g := &consortium.Genesis{Name: pos[0], Envs: []string{consortium.EnvSoftware}, Nonce: make([]byte, 16)}
	rand.Read(g.Nonce)
	code := map[string]bool{}
	for _, p := range pos[1:] {
		id, err := readIdentity(p)
		if err != nil {
			return err
		}
		g.Members = append(g.Members, id.Cert)
		n := id.Node
		g.Nodes = append(g.Nodes, consortium.NodeInfo{ID: n.ID, PubKey: n.PubKey, CodeHash: n.CodeHash, Env: n.Env, Addr: n.Addr})
		if h := hex.EncodeToString(n.CodeHash); !code[h] {
			code[h] = true
			g.Code = append(g.Code, n.CodeHash)
		}
	}
	for _, p := range parts {
		c, err := readCert(p)
		if err != nil {
			return err
		}
		g.Participants = append(g.Participants, c)
	}
	if *recovery != 0 {
		secret, err := consortium.NewLedgerSecret()
		if err != nil {
			return err
		}
		g.Recovery, err = consortium.SealRecovery(secret, g.Members, *recovery)
		clear(secret[:])
		if err != nil {
			return usagef("--recovery %d with %d members: %v", *recovery, len(g.Members), err)
		}
	}
	b, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "%s\n", b)
	return err
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func runConsStart(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium start", flag.ContinueOnError)
	join := fs.Bool("join", false, "this node is not in the genesis: the members added it with `coco consortium propose NET add_node IDENTITY-FILE`")
	apiAddr := fs.String("api", "", "serve the consortium's REST API over mutual TLS on this TCP address (e.g. 127.0.0.1:8443): members and participants call it with their certificates")
	pos, err := parseN(fs, args, 2, 2, "the network and the genesis file")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(pos[1])
	if err != nil {
		return err
	}
	st, err := e.svc.ConsortiumStart(ctx, pos[0], api.ConsortiumStartRequest{Genesis: b, Join: *join, API: *apiAddr})
	return show(e, st, err, func(w io.Writer) {
		fmt.Fprintf(w, "Started validating node %d of consortium %s (%s).\n", st.Node, st.Name, st.ID[:16])
		if st.API != "" {
			fmt.Fprintf(w, "REST API (mutual TLS) on %s.\n", st.API)
		}
	})
}

func runConsStatus(ctx context.Context, e *env, args []string) error {
	st, err := e.svc.ConsortiumStatus(ctx, args[0])
	return show(e, st, err, func(w io.Writer) {
		fmt.Fprintf(w, "consortium %s\nnode %d, leader %d, applied %d\nvoters %v\n", st.ID[:16], st.Node, st.Leader, st.Applied, st.Voters)
		if st.API != "" {
			fmt.Fprintf(w, "REST API (mutual TLS) on %s\n", st.API)
		}
		for _, m := range st.Members {
			me := ""
			if m == st.Self {
				me = " (you)"
			}
			fmt.Fprintf(w, "member %s%s\n", m, me)
		}
		for _, n := range st.Nodes {
			fmt.Fprintf(w, "node %d %s\n", n.ID, n.Addr)
		}
	})
}

func runConsPut(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium put", flag.ContinueOnError)
	tbl := fs.String("table", "kv", "the application table")
	receipt := fs.String("receipt", "", "write the write's receipt (JSON) to this file")
	pos, err := parseN(fs, args, 3, 3, "the network, the key and the value")
	if err != nil {
		return err
	}
	r, err := e.svc.ConsortiumPut(ctx, pos[0], *tbl, pos[1], api.ConsortiumPutRequest{Value: []byte(pos[2]), Receipt: *receipt != ""})
	if err == nil && r.Receipt != nil {
		b, _ := json.MarshalIndent(r.Receipt, "", "  ")
		err = os.WriteFile(*receipt, b, 0o644)
	}
	return show(e, r, err, func(w io.Writer) {
		fmt.Fprintf(w, "Committed as transaction %d (raft index %d).\n", r.Seqno, r.Index)
		if r.Receipt != nil {
			fmt.Fprintf(w, "Receipt in %s; check it with: coco consortium verify-receipt %s --genesis GENESIS\n", *receipt, *receipt)
		}
	})
}

func runConsGet(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium get", flag.ContinueOnError)
	tbl := fs.String("table", "kv", "the application table")
	pos, err := parseN(fs, args, 2, 2, "the network and the key")
	if err != nil {
		return err
	}
	v, err := e.svc.ConsortiumGet(ctx, pos[0], *tbl, pos[1])
	return show(e, v, err, func(w io.Writer) { fmt.Fprintf(w, "%s\n", v.Value) })
}

// consAction parses ACTION ARGS of `coco consortium propose`.
func consAction(args []string) (api.ConsortiumAction, error) {
	a := api.ConsortiumAction{Kind: args[0]}
	arg := ""
	if len(args) > 1 {
		arg = args[1]
	}
	need := func(what string) error {
		if len(args) != 2 {
			return usagef("%s takes %s", args[0], what)
		}
		return nil
	}
	var err error
	switch a.Kind {
	case consortium.ActAddMember, consortium.ActAddParticipant, consortium.ActAddCA:
		if err = need("a certificate file (PEM or DER)"); err == nil {
			a.Cert, err = readCert(arg)
		}
	case consortium.ActRemoveMember, consortium.ActRemoveParticipant, consortium.ActRemoveCA:
		if err = need("a member, participant or CA ID"); err == nil {
			a.ID = arg
		}
	case consortium.ActAddNode:
		if err = need("an identity file of `coco consortium identity NET --json`"); err == nil {
			var id api.ConsortiumIdentity
			if id, err = readIdentity(arg); err == nil {
				a.Node = &id.Node
			}
		}
	case consortium.ActRemoveNode:
		if err = need("a node ID"); err == nil {
			a.NodeID, err = strconv.ParseUint(arg, 10, 64)
		}
	case consortium.ActAllowCode, consortium.ActRemoveCode:
		if err = need("a SHA-256 in hex"); err == nil {
			a.Hash, err = hex.DecodeString(arg)
		}
	case consortium.ActAllowEnv, consortium.ActRemoveEnv:
		if err = need("an environment"); err == nil {
			a.Env = arg
		}
	default:
		return a, usagef("unknown action %q: use add_member, remove_member, add_participant, remove_participant, add_node, remove_node, allow_code, remove_code, allow_env, remove_env, add_ca or remove_ca", a.Kind)
	}
	return a, err
}

func runConsPropose(ctx context.Context, e *env, args []string) error {
	a, err := consAction(args[1:])
	if err != nil {
		return err
	}
	p, err := e.svc.ConsortiumPropose(ctx, args[0], api.ConsortiumProposeRequest{Actions: []api.ConsortiumAction{a}})
	return show(e, p, err, func(w io.Writer) {
		fmt.Fprintf(w, "Proposal %s is %s.\nVote with: coco consortium vote %s %s yes\n", p.ID, p.State, args[0], p.ID)
	})
}

func runConsVote(ctx context.Context, e *env, args []string) error {
	var approve bool
	switch args[2] {
	case "yes":
		approve = true
	case "no":
	default:
		return usagef("vote yes or no, not %q", args[2])
	}
	p, err := e.svc.ConsortiumVote(ctx, args[0], args[1], api.ConsortiumVoteRequest{Approve: approve})
	return show(e, p, err, func(w io.Writer) { fmt.Fprintf(w, "Proposal %s is %s.\n", p.ID, p.State) })
}

func runConsProposals(ctx context.Context, e *env, args []string) error {
	ps, err := e.svc.ConsortiumProposals(ctx, args[0])
	return show(e, ps, err, func(w io.Writer) {
		table(w, ps, "No proposals.", "ID\tSTATE\tACTIONS\tYES\tNO", func(tw io.Writer, p api.ConsortiumProposal) {
			var kinds []string
			for _, a := range p.Actions {
				kinds = append(kinds, a.Kind)
			}
			yes, no := 0, 0
			for _, v := range p.Ballots {
				if v {
					yes++
				} else {
					no++
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", p.ID, p.State, strings.Join(kinds, ","), yes, no)
		})
	})
}

// runConsVerify checks a receipt offline against the signing node's key in
// a genesis file (or --key).
func runConsVerify(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium verify-receipt", flag.ContinueOnError)
	genesis := fs.String("genesis", "", "the consortium's genesis file (for the node's key)")
	key := fs.String("key", "", "the signing node's Ed25519 public key in hex (instead of --genesis)")
	pos, err := parseN(fs, args, 1, 1, "the receipt file")
	if err != nil {
		return err
	}
	b, err := os.ReadFile(pos[0])
	if err != nil {
		return err
	}
	var r api.ConsortiumReceipt
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("%s: not a receipt: %w", pos[0], err)
	}
	var pub []byte
	switch {
	case *key != "":
		if pub, err = hex.DecodeString(*key); err != nil {
			return usagef("--key: %v", err)
		}
	case *genesis != "":
		gb, err := os.ReadFile(*genesis)
		if err != nil {
			return err
		}
		var g consortium.Genesis
		if err := json.Unmarshal(gb, &g); err != nil {
			return fmt.Errorf("%s: not a genesis: %w", *genesis, err)
		}
		for _, n := range g.Nodes {
			if n.ID == r.Node {
				pub = n.PubKey
			}
		}
		if pub == nil {
			return fmt.Errorf("node %d is not in the genesis: give its key with --key", r.Node)
		}
	default:
		return usagef("give the genesis file (--genesis) or the node's key (--key)")
	}
	rc := &consortium.Receipt{Consortium: r.Consortium, Seqno: r.Seqno, Record: r.Record, TreeSize: r.TreeSize,
		Root: r.Root, Proof: r.Proof, Node: r.Node, Sig: r.Sig}
	err = consortium.VerifyReceipt(rc, pub)
	res := struct {
		OK    bool   `json:"ok"`
		Seqno uint64 `json:"seqno"`
	}{err == nil, r.Seqno}
	return show(e, res, err, func(w io.Writer) {
		fmt.Fprintf(w, "Receipt of transaction %d verifies (tree of %d, signed by node %d).\n", r.Seqno, r.TreeSize, r.Node)
	})
}

func runConsDelete(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium delete", flag.ContinueOnError)
	tbl := fs.String("table", "kv", "the application table")
	pos, err := parseN(fs, args, 2, 2, "the network and the key")
	if err != nil {
		return err
	}
	r, err := e.svc.ConsortiumDelete(ctx, pos[0], *tbl, pos[1])
	return show(e, r, err, func(w io.Writer) {
		fmt.Fprintf(w, "Deleted; committed as transaction %d (raft index %d).\n", r.Seqno, r.Index)
	})
}

func runConsRange(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("consortium range", flag.ContinueOnError)
	tbl := fs.String("table", "kv", "the application table")
	from := fs.String("from", "", "the first key (inclusive); a previous page's `next` continues it")
	to := fs.String("to", "", "the key to stop before (exclusive); none: to the end")
	limit := fs.Int("limit", 100, "at most this many keys (up to 1000)")
	pos, err := parseN(fs, args, 1, 2, "the network (and a key prefix)")
	if err != nil {
		return err
	}
	req := api.ConsortiumRangeRequest{From: *from, To: *to, Limit: *limit}
	if len(pos) == 2 {
		req.Prefix = pos[1]
	}
	r, err := e.svc.ConsortiumRange(ctx, pos[0], *tbl, req)
	return show(e, r, err, func(w io.Writer) {
		table(w, r.Items, "No keys.", "KEY\tVERSION\tVALUE", func(tw io.Writer, kv api.ConsortiumKV) {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", kv.Key, kv.Version, kv.Value)
		})
		if r.Next != "" {
			fmt.Fprintf(w, "More: coco consortium range %s", strings.Join(pos, " "))
			fmt.Fprintf(w, " --table %s --from %q --limit %d", *tbl, r.Next, *limit)
			if *to != "" {
				fmt.Fprintf(w, " --to %q", *to)
			}
			fmt.Fprintln(w)
		}
	})
}

func runConsWithdraw(ctx context.Context, e *env, args []string) error {
	p, err := e.svc.ConsortiumWithdraw(ctx, args[0], args[1])
	return show(e, p, err, func(w io.Writer) { fmt.Fprintf(w, "Proposal %s is %s.\n", p.ID, p.State) })
}

// runConsRecovery is `coco consortium recovery share|submit|status`.
func runConsRecovery(ctx context.Context, e *env, args []string) error {
	if wantsHelp(args) {
		fs := flag.NewFlagSet("consortium recovery", flag.ContinueOnError)
		fs.String("out", "", "share: write the share to this file (mode 0600) instead of stdout")
		_, err := parse(fs, []string{"--help"})
		return err
	}
	if len(args) < 2 {
		return usagef("give share, submit or status, and the network")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "share":
		fs := flag.NewFlagSet("consortium recovery share", flag.ContinueOnError)
		out := fs.String("out", "", "write the share to this file (mode 0600) instead of stdout")
		pos, err := parseN(fs, args, 1, 1, "the network")
		if err != nil {
			return err
		}
		s, err := e.svc.ConsortiumRecoveryShare(ctx, pos[0])
		if err != nil {
			return err
		}
		if *out == "" {
			return e.output(s, func(w io.Writer) {
				b, _ := json.Marshal(s)
				fmt.Fprintf(w, "%s\nThis is your recovery share: keep it secret; give it to a node with `coco consortium recovery submit NET FILE`.\n", b)
			})
		}
		b, _ := json.Marshal(s)
		if err := os.WriteFile(*out, append(b, '\n'), 0o600); err != nil {
			return err
		}
		return e.output(struct {
			Member string `json:"member"`
			File   string `json:"file"`
		}{s.Member, *out}, func(w io.Writer) {
			fmt.Fprintf(w, "Your recovery share is in %s: keep it secret.\n", *out)
		})
	case "submit":
		pos, err := parseN(flag.NewFlagSet("consortium recovery submit", flag.ContinueOnError), args, 2, 2, "the network and the share file")
		if err != nil {
			return err
		}
		b, err := os.ReadFile(pos[1])
		if err != nil {
			return err
		}
		var s api.ConsortiumShare
		if err := json.Unmarshal(b, &s); err != nil || s.Member == "" {
			return fmt.Errorf("%s: not a share of `coco consortium recovery share`", pos[1])
		}
		st, err := e.svc.ConsortiumRecoverySubmit(ctx, pos[0], s)
		return show(e, st, err, func(w io.Writer) { printRecovery(w, st) })
	case "status":
		pos, err := parseN(flag.NewFlagSet("consortium recovery status", flag.ContinueOnError), args, 1, 1, "the network")
		if err != nil {
			return err
		}
		st, err := e.svc.ConsortiumRecoveryStatus(ctx, pos[0])
		return show(e, st, err, func(w io.Writer) { printRecovery(w, st) })
	}
	return usagef("unknown recovery command %q: use share, submit or status", sub)
}

func printRecovery(w io.Writer, st api.ConsortiumRecovery) {
	if st.Open {
		fmt.Fprintln(w, "This node holds the ledger secret: private tables are open.")
		return
	}
	fmt.Fprintf(w, "Private tables are closed: %d of %d shares needed (of %d members' shares) are in.\n", len(st.Submitted), st.Threshold, st.Members)
	for _, m := range st.Submitted {
		fmt.Fprintf(w, "  share of %s\n", m)
	}
}

func runConsRekey(ctx context.Context, e *env, args []string) error {
	p, err := e.svc.ConsortiumRekey(ctx, args[0])
	return show(e, p, err, func(w io.Writer) {
		fmt.Fprintf(w, "Rekey proposal %s is %s.\nOnce accepted, members take their new shares with: coco consortium recovery share %s\n", p.ID, p.State, args[0])
	})
}
