package consortium

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"time"
)

// The REST API, CCF's model: clients are members and participants that
// authenticate with their X.509 certificate over mutually authenticated TLS;
// the node is authenticated by its Ed25519 key from the node table.
//
//	POST   /app/tx                  {"reads":[...],"writes":[...]} -> {"seqno":N}
//	PUT    /app/kv/{table}/{key}    body = value                   -> {"seqno":N}
//	DELETE /app/kv/{table}/{key}                                   -> {"seqno":N}
//	GET    /app/kv/{table}/{key}    -> value, header Consortium-Version
//	GET    /app/kv/{table}?prefix=&from=&to=&limit=                -> [{"key","value","version"}], header Consortium-Next

//	POST   /gov/requests            SignedRequest (JSON)           -> ProposalInfo (members only)
//	GET    /gov/proposals/{id}                                     -> ProposalInfo
//	GET    /receipts/{seqno}                                       -> Receipt
//	POST   /gov/recovery/shares     body = the caller's opened share -> RecoveryState (members only)
//	GET    /gov/recovery                                           -> RecoveryState
//
// Keys in paths are UTF-8 strings; JSON carries bytes as base64. Errors are
// {"error": "..."} with 400 (bad request), 403 (forbidden, not a member),
// 404 (not found), 409 (conflict, already voted, not open, duplicate) or 503.

// maxBody bounds a request body.
const maxBody = 4 << 20

// APIHandler serves the consortium's REST API through n. Use it with a
// tls.Config from ServerTLS: the client certificate is the caller.
func APIHandler(n *Node) http.Handler {
	mux := http.NewServeMux()
	a := &api{n: n}
	mux.HandleFunc("POST /app/tx", a.caller(false, a.tx))
	mux.HandleFunc("PUT /app/kv/{table}/{key}", a.caller(false, a.putKey))
	mux.HandleFunc("DELETE /app/kv/{table}/{key}", a.caller(false, a.deleteKey))
	mux.HandleFunc("GET /app/kv/{table}/{key}", a.caller(false, a.getKey))
	mux.HandleFunc("GET /app/kv/{table}", a.caller(false, a.rangeKeys))
	mux.HandleFunc("POST /gov/requests", a.caller(true, a.govern))
	mux.HandleFunc("GET /gov/proposals/{id}", a.caller(false, a.proposal))
	mux.HandleFunc("GET /receipts/{seqno}", a.caller(false, a.receipt))
	mux.HandleFunc("POST /gov/recovery/shares", a.caller(true, a.submitShare))
	mux.HandleFunc("GET /gov/recovery", a.caller(false, a.recovery))
	return mux
}

type api struct{ n *Node }

type callerFunc func(w http.ResponseWriter, r *http.Request, caller string)

// caller admits a request whose TLS client certificate is a current member
// (or participant, unless membersOnly) in this node's applied state, valid
// now. The state machine checks the caller again at the transaction's place
// in the order.
func (a *api) caller(membersOnly bool, h callerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			writeErr(w, fmt.Errorf("%w: no client certificate", ErrForbidden))
			return
		}
		cert := r.TLS.PeerCertificates[0]
		id := CertID(cert.Raw)
		c := a.n.st.cons.Load()
		stored, member := c.Members[id]
		if !member {
			stored = c.Participants[id]
		}
		if stored == nil || (membersOnly && !member) || !bytes.Equal(stored, cert.Raw) {
			writeErr(w, fmt.Errorf("%w: certificate %.16s is not a %s", ErrForbidden, id, map[bool]string{true: "member", false: "member or participant"}[membersOnly]))
			return
		}
		if now := time.Now(); now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
			writeErr(w, fmt.Errorf("%w: certificate expired or not yet valid", ErrForbidden))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		h(w, r, id)
	}
}

func status(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, ErrBadSignature), errors.Is(err, ErrWrongConsortium), errors.Is(err, ErrBadShares):
		return http.StatusBadRequest
	case errors.Is(err, ErrForbidden), errors.Is(err, ErrNotMember), errors.Is(err, ErrNotProposer):
		return http.StatusForbidden
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrUnknownProposal):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, ErrAlreadyVoted), errors.Is(err, ErrNotOpen), errors.Is(err, ErrDuplicate):
		return http.StatusConflict
	}
	return http.StatusServiceUnavailable
}

func writeErr(w http.ResponseWriter, err error) {
	writeJSON(w, status(err), map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func reqCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 30*time.Second)
}

type seqnoJSON struct {
	Seqno uint64 `json:"seqno"`
}

type txJSON struct {
	Reads  []Read  `json:"reads"`
	Writes []Write `json:"writes"`
}

func (a *api) tx(w http.ResponseWriter, r *http.Request, caller string) {
	var in txJSON
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	a.transact(w, r, Txn{Caller: caller, Reads: in.Reads, Writes: in.Writes})
}

