package gateway

import (
	"encoding/json"
	"errors"
	"html"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// HTTP on the device port (P2Pcluster dialect), as the original: a
// connection whose first command starts with "GET " is an HTTP request.
// The routes read and edit the groups and routers of the account whose
// key is KEY=, or run one command (GET /TCP:<command>). The answer is the
// original's HTML envelope, or JSON with "Accept: application/json"; the
// connection closes after it.

// maxHTTPHeaders bounds the header lines of a request.
const maxHTTPHeaders = 64

// httpReq is a request whose header lines are still coming.
type httpReq struct {
	target  string
	json    bool
	headers int
}

// errNoEdit: the server has no way to write the directory.
var errNoEdit = errors.New("gateway: this push server cannot write the groups; run it on an admin's node")

// httpStart takes the request line "GET <target> [HTTP/x.y]". Without a
// version (typed in a raw terminal) it answers at once.
func (c *conn) httpStart(line []byte) {
	f := strings.Fields(string(line))
	if len(f) < 2 {
		c.httpRespond("/", false)
		return
	}
	if len(f) < 3 {
		c.httpRespond(f[1], false)
		return
	}
	c.http = &httpReq{target: f[1]}
}

// httpHeader takes one header line; the empty line ends the request.
func (c *conn) httpHeader(line []byte) {
	r := c.http
	if len(line) == 0 || r.headers >= maxHTTPHeaders {
		c.http = nil
		c.httpRespond(r.target, r.json)
		return
	}
	r.headers++
	name, val, _ := strings.Cut(string(line), ":")
	if strings.EqualFold(strings.TrimSpace(name), "Accept") && strings.Contains(strings.ToLower(val), "application/json") {
		r.json = true
	}
}

// httpRespond answers target and closes the connection.
func (c *conn) httpRespond(target string, asJSON bool) {
	body, data := c.httpRoute(target)
	s := c.s
	var resp string
	if asJSON {
		if data == nil {
			data = map[string]any{"result": body}
		}
		b, _ := json.Marshal(data)
		resp = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(b)) + "\r\n\r\n" + string(b)
	} else {
		now := s.Now()
		msg := strings.ReplaceAll(body, "\n", "<br>") + " [" + now.Format("02.01.2006_15:04:05") + "]"
		page := "<html><body>" + msg + "</body></html>"
		resp = "HTTP/1.0 200 OK\nServer: HTTP server/0.1\nDate: " + now.Format("Mon, 2 Jan 2006 15:04:05 MST") +
			"\nContent-type: text/html; charset=UTF-8\nContent-Length: " + strconv.Itoa(len(page)) + "\n\n" + page
	}
	c.replyLine([]byte(resp))
	c.finish()
}

