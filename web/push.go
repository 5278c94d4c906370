package web

import (
	"net/http"
	"sort"

	"github.com/coconet/coconet/api"
)

// The push server's page: the nodes named push servers, the account keys,
// and per account the tree of ids (groups), the mesh routers and the
// aliases, each editable with the same PushChange the CLI sends.

// pushNode is an id of the tree with its children.
type pushNode struct {
	ID       string
	Parent   string
	Children []*pushNode
}

// pushAccount is one account's tree, routers and aliases, and every id
// it names (for the pickers).
type pushAccount struct {
	Name    string
	Roots   []*pushNode
	Routers []api.PushRouter
	Aliases []api.PushAlias
	IDs     []string
}

type pushData struct {
	Servers    []api.PushServer
	ServersErr string
	Keys       []api.PushKey
	KeysErr    string
	Accounts   []pushAccount
}

func (s *Server) push(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": push server"
	ctx, id := r.Context(), v.Net.ID.String()
	recs, err := s.svc.PushRecords(ctx, id, "")
	if err != nil {
		return err
	}
	d := &pushData{Accounts: pushAccounts(recs)}
	v.Data = d
	if d.Servers, err = s.svc.PushServers(ctx, id); err != nil {
		d.ServersErr = err.Error()
	}
	if d.Keys, err = s.svc.PushKeys(ctx, id); err != nil {
		d.KeysErr = err.Error() // only admins read them
	}
	return nil
}

// pushAccounts sorts the records by account, the default account ("main")
// always there, and builds each account's tree.
func pushAccounts(recs api.PushRecords) []pushAccount {
	by := map[string]*pushAccount{}
	acct := func(name string) *pushAccount {
		if name == "" {
			name = "main"
		}
		a := by[name]
		if a == nil {
			a = &pushAccount{Name: name}
			by[name] = a
		}
		return a
	}
	acct("main")
	nodes := map[[2]string]*pushNode{}
	node := func(account, id string) *pushNode {
		k := [2]string{account, id}
		if nodes[k] == nil {
			nodes[k] = &pushNode{ID: id}
		}
		return nodes[k]
	}
	for _, g := range recs.Groups {
		a := acct(g.Account)
		n := node(a.Name, g.ID)
		n.Parent = g.Parent
	}
	for _, g := range recs.Groups { // a parent with no entry of its own is a root
		if g.Parent != "" {
			node(acct(g.Account).Name, g.Parent)
		}
	}
	for k, n := range nodes {
		a := by[k[0]]
		if p := nodes[[2]string{k[0], n.Parent}]; n.Parent != "" && p != nil && !ancestor(nodes, k[0], n, p) {
			p.Children = append(p.Children, n)
		} else {
			n.Parent = ""
			a.Roots = append(a.Roots, n)
		}
	}
	for _, rt := range recs.Routers {
		a := acct(rt.Account)
		a.Routers = append(a.Routers, rt)
	}
	for _, al := range recs.Aliases {
		a := acct(al.Account)
		a.Aliases = append(a.Aliases, al)
	}
	var out []pushAccount
	for _, a := range by {
		ids := map[string]bool{}
		for k := range nodes {
			if k[0] == a.Name {
				ids[k[1]] = true
			}
		}
		for _, rt := range a.Routers {
			for _, id := range rt.IDs {
				ids[id] = true
			}
		}
		for _, al := range a.Aliases {
			ids[al.ID] = true
		}
		for id := range ids {
			a.IDs = append(a.IDs, id)
		}
		sort.Strings(a.IDs)
		sortNodes(a.Roots)
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Name == "main") != (out[j].Name == "main") {
			return out[i].Name == "main"
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ancestor is true when n is p or above it: a cycle the ledger should
// not hold, drawn as a root rather than lost.
func ancestor(nodes map[[2]string]*pushNode, account string, n, p *pushNode) bool {
	for seen := 0; p != nil && seen <= len(nodes); seen++ {
		if p == n {
			return true
		}
		if p.Parent == "" {
			return false
		}
		p = nodes[[2]string{account, p.Parent}]
	}
	return p != nil
}

func sortNodes(ns []*pushNode) {
	sort.Slice(ns, func(i, j int) bool { return ns[i].ID < ns[j].ID })
	for _, n := range ns {
		sortNodes(n.Children)
	}
}