func (a *api) transact(w http.ResponseWriter, r *http.Request, txn Txn) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := a.n.Transact(ctx, txn)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, seqnoJSON{res.Seqno})
}

func (a *api) putKey(w http.ResponseWriter, r *http.Request, caller string) {
	v, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	a.transact(w, r, Txn{Caller: caller, Writes: []Write{{Table: r.PathValue("table"), Key: []byte(r.PathValue("key")), Value: v}}})
}

func (a *api) deleteKey(w http.ResponseWriter, r *http.Request, caller string) {
	a.transact(w, r, Txn{Caller: caller, Writes: []Write{{Table: r.PathValue("table"), Key: []byte(r.PathValue("key")), Delete: true}}})
}

func (a *api) getKey(w http.ResponseWriter, r *http.Request, _ string) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	v, ver, err := a.n.Get(ctx, r.PathValue("table"), []byte(r.PathValue("key")))
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Consortium-Version", strconv.FormatUint(ver, 10))
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(v)
}

type kvJSON struct {
	Key     string `json:"key"`
	Value   []byte `json:"value"`
	Version uint64 `json:"version"`
}

func (a *api) rangeKeys(w http.ResponseWriter, r *http.Request, _ string) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	q := r.URL.Query()
	var to []byte
	if q.Has("to") {
		to = []byte(q.Get("to"))
	}
	from := []byte(q.Get("from"))
	if p := q.Get("prefix"); p != "" {
		if len(from) == 0 || string(from) < p {
			from = []byte(p)
		}
		to = PrefixEnd([]byte(p))
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	kvs, err := a.n.Range(ctx, r.PathValue("table"), from, to, limit+1)
	if err != nil {
		writeErr(w, err)
		return
	}
	if len(kvs) > limit {
		w.Header().Set("Consortium-Next", string(kvs[limit].Key))
		kvs = kvs[:limit]
	}
	out := make([]kvJSON, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, kvJSON{string(kv.Key), kv.Value, kv.Version})
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *api) govern(w http.ResponseWriter, r *http.Request, _ string) {
	var req SignedRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeErr(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	res, err := a.n.Govern(ctx, &req)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res.Proposal)
}

func (a *api) proposal(w http.ResponseWriter, r *http.Request, _ string) {
	ctx, cancel := reqCtx(r)
	defer cancel()
	p, err := a.n.Proposal(ctx, r.PathValue("id"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (a *api) receipt(w http.ResponseWriter, r *http.Request, _ string) {
	seq, err := strconv.ParseUint(r.PathValue("seqno"), 10, 64)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: seqno", ErrBadRequest))
		return
	}
	ctx, cancel := reqCtx(r)
	defer cancel()
	rc, err := a.n.Receipt(ctx, seq)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rc)
}

// ServerTLS is the node's TLS configuration for the API: a certificate for
// its Ed25519 node key (clients pin it from the node table) and a required
// client certificate, checked against the constitution by the handler.
func (n *Node) ServerTLS() (*tls.Config, error) {
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(n.cfg.ID), Subject: pkix.Name{CommonName: fmt.Sprintf("consortium node %d", n.cfg.ID)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, n.cfg.Key.Public(), n.cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("consortium: node certificate: %w", err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: n.cfg.Key}},
		ClientAuth:   tls.RequireAnyClientCert,
		MinVersion:   tls.VersionTLS13,
	}, nil
}

// ClientTLS is a member's or participant's TLS configuration: its
// certificate, and a server check that the node presents nodeKey (from the
// validating-node table).
func ClientTLS(m *Member, nodeKey ed25519.PublicKey) *tls.Config {
	return &tls.Config{
		Certificates:       []tls.Certificate{{Certificate: [][]byte{m.Cert}, PrivateKey: m.Key}},
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("consortium: node presented no certificate")
			}
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return err
			}
			if k, ok := c.PublicKey.(ed25519.PublicKey); !ok || !k.Equal(nodeKey) {
				return errors.New("consortium: node key is not the node table's")
			}
			return nil
		},
		MinVersion: tls.VersionTLS13,
	}
}

func (a *api) submitShare(w http.ResponseWriter, r *http.Request, caller string) {
	share, err := io.ReadAll(r.Body)
	if err != nil {
		writeErr(w, fmt.Errorf("%w: %v", ErrBadRequest, err))
		return
	}
	st, err := a.n.SubmitShare(caller, share)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *api) recovery(w http.ResponseWriter, r *http.Request, _ string) {
	writeJSON(w, http.StatusOK, a.n.RecoveryStatus())
}

// PrefixEnd is the first key after every key that starts with p (nil: no
// end, when p is all 0xff bytes or empty).
func PrefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