// httpRoute runs a request and returns the answer's text and, for JSON,
// its structure (nil: {"result": text}).
func (c *conn) httpRoute(target string) (string, any) {
	s := c.s
	path, rawq, _ := strings.Cut(strings.TrimPrefix(target, "/"), "?")
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	if len(path) >= 4 && strings.EqualFold(path[:4], "TCP:") {
		// Replies may hold a device's data (RETDATA): escaped, so that
		// a device cannot put script into the key holder's browser.
		return html.EscapeString(c.httpCommand(path)), nil
	}
	q := map[string]string{}
	for _, kv := range strings.Split(rawq, "&") {
		k, v, _ := strings.Cut(kv, "=")
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		q[strings.ToUpper(k)] = v
	}
	account, _, ok := s.lookupKey(q["KEY"])
	if !ok {
		return "ERROR! Invalid KEY", nil
	}
	// Names the directory knows are matched whatever their case; new
	// names are written as given.
	known := func(v string) string {
		if f, ok := s.Dir.(Folder); ok {
			if n, ok := f.FoldID(account, v); ok {
				return n
			}
		}
		return v
	}
	id := func(k string) string { return known(q[k]) }
	ro := func() string {
		if f, ok := s.Dir.(Folder); ok {
			if n, ok := f.FoldRouter(account, q["ROID"]); ok {
				return n
			}
		}
		return q["ROID"]
	}
	edit := func(cs ...Change) string {
		for _, ch := range cs {
			ch.Account = account
			if err := s.edit(ch); err != nil {
				return "ERROR! " + err.Error()
			}
		}
		return ""
	}
	switch route := strings.ToUpper(path); route {
	case "GETTREE":
		return s.treeText(account, id("NODE"))
	case "DEPTH":
		d := s.depth(account)
		return strconv.Itoa(d), map[string]any{"depth": d}
	case "PARENT":
		p, ok := s.Dir.Parent(account, id("NODE"))
		if !ok {
			p = "ROOT"
		}
		return p, map[string]any{"parent": p}
	case "CHILD":
		var ch []string
		if q["NODE"] == "" || strings.EqualFold(q["NODE"], "ROOT") {
			ch = s.Dir.Roots(account)
		} else {
			ch = s.Dir.Children(account, id("NODE"))
		}
		return strings.Join(ch, ","), map[string]any{"children": nonNil(ch)}
	case "ADDNODE", "DELNODE", "UPDATENODE":
		var err string
		switch {
		case route == "ADDNODE" && q["PNODE"] == "":
			err = "INVALID FORMAT"
		case route == "ADDNODE" && q["NODE"] == "":
			err = edit(Change{Op: ChangeSetParent, ID: q["PNODE"]})
		case route == "ADDNODE":
			err = edit(Change{Op: ChangeSetParent, ID: q["NODE"], Parent: id("PNODE")})
		case route == "DELNODE":
			err = edit(s.removeSubtree(account, id("NODE"))...)
		default:
			err = edit(s.renameNode(account, id("PNODE"), q["NODE"])...)
		}
		if err != "" {
			return err, nil
		}
		return s.treeText(account, "")
	case "GETINTROUTER":
		return s.routersText(account)
	case "ADDINTROUTER", "DELINTROUTER", "ADDNODEINTROUTER", "DELNODEINTROUTER":
		if q["ROID"] == "" {
			return "INVALID FORMAT", nil
		}
		var cs []Change
		switch route {
		case "ADDINTROUTER":
			cs = []Change{{Op: ChangeAddRouter, Name: q["ROID"]}}
		case "DELINTROUTER":
			cs = []Change{{Op: ChangeRemoveRouter, Name: ro()}}
		case "ADDNODEINTROUTER":
			r := ro()
			if _, ok := s.Dir.Router(account, r); !ok {
				r = q["ROID"]
				cs = append(cs, Change{Op: ChangeAddRouter, Name: r})
			}
			for _, n := range strings.Split(q["NOID"], ",") {
				cs = append(cs, Change{Op: ChangeAttach, Name: r, ID: known(n)})
			}
		default:
			for _, n := range strings.Split(q["NOID"], ",") {
				cs = append(cs, Change{Op: ChangeDetach, Name: ro(), ID: known(n)})
			}
		}
		if err := edit(cs...); err != "" {
			return err, nil
		}
		return s.routersText(account)
	case "ADMIN":
		if _, live := q["LIVE"]; !live {
			return "INVALID FORMAT", nil
		}
		ids := s.liveIDs(account)
		var b strings.Builder
		for _, id := range ids {
			b.WriteString("[" + strings.ToUpper(id) + "]")
		}
		return b.String(), map[string]any{"live": nonNil(ids)}
	}
	return p2pUnknown, nil
}

