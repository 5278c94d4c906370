package devapi

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

//go:embed openapi.yaml
var openAPI []byte

// Defaults.
const (
	DefaultMaxBody     = 64 << 10
	DefaultMaxGrants   = 256
	DefaultMaxNetworks = 10000
	maxBuckets         = 65536
	maxVerified        = 16384
)

// DefaultKeyRate and DefaultAddrRate bound one API key's requests and the
// failed requests of one source address.
var (
	DefaultKeyRate  = Rate{PerSecond: 20, Burst: 40}
	DefaultAddrRate = Rate{PerSecond: 1, Burst: 20}
)

// Backend is the control plane the API reads and acts on; *control.Server
// is one.
type Backend interface {
	Nodes(net ledger.NetworkID) []control.NodeView
	UsageOf(net ledger.NetworkID, owner identity.UserID) controlproto.Usage
	Serves(owner identity.UserID) bool
}

// Config configures a Server.
type Config struct {
	Backend Backend
	// Store keeps grants and networks; nil keeps them in memory.
	Store Store
	// KeyRate bounds each API key's requests (default DefaultKeyRate);
	// AddrRate bounds the requests of one source address (IPv6 by /64)
	// that fail to authenticate (default DefaultAddrRate).
	KeyRate, AddrRate Rate
	// MaxBody bounds a request's body (default 64 KiB).
	MaxBody int64
	// MaxGrants bounds the API keys of one network (default 256);
	// MaxNetworks the networks known to the API (default 10000).
	MaxGrants, MaxNetworks int
	// ServiceKey is the control plane's service key: the key the owner
	// delegates to (delegate_service), with which it signs auth keys,
	// revocation lists and policies. Nil: the routes that need it answer
	// 503.
	ServiceKey ed25519.PrivateKey
	// ControlAddrs are the control plane's multiaddrs, written into the
	// auth keys it mints (where their nodes register).
	ControlAddrs []string
	Logf         func(format string, args ...any)
	Now          func() time.Time
}

// Server serves the REST API.
type Server struct {
	cfg   Config
	store Store
	keys  *limiter
	addrs *limiter
	mux   *http.ServeMux

	listMu sync.Mutex // one revocation list or policy made at a time

	vmu      sync.Mutex                   // guards verified
	verified map[[32]byte]identity.UserID // grants whose signatures checked, by hash of grant and genesis

	mu   sync.Mutex // guards following fields
	hs   *http.Server
	ln   net.Listener
	done chan struct{}
}

// New prepares a Server; Handler serves it, or Listen on an address.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("devapi: no control plane (Config.Backend)")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.KeyRate.PerSecond <= 0 {
		cfg.KeyRate = DefaultKeyRate
	}
	if cfg.AddrRate.PerSecond <= 0 {
		cfg.AddrRate = DefaultAddrRate
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxGrants <= 0 {
		cfg.MaxGrants = DefaultMaxGrants
	}
	if cfg.MaxNetworks <= 0 {
		cfg.MaxNetworks = DefaultMaxNetworks
	}
	st := cfg.Store
	if st == nil {
		var err error
		if st, err = OpenFileStore("", cfg.Now); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, store: st,
		keys:  newLimiter(cfg.KeyRate, maxBuckets, cfg.Now),
		addrs: newLimiter(cfg.AddrRate, maxBuckets, cfg.Now),
		mux:   http.NewServeMux(), verified: map[[32]byte]identity.UserID{}}
	for _, r := range routes {
		s.mux.HandleFunc(r.method+" "+r.path, s.serve(r))
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, fmt.Errorf("%w: no route %s %s; see /v1/openapi.yaml", ErrNotFound, r.Method, r.URL.Path))
	})
	return s, nil
}

// Handler is the API's http.Handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen serves the API on addr (host:port), over TLS if tlsCfg is not
// nil, until Close.
func (s *Server) Listen(addr string, tlsCfg *tls.Config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("devapi: listen: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          nil,
	}
	s.mu.Lock()
	s.hs, s.ln, s.done = hs, ln, make(chan struct{})
	s.mu.Unlock()
	go func() {
		defer close(s.done)
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.cfg.Logf("devapi: serve: %v", err)
		}
	}()
	return nil
}

