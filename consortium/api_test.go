package consortium

import (
	"bytes"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type apiClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newAPI(t *testing.T, c *cluster, n *Node) string {
	t.Helper()
	tc, err := n.ServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(APIHandler(n))
	srv.TLS = tc
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the test
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL
}

func client(t *testing.T, base string, m *Member, nodeKey ed25519.PublicKey) *apiClient {
	tr := &http.Transport{TLSClientConfig: ClientTLS(m, nodeKey)}
	t.Cleanup(tr.CloseIdleConnections)
	return &apiClient{t, base, &http.Client{Transport: tr}}
}

func (a *apiClient) do(method, path string, body []byte) (int, []byte, http.Header) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.base+path, bytes.NewReader(body))
	resp, err := a.hc.Do(req)
	if err != nil {
		return 0, []byte(err.Error()), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func TestAPIOverMutualTLS(t *testing.T) {
	c := newCluster(t, 3, 2)
	n := c.leader()
	base := newAPI(t, c, n)
	nodeKey := c.keys[n.ID()].Public().(ed25519.PublicKey)
	alice := client(t, base, c.members[0], nodeKey)

	// A member puts, gets, ranges, transacts and deletes.
	code, body, _ := alice.do("PUT", "/app/kv/accounts/alice", []byte("100"))
	if code != 200 {
		t.Fatalf("PUT = %d %s", code, body)
	}
	var s seqnoJSON
	json.Unmarshal(body, &s)
	code, body, hdr := alice.do("GET", "/app/kv/accounts/alice", nil)
	if code != 200 || string(body) != "100" || hdr.Get("Consortium-Version") != fmt.Sprint(s.Seqno) {
		t.Fatalf("GET = %d %q version %s, want 200 100 %d", code, body, hdr.Get("Consortium-Version"), s.Seqno)
	}
	tx, _ := json.Marshal(txJSON{Reads: []Read{{Table: "accounts", Key: []byte("alice"), Version: s.Seqno - 1}}, Writes: []Write{{Table: "accounts", Key: []byte("bob"), Value: []byte("1")}}})
	if code, body, _ = alice.do("POST", "/app/tx", tx); code != http.StatusConflict {
		t.Fatalf("POST /app/tx with a stale read = %d %s, want 409", code, body)
	}
	tx, _ = json.Marshal(txJSON{Reads: []Read{{Table: "accounts", Key: []byte("alice"), Version: s.Seqno}}, Writes: []Write{{Table: "accounts", Key: []byte("bob"), Value: []byte("1")}}})
	if code, body, _ = alice.do("POST", "/app/tx", tx); code != 200 {
		t.Fatalf("POST /app/tx = %d %s", code, body)
	}
	code, body, _ = alice.do("GET", "/app/kv/accounts?from=a", nil)
	var kvs []kvJSON
	json.Unmarshal(body, &kvs)
	if code != 200 || len(kvs) != 2 || kvs[1].Key != "bob" {
		t.Fatalf("GET range = %d %s", code, body)
	}

	// A receipt fetched over the API verifies offline.
	code, body, _ = alice.do("GET", fmt.Sprint("/receipts/", s.Seqno), nil)
	var rc Receipt
	if err := json.Unmarshal(body, &rc); code != 200 || err != nil {
		t.Fatalf("GET receipt = %d %s", code, body)
	}
	if err := VerifyReceipt(&rc, nodeKey); err != nil {
		t.Fatalf("VerifyReceipt(API receipt) = %v", err)
	}

	// Governance: add a participant by signed proposal and ballots over REST.
	carol := issue(t, c.ca, "carol", false)
	req, _ := c.members[0].Propose(c.gid(), Action{Kind: ActAddParticipant, Cert: carol.Cert})
	rb, _ := json.Marshal(req)
	code, body, _ = alice.do("POST", "/gov/requests", rb)
	var p ProposalInfo
	json.Unmarshal(body, &p)
	if code != 200 || p.State != StateOpen {
		t.Fatalf("POST proposal = %d %s", code, body)
	}
	for _, m := range c.members {
		b, _ := m.Ballot(c.gid(), p.ID, true)
		rb, _ = json.Marshal(b)
		code, body, _ = alice.do("POST", "/gov/requests", rb) // ballots are signed: any member may carry them
		if code != 200 {
			t.Fatalf("POST ballot = %d %s", code, body)
		}
	}
	code, body, _ = alice.do("GET", "/gov/proposals/"+p.ID, nil)
	json.Unmarshal(body, &p)
	if code != 200 || p.State != StateAccepted {
		t.Fatalf("GET proposal = %d %s, want accepted", code, body)
	}

	// The participant transacts but may not govern.
	cc := client(t, base, carol, nodeKey)
	if code, body, _ = cc.do("PUT", "/app/kv/orders/o1", []byte("x")); code != 200 {
		t.Fatalf("participant PUT = %d %s", code, body)
	}
	b, _ := c.members[0].Ballot(c.gid(), p.ID, true)
	rb, _ = json.Marshal(b)
	if code, body, _ = cc.do("POST", "/gov/requests", rb); code != http.StatusForbidden {
		t.Fatalf("participant POST /gov/requests = %d %s, want 403", code, body)
	}
	if code, body, _ = cc.do("PUT", "/app/kv/gov.members/x", []byte("x")); code != http.StatusForbidden {
		t.Fatalf("participant PUT into gov.members = %d %s, want 403", code, body)
	}

	// A stranger with a throwaway certificate, and a client without one.
	stranger := client(t, base, issue(t, nil, "stranger", true), nodeKey)
	if code, body, _ = stranger.do("GET", "/app/kv/accounts/alice", nil); code != http.StatusForbidden {
		t.Fatalf("stranger GET = %d %s, want 403", code, body)
	}
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := bare.Get(base + "/app/kv/accounts/alice"); err == nil {
		resp.Body.Close()
		t.Fatalf("GET without a client certificate = %d, want a TLS failure", resp.StatusCode)
	}
	// A client pinned to another node's key refuses this node.
	wrong := client(t, base, c.members[0], c.keys[n.ID()%3+1].Public().(ed25519.PublicKey))
	if code, body, _ = wrong.do("GET", "/app/kv/accounts/alice", nil); code != 0 || !strings.Contains(string(body), "node key") {
		t.Fatalf("client pinned to another node: %d %s, want a TLS failure", code, body)
	}
}