// httpCommand runs one command of GET /TCP:<command> as this connection
// and returns its reply.
func (c *conn) httpCommand(cmd string) string {
	var out []byte
	c.rmu.Lock()
	c.capture = &out
	c.rmu.Unlock()
	c.handleP2P([]byte(cmd))
	c.waitSlots()
	c.rmu.Lock()
	c.capture = nil
	c.rmu.Unlock()
	return string(out)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// edit writes a change of the groups or routers.
func (s *Server) edit(c Change) error {
	if s.Edit != nil {
		return s.Edit(c)
	}
	if m, ok := s.Dir.(*MemDirectory); ok {
		return m.apply(c)
	}
	return errNoEdit
}

// subtree returns id and its descendants, parents before children.
func (s *Server) subtree(account, id string) []string {
	out := []string{id}
	seen := map[string]bool{id: true}
	for i := 0; i < len(out) && len(out) < maxGroup; i++ {
		for _, ch := range s.Dir.Children(account, out[i]) {
			if !seen[ch] {
				seen[ch] = true
				out = append(out, ch)
			}
		}
	}
	return out
}

// removeSubtree is the changes that take id and its subtree out of the
// tree, children first.
func (s *Server) removeSubtree(account, id string) []Change {
	ids := s.subtree(account, id)
	var cs []Change
	for i := len(ids) - 1; i >= 0; i-- {
		if _, ok := s.Dir.Parent(account, ids[i]); ok || slices.Contains(s.Dir.Roots(account), ids[i]) {
			cs = append(cs, Change{Op: ChangeUngroup, ID: ids[i]})
		}
	}
	return cs
}

// renameNode is the changes that put id new in old's place in the tree.
func (s *Server) renameNode(account, old, new string) []Change {
	p, _ := s.Dir.Parent(account, old)
	cs := []Change{{Op: ChangeSetParent, ID: new, Parent: p}}
	for _, ch := range s.Dir.Children(account, old) {
		cs = append(cs, Change{Op: ChangeSetParent, ID: ch, Parent: new})
	}
	return append(cs, Change{Op: ChangeUngroup, ID: old})
}

// depth is the number of levels of the account's tree.
func (s *Server) depth(account string) int {
	d := 0
	level := s.Dir.Roots(account)
	seen := map[string]bool{}
	for len(level) > 0 && d < maxGroup {
		d++
		var next []string
		for _, id := range level {
			if !seen[id] {
				seen[id] = true
				next = append(next, s.Dir.Children(account, id)...)
			}
		}
		level = next
	}
	return d
}

// treeText is GETTREE's answer: "{id|id|…}" then one line
// "parent->child,child" per parent (the account's name stands for the
// parent of the roots), from node if not "".
func (s *Server) treeText(account, node string) (string, any) {
	var tops []string
	var ids []string
	children := map[string][]string{}
	if node == "" {
		tops = s.Dir.Roots(account)
		children[account] = tops
		ids = append(ids, tops...)
	} else {
		tops = []string{node}
	}
	order := []string{}
	if node == "" && len(tops) > 0 {
		order = append(order, account)
	}
	for _, t := range tops {
		sub := s.subtree(account, t)
		if node != "" {
			sub = sub[1:]
			ids = append(ids, sub...)
			sub = append([]string{t}, sub...)
		} else {
			ids = append(ids, sub[1:]...)
		}
		for _, id := range sub {
			if ch := s.Dir.Children(account, id); len(ch) > 0 {
				children[id] = ch
				order = append(order, id)
			}
		}
	}
	var b strings.Builder
	if len(ids) > 0 {
		b.WriteString("{" + strings.Join(ids, "|") + "}\n")
	}
	for _, p := range order {
		b.WriteString(p + "->" + strings.Join(children[p], ",") + "\n")
	}
	return b.String(), map[string]any{"ids": nonNil(ids), "children": children}
}

// routerLister is a Directory that lists its routers.
type routerLister interface {
	Routers(account string) []string
}

// routersText is GETINTROUTER's answer: one line "router->id,id" each.
func (s *Server) routersText(account string) (string, any) {
	rl, ok := s.Dir.(routerLister)
	if !ok {
		return "", map[string]any{"routers": map[string][]string{}}
	}
	var b strings.Builder
	m := map[string][]string{}
	for _, r := range rl.Routers(account) {
		ids, _ := s.Dir.Router(account, r)
		m[r] = nonNil(ids)
		b.WriteString(r + "->" + strings.Join(ids, ",") + "\n")
	}
	return b.String(), map[string]any{"routers": m}
}

// liveIDs lists the ids of account connected here, sorted.
func (s *Server) liveIDs(account string) []string {
	s.mu.Lock()
	var ids []string
	for k := range s.ids {
		if k.account == account {
			ids = append(ids, k.id)
		}
	}
	s.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Routers lists the routers of account, sorted.
func (m *MemDirectory) Routers(account string) []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	acc := m.read(account)
	if acc == nil {
		return nil
	}
	var out []string
	for r := range acc.routers {
		out = append(out, r)
	}
	slices.Sort(out)
	return out
}

// Routers lists the routers of account, sorted.
func (s *LedgerStore) Routers(account string) []string {
	var out []string
	for k := range s.index().routers {
		if k.account == account {
			out = append(out, k.id)
		}
	}
	slices.Sort(out)
	return out
}

// apply makes a Change to the in-memory directory.
func (m *MemDirectory) apply(c Change) error {
	switch c.Op {
	case ChangeSetParent:
		return m.SetParent(c.Account, c.ID, c.Parent)
	case ChangeAddRouter:
		m.AddRouter(c.Account, c.Name)
		return nil
	case ChangeAttach:
		return m.Attach(c.Account, c.Name, c.ID)
	case ChangeSetAlias:
		m.SetAlias(c.Account, c.Name, c.ID)
		return nil
	case ChangeRemoveAlias:
		m.SetAlias(c.Account, c.Name, "")
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	acc := m.accountLocked(c.Account)
	switch c.Op {
	case ChangeUngroup:
		delete(acc.parent, c.ID)
	case ChangeRemoveRouter:
		delete(acc.routers, c.Name)
	case ChangeDetach:
		acc.routers[c.Name] = slices.DeleteFunc(acc.routers[c.Name], func(id string) bool { return id == c.ID })
	default:
		return errors.New("gateway: unknown change " + c.Op)
	}
	return nil
}