// Addr is the address Listen listens on.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Close stops serving; it waits for requests in flight up to 5 seconds.
// It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	hs, done := s.hs, s.done
	s.hs = nil
	s.mu.Unlock()
	if hs == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(ctx)
	if err != nil {
		hs.Close()
	}
	<-done
	return err
}

// call is one request on its way through a route.
type call struct {
	r     *http.Request
	body  []byte
	net   ledger.NetworkID
	owner identity.UserID // from the network's genesis, once known
	grant *Grant          // the API key's, on routes that take one
}

// route is one entry of the table. scope 0 means the route takes no API
// key: it is public, or its body is signed by the network's owner.
type route struct {
	method, path string
	scope        Scope
	call         func(s *Server, c *call) (status int, out any, err error)
}

// routes is the API; openapi.yaml is held to it by TestOpenAPI.
var routes = []*route{
	{"GET", "/v1/openapi.yaml", 0, nil}, // served raw in serve
	{"POST", "/v1/networks/{net}/apikeys", 0, (*Server).createAPIKey},
	{"GET", "/v1/networks/{net}/apikeys", ScopeAPIKeysRead, (*Server).listAPIKeys},
	{"DELETE", "/v1/networks/{net}/apikeys/{id}", 0, (*Server).revokeAPIKey},
	{"GET", "/v1/networks/{net}/nodes", ScopeNodesRead, (*Server).listNodes},
	{"GET", "/v1/networks/{net}/usage", ScopeUsageRead, (*Server).usage},
	{"GET", "/v1/service", 0, (*Server).service},
	{"PUT", "/v1/networks/{net}/delegation", 0, (*Server).putDelegation},
	{"POST", "/v1/networks/{net}/authkeys", ScopeAuthKeysWrite, (*Server).createAuthKey},
	{"GET", "/v1/networks/{net}/authkeys", ScopeAuthKeysRead, (*Server).listAuthKeys},
	{"DELETE", "/v1/networks/{net}/authkeys/{id}", ScopeAuthKeysWrite, (*Server).revokeAuthKey},
	{"DELETE", "/v1/networks/{net}/nodes/{node}", ScopeNodesWrite, (*Server).revokeNode},
	{"GET", "/v1/networks/{net}/acl", ScopeACLRead, (*Server).getACL},
	{"PUT", "/v1/networks/{net}/acl", ScopeACLWrite, (*Server).putACL},
}

func (s *Server) serve(rt *route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if rt.call == nil {
			w.Header().Set("Content-Type", "application/yaml")
			w.Write(openAPI)
			return
		}
		c, err := s.prepare(w, r, rt)
		if err != nil {
			if status(err) == http.StatusUnauthorized {
				// Failed authentication is charged to the source address:
				// a stranger guessing keys is slowed (and a failure costs
				// a map lookup and a hash, never a signature check), while
				// a key's own bucket cannot be drained by someone without
				// its secret, nor a valid key refused for a neighbour's
				// failures.
				if ok, wait := s.addrs.allow(sourceOf(r)); !ok {
					err = &limitedError{wait: wait, msg: "too many failed requests from this address"}
				}
			}
			s.fail(w, r, err)
			return
		}
		code, out, err := rt.call(s, c)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(out)
	}
}

// prepare reads the body (bounded), the network and, if the route takes
// one, the API key with its grant and scope.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request, rt *route) (*call, error) {
	c := &call{r: r}
	var err error
	if !strings.Contains(rt.path, "{net}") {
		// A route of no network (GET /v1/service).
	} else if c.net, err = ledger.ParseNetworkID(r.PathValue("net")); err != nil {
		return nil, fmt.Errorf("%w: %q is not a network ID (n…, from coco net list --json)", ErrMalformed, r.PathValue("net"))
	}
	if rt.scope != 0 {
		if err := s.authenticate(c, rt.scope); err != nil {
			return nil, err
		}
		if ok, wait := s.keys.allow(c.grant.ID.String()); !ok {
			return nil, &limitedError{wait: wait, msg: fmt.Sprintf("API key %s made more than %d requests in a burst (%g a second)", c.grant.ID, s.cfg.KeyRate.Burst, s.cfg.KeyRate.PerSecond)}
		}
	}
	c.body, err = io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, fmt.Errorf("%w: the body is over %d bytes", ErrTooLarge, s.cfg.MaxBody)
		}
		return nil, fmt.Errorf("%w: read body: %v", ErrMalformed, err)
	}
	return c, nil
}

