package gateway

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpGet sends an HTTP request on the device port and returns the whole
// answer (the server closes after it).
func httpGet(t *testing.T, s *Server, req string) string {
	t.Helper()
	c := p2pDial(t, s, "")
	c.write(req)
	c.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c.nc)
	if err != nil {
		t.Fatalf("%q: read: %v (got %q)", req, err, b)
	}
	return string(b)
}

// page is the original's HTML answer for body at p2pNow.
func page(body string) string {
	html := "<html><body>" + body + " [03.12.2026_07:51:07]</body></html>"
	return "HTTP/1.0 200 OK\nServer: HTTP server/0.1\nDate: Thu, 3 Dec 2026 07:51:07 UTC\nContent-type: text/html; charset=UTF-8\nContent-Length: " +
		strconv.Itoa(len(html)) + "\n\n" + html
}

// TestP2PHTTP: the original's HTTP routes on the device port, authorised
// by the account key, answering its HTML envelope (or JSON); edits change
// the directory; DELNODE removes the subtree; GET /TCP:<command> runs one
// command.
func TestP2PHTTP(t *testing.T) {
	dir := &MemDirectory{}
	s := newP2PServer(t, func(s *Server) { s.Dir = dir })
	k := p2pKey
	get := func(path string) string { return httpGet(t, s, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n") }
	for _, e := range []struct{ path, body string }{
		{"/ADDNODE?KEY=" + k + "&PNODE=home", "{home}<br>alice@example.com->home<br>"},
		{"/ADDNODE?KEY=" + k + "&PNODE=home&NODE=hall", "{home|hall}<br>alice@example.com->home<br>home->hall<br>"},
		{"/addnode?key=" + strings.ToLower(k) + "&PNODE=HALL&NODE=lamp", "{home|hall|lamp}<br>alice@example.com->home<br>home->hall<br>hall->lamp<br>"},
		{"/ADDNODE?KEY=" + k + "&PNODE=hall&NODE=fan", "{home|hall|fan|lamp}<br>alice@example.com->home<br>home->hall<br>hall->fan,lamp<br>"},
		{"/GETTREE?KEY=" + k + "&NODE=hall", "{fan|lamp}<br>hall->fan,lamp<br>"},
		{"/DEPTH?KEY=" + k, "3"},
		{"/PARENT?KEY=" + k + "&NODE=LAMP", "hall"},
		{"/PARENT?KEY=" + k + "&NODE=home", "ROOT"},
		{"/CHILD?KEY=" + k + "&NODE=hall", "fan,lamp"},
		{"/UPDATENODE?KEY=" + k + "&PNODE=fan&NODE=fan2", "{home|hall|fan2|lamp}<br>alice@example.com->home<br>home->hall<br>hall->fan2,lamp<br>"},
		{"/DELNODE?KEY=" + k + "&NODE=hall", "{home}<br>alice@example.com->home<br>"},
		{"/ADDINTROUTER?KEY=" + k + "&ROID=garden", "garden-><br>"},
		{"/ADDNODEINTROUTER?KEY=" + k + "&ROID=GARDEN&NOID=l1,l2", "garden->l1,l2<br>"},
		{"/DELNODEINTROUTER?KEY=" + k + "&ROID=garden&NOID=L1", "garden->l2<br>"},
		{"/GETINTROUTER?KEY=" + k, "garden->l2<br>"},
		{"/DELINTROUTER?KEY=" + k + "&ROID=garden", ""},
		{"/GETTREE?KEY=wrong", "ERROR! Invalid KEY"},
		{"/TCP:TIME:" + k + ":+05:30", "FAIL:NOID"},
		{"/TCP:PUSH:" + k + ":RID:L2:hello%20there", "FAIL:NOID"},
	} {
		if got, want := get(e.path), page(e.body); got != want {
			t.Errorf("GET %s =\n%q\nwant\n%q", e.path, got, want)
		}
	}
	lamp := p2pRegister(t, s, "", "lamp")
	if got, want := get("/ADMIN?KEY="+k+"&LIVE"), page("[LAMP]"); got != want {
		t.Errorf("ADMIN LIVE = %q, want %q", got, want)
	}
	// GET /TCP:<command> runs one command on the request's connection.
	if got, want := httpGet(t, s, "GET /TCP:ID:"+k+":web\r\n"), page("[OK:WEB]"); got != want {
		t.Errorf("GET /TCP:ID = %q, want %q", got, want)
	}
	_ = lamp
	// JSON with Accept: application/json.
	got := httpGet(t, s, "GET /GETTREE?KEY="+k+" HTTP/1.1\r\nAccept: application/json\r\n\r\n")
	head, body, _ := strings.Cut(got, "\r\n\r\n")
	if !strings.HasPrefix(head, "HTTP/1.0 200 OK\r\nContent-Type: application/json") {
		t.Fatalf("JSON head %q", head)
	}
	var v struct {
		IDs      []string            `json:"ids"`
		Children map[string][]string `json:"children"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.IDs) != 1 || v.IDs[0] != "home" {
		t.Fatalf("JSON body %q: %v %+v", body, err, v)
	}
}

// TestP2PHTTPNoKey: without the account key nothing is read or written,
// and a server that cannot write the directory says so.
func TestP2PHTTPNoKey(t *testing.T) {
	dir := &MemDirectory{}
	dir.SetParent(p2pUser, "home", "")
	s := newP2PServer(t, func(s *Server) { s.Dir = dir })
	for _, path := range []string{"/GETTREE?KEY=x", "/DELNODE?KEY=" + p2pKey2 + "x&NODE=home", "/ADMIN?KEY=&LIVE"} {
		if got, want := httpGet(t, s, "GET "+path+" HTTP/1.0\r\n\r\n"), page("ERROR! Invalid KEY"); got != want {
			t.Errorf("GET %s = %q, want %q", path, got, want)
		}
	}
	// Another account's key sees its own (empty) tree.
	if got, want := httpGet(t, s, "GET /GETTREE?KEY="+p2pKey2+" HTTP/1.0\r\n\r\n"), page(""); got != want {
		t.Errorf("other account's GETTREE = %q, want %q", got, want)
	}
	if _, ok := dir.Parent(p2pUser, "home"); ok || len(dir.Roots(p2pUser)) != 1 {
		t.Fatalf("the tree changed: roots %v", dir.Roots(p2pUser))
	}
}