// authenticate checks the request's bearer key: its grant is in the store,
// not revoked, signed by the owner of its network (from the genesis, which
// hashes to the network ID), valid now, and its hash matches the key's
// secret (constant time); then that it is for this route's network and
// carries its scope.
func (s *Server) authenticate(c *call, need Scope) error {
	h := c.r.Header.Get("Authorization")
	text, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return fmt.Errorf("%w: send the API key as \"Authorization: Bearer cak_…\" (coco net apikey create NET makes one)", ErrUnauthenticated)
	}
	k, err := ParseKey(strings.TrimSpace(text))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	}
	unknown := fmt.Errorf("%w: API key %s is not known here", ErrUnauthenticated, k.ID)
	b, err := s.store.Grant(c.r.Context(), k.ID)
	if errors.Is(err, ErrNotFound) {
		return unknown
	} else if err != nil {
		return fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	}
	if rev, err := s.store.Revoked(c.r.Context(), k.ID); err != nil {
		return fmt.Errorf("%w: key store: %v", ErrUnavailable, err)
	} else if rev {
		return fmt.Errorf("%w: API key %s was revoked by the network's owner", ErrUnauthenticated, k.ID)
	}
	g, err := UnmarshalGrant(b)
	if err != nil || g.ID != k.ID {
		return unknown
	}
	// The secret first: a wrong one costs a hash, not the signature
	// checks below.
	if !k.Matches(g.Hash) {
		return fmt.Errorf("%w: wrong secret for API key %s", ErrUnauthenticated, k.ID)
	}
	owner, err := s.verifiedOwner(c.r.Context(), g, b)
	if errors.Is(err, ErrExpired) {
		return fmt.Errorf("%w: %v", ErrUnauthenticated, err)
	} else if err != nil {
		s.cfg.Logf("devapi: stored grant %s does not verify: %v", k.ID, err)
		return unknown
	}
	if g.Net != c.net {
		return fmt.Errorf("%w: API key %s is for network %s, not %s", ErrWrongNetwork, k.ID, g.Net.Short(), c.net.Short())
	}
	if !g.Scopes.Has(need) {
		return fmt.Errorf("%w: API key %s has scopes %s; this route needs %s (ask the owner for a key with it)", ErrScope, k.ID, g.Scopes, need)
	}
	c.grant, c.owner = g, owner
	return nil
}

// verifiedOwner checks a stored grant (its encoding b) against its
// network's stored genesis and returns the owner. The signature checks
// are remembered by the exact bytes of both, so a key's requests cost
// them once; anything written differently into the store is checked
// anew. Times are checked every time.
func (s *Server) verifiedOwner(ctx context.Context, g *Grant, b []byte) (identity.UserID, error) {
	gb, err := s.store.Genesis(ctx, g.Net)
	if err != nil {
		return identity.UserID{}, err
	}
	h := sha256.New()
	h.Write(b)
	h.Write(gb)
	ck := [32]byte(h.Sum(nil))
	s.vmu.Lock()
	owner, ok := s.verified[ck]
	s.vmu.Unlock()
	if ok {
		return owner, g.checkTimes(s.cfg.Now())
	}
	gen, err := checkGenesis(g.Net, gb)
	if err != nil {
		return owner, err
	}
	if err := g.Verify(g.Net, gen.Author, s.cfg.Now()); err != nil {
		return owner, err
	}
	s.vmu.Lock()
	if len(s.verified) >= maxVerified {
		clear(s.verified)
	}
	s.verified[ck] = gen.Author
	s.vmu.Unlock()
	return gen.Author, nil
}

// ownerOf reads a network's genesis from the store and checks it: it
// hashes to the network ID and its author signed it. The author is the
// owner.
func (s *Server) ownerOf(ctx context.Context, net ledger.NetworkID) (identity.UserID, error) {
	b, err := s.store.Genesis(ctx, net)
	if err != nil {
		return identity.UserID{}, err
	}
	g, err := checkGenesis(net, b)
	if err != nil {
		return identity.UserID{}, err
	}
	return g.Author, nil
}

func checkGenesis(net ledger.NetworkID, b []byte) (*ledger.Op, error) {
	g, err := ledger.Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("%w: genesis: %v", ErrMalformed, err)
	}
	if g.Kind != ledger.KindGenesis || ledger.NetworkID(g.ID()) != net {
		return nil, fmt.Errorf("%w: the genesis given is not network %s's", ErrWrongNetwork, net.Short())
	}
	if err := g.VerifySignature(); err != nil {
		return nil, fmt.Errorf("%w on the genesis", ErrBadSignature)
	}
	if g.NetKind != ledger.NetKindDeveloper {
		return nil, fmt.Errorf("%w: network %s is a %s network; the REST API serves developer networks (coco net create NAME --kind developer)", ErrNotDeveloper, net.Short(), g.NetKind)
	}
	return g, nil
}

// limitedError is a 429 with the time to wait.
type limitedError struct {
	wait time.Duration
	msg  string
}

func (e *limitedError) Error() string {
	return fmt.Sprintf("%s; try again in %s", e.msg, e.wait.Round(time.Millisecond))
}
func (e *limitedError) Unwrap() error { return ErrRateLimited }

// status maps an error to its HTTP status.
func status(err error) int {
	for _, m := range []struct {
		err  error
		code int
	}{
		{ErrRateLimited, http.StatusTooManyRequests},
		{ErrTooLarge, http.StatusRequestEntityTooLarge},
		{ErrUnauthenticated, http.StatusUnauthorized},
		{ErrBadSignature, http.StatusUnauthorized},
		{ErrExpired, http.StatusUnauthorized},
		{ErrNotOwner, http.StatusForbidden},
		{ErrWrongNetwork, http.StatusForbidden},
		{ErrScope, http.StatusForbidden},
		{ErrNotFound, http.StatusNotFound},
		{ErrConflict, http.StatusConflict},
		{ErrNotDeveloper, http.StatusUnprocessableEntity},
		{ErrUnavailable, http.StatusServiceUnavailable},
		{ErrMalformed, http.StatusBadRequest},
		{ErrBadScope, http.StatusBadRequest},
	} {
		if errors.Is(err, m.err) {
			return m.code
		}
	}
	return http.StatusInternalServerError
}

// Error is the body of every failed request.
type Error struct {
	Error string `json:"error"` // a sentence a person can act on
	Code  string `json:"code"`  // unauthorized, forbidden, not_found, conflict, rate_limited, too_large, bad_request, …
}

var codes = map[int]string{
	400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
	413: "too_large", 422: "not_developer", 429: "rate_limited", 500: "internal", 503: "unavailable",
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := status(err)
	var le *limitedError
	if errors.As(err, &le) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(le.wait.Seconds(), 1)))))
	}
	if code == http.StatusInternalServerError {
		s.cfg.Logf("devapi: %s %s: %v", r.Method, r.URL.Path, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "devapi: ")
	json.NewEncoder(w).Encode(Error{Error: msg, Code: codes[code]})
}

// sourceOf is the request's source address for rate limiting, IPv6 by /64.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if ip.To4() == nil {
		return ip.Mask(net.CIDRMask(64, 128)).String()
	}
	return ip.String()
}

// Routes lists the table's "METHOD /path" patterns (for TestOpenAPI and
// documentation).
func Routes() []string {
	var out []string
	for _, r := range routes {
		out = append(out, r.method+" "+r.path)
	}
	return out
}
