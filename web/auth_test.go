package web

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coconet/coconet/api"
)

// fakeService answers what the tests call and counts the networks created.
type fakeService struct {
	api.Service // the rest: not called
	created     atomic.Int32
}

func (f *fakeService) Status(context.Context) (api.Status, error) {
	return api.Status{Name: "alice"}, nil
}

func (f *fakeService) Networks(context.Context) ([]api.NetworkInfo, error) {
	return []api.NetworkInfo{{Name: "home", Role: "owner"}}, nil
}

func (f *fakeService) CreateNetwork(_ context.Context, req api.CreateNetworkRequest) (api.NetworkInfo, error) {
	f.created.Add(1)
	return api.NetworkInfo{Name: req.Name}, nil
}

const host = "127.0.0.1:7777"

type rig struct {
	t   *testing.T
	svc *fakeService
	s   *Server
	h   http.Handler
	now time.Time
}

func newRig(t *testing.T) *rig { return newRigAt(t, t.TempDir()) }

// newRigAt is a server of home: a second one of the same home is the
// daemon restarted.
func newRigAt(t *testing.T, home string) *rig {
	svc := &fakeService{}
	s, err := New(svc, home, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, svc: svc, s: s, now: time.Now()}
	s.auth.now = func() time.Time { return r.now }
	r.h = s.Handler(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7777})
	return r
}

func (r *rig) do(req *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

func (r *rig) token() string { return MintToken(r.s.auth.key, r.now) }

// login exchanges a fresh token as a browser opening `coco app`'s link
// does, and returns the session cookie and its CSRF token.
func (r *rig) login() (*http.Cookie, string) {
	r.t.Helper()
	req := httptest.NewRequest("GET", "http://"+host+"/login?token="+r.token(), nil)
	req.Header.Set("Sec-Fetch-Site", "none")
	w := r.do(req)
	if w.Code != http.StatusSeeOther {
		r.t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		r.t.Fatalf("login set %d cookies", len(cs))
	}
	req = httptest.NewRequest("GET", "http://"+host+"/", nil)
	req.AddCookie(cs[0])
	s, ok := r.s.auth.session(req)
	if !ok {
		r.t.Fatal("the new session's cookie is refused")
	}
	return cs[0], s.csrf
}

// post is the page's script creating a network: cookie, CSRF header,
// same origin.
func post(c *http.Cookie, csrf string) *http.Request {
	req := httptest.NewRequest("POST", "http://"+host+"/v1/networks", strings.NewReader(`{"name":"lab"}`))
	req.AddCookie(c)
	req.Header.Set(csrfHeader, csrf)
	req.Header.Set("Origin", "http://"+host)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return req
}

func TestLoginSetsStrictHttpOnlyCookie(t *testing.T) {
	r := newRig(t)
	c, csrf := r.login()
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Strict, Path=/", c)
	}
	if w := r.do(post(c, csrf)); w.Code != 200 || r.svc.created.Load() != 1 {
		t.Fatalf("the page's own POST: %d %s; created %d", w.Code, w.Body, r.svc.created.Load())
	}
	req := httptest.NewRequest("GET", "http://"+host+"/", nil)
	req.AddCookie(c)
	if w := r.do(req); w.Code != 200 || !strings.Contains(w.Body.String(), csrf) {
		t.Fatalf("the networks page: %d; want 200 carrying the CSRF token", w.Code)
	}
}

// Attack: a request without the session cookie (another local user, a
// script that found the port) gets nothing, not a page, not the API.
func TestRefusedWithoutCookie(t *testing.T) {
	r := newRig(t)
	for _, req := range []*http.Request{
		httptest.NewRequest("GET", "http://"+host+"/", nil),
		httptest.NewRequest("GET", "http://"+host+"/v1/networks", nil),
		httptest.NewRequest("GET", "http://"+host+"/v1/status", nil),
		httptest.NewRequest("GET", "http://"+host+"/events?net=home", nil),
		httptest.NewRequest("POST", "http://"+host+"/v1/networks", strings.NewReader(`{"name":"x"}`)),
	} {
		if w := r.do(req); w.Code != http.StatusUnauthorized {
			t.Errorf("%s %s without a cookie: %d, want 401", req.Method, req.URL.Path, w.Code)
		}
	}
	bad := &http.Cookie{Name: cookieName, Value: "forged"}
	req := httptest.NewRequest("GET", "http://"+host+"/v1/networks", nil)
	req.AddCookie(bad)
	if w := r.do(req); w.Code != http.StatusUnauthorized {
		t.Errorf("with a made-up cookie: %d, want 401", w.Code)
	}
	if r.svc.created.Load() != 0 {
		t.Fatal("a network was created without a session")
	}
}

// Attack: a login link seen once (shell history, a shoulder, a proxy log)
// is replayed after its owner used it; and links not minted with the
// home's key, or expired, are refused.
func TestLoginTokenReplayRefused(t *testing.T) {
	r := newRig(t)
	tok := r.token()
	login := func(tok string) int {
		return r.do(httptest.NewRequest("GET", "http://"+host+"/login?token="+url.QueryEscape(tok), nil)).Code
	}
	if c := login(tok); c != http.StatusSeeOther {
		t.Fatalf("first use: %d", c)
	}
	if c := login(tok); c != http.StatusUnauthorized {
		t.Fatalf("replayed token: %d, want 401", c)
	}
	other := MintToken(make([]byte, 32), r.now) // another key: another home's, or a guess
	if c := login(other); c != http.StatusUnauthorized {
		t.Fatalf("token under another key: %d, want 401", c)
	}
	if c := login(""); c != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", c)
	}
	late := r.token()
	r.now = r.now.Add(TokenTTL + time.Second)
	if c := login(late); c != http.StatusUnauthorized {
		t.Fatalf("expired token: %d, want 401", c)
	}
	if _, err := r.s.auth.exchange(tok); err != ErrTokenExpired && err != ErrTokenUsed {
		t.Fatalf("replay after expiry: %v", err)
	}
}

// Attack: a page of another site (or another port of localhost, which is
// the same site) makes the logged-in browser POST to the app. The cookie
// is SameSite=Strict, but the server does not rely on it: Origin and
// Sec-Fetch-Site are checked, and the CSRF header is required.
func TestCrossOriginRefused(t *testing.T) {
	r := newRig(t)
	c, csrf := r.login()
	cases := map[string]func(*http.Request){
		"other origin":         func(q *http.Request) { q.Header.Set("Origin", "http://evil.example") },
		"localhost other port": func(q *http.Request) { q.Header.Set("Origin", "http://127.0.0.1:8080") },
		"cross-site":           func(q *http.Request) { q.Header.Del("Origin"); q.Header.Set("Sec-Fetch-Site", "cross-site") },
		"same-site":            func(q *http.Request) { q.Header.Del("Origin"); q.Header.Set("Sec-Fetch-Site", "same-site") },
		"no CSRF header":       func(q *http.Request) { q.Header.Del(csrfHeader) },
		"wrong CSRF header":    func(q *http.Request) { q.Header.Set(csrfHeader, "x"+csrf[1:]) },
	}
	for name, mod := range cases {
		req := post(c, csrf)
		mod(req)
		if w := r.do(req); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, w.Code, w.Body)
		}
	}
	// A cross-site GET of the event stream or a page is refused too.
	req := httptest.NewRequest("GET", "http://"+host+"/v1/networks", nil)
	req.AddCookie(c)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if w := r.do(req); w.Code != http.StatusForbidden {
		t.Errorf("cross-site GET: %d, want 403", w.Code)
	}
	if n := r.svc.created.Load(); n != 0 {
		t.Fatalf("%d network(s) created by refused requests", n)
	}
}

// Attack: DNS rebinding. evil.example resolves to 127.0.0.1 after the
// page loaded, so the browser sends the attacker's page's requests to the
// app as same-origin, with Host: evil.example:7777. Refused, even with a
// cookie (it would not have one: the cookie is for 127.0.0.1).
func TestWrongHostRefused(t *testing.T) {
	r := newRig(t)
	c, csrf := r.login()
	for _, h := range []string{"evil.example:7777", "127.0.0.1:8080", "evil.example", "192.168.1.5:7777"} {
		req := post(c, csrf)
		req.Host = h
		req.Header.Set("Origin", "http://"+h)
		if w := r.do(req); w.Code != http.StatusMisdirectedRequest {
			t.Errorf("Host %s: %d, want 421", h, w.Code)
		}
		req = httptest.NewRequest("GET", "http://"+h+"/login?token="+r.token(), nil)
		if w := r.do(req); w.Code != http.StatusMisdirectedRequest {
			t.Errorf("login with Host %s: %d, want 421", h, w.Code)
		}
	}
	for _, h := range []string{"localhost:7777", "127.0.0.1:7777"} {
		req := post(c, csrf)
		req.Host = h
		req.Header.Set("Origin", "http://"+h)
		if w := r.do(req); w.Code != 200 {
			t.Errorf("Host %s: %d, want 200", h, w.Code)
		}
	}
}

func FuzzExchange(f *testing.F) {
	key := make([]byte, 32)
	f.Add(MintToken(key, time.Now()))
	f.Add("a.b")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		a := newAuth(key, nil)
		a.exchange(tok) // must not panic
	})
}

// The page templates are not served as files; the script and style are.
func TestStaticOnlyAssets(t *testing.T) {
	r := newRig(t)
	c, _ := r.login()
	for path, want := range map[string]int{"/static/app.js": 200, "/static/app.css": 200, "/static/jsQR.js": 200, "/static/jsQR-LICENSE.txt": 200, "/static/layout.html": 404, "/static/": 404} {
		req := httptest.NewRequest("GET", "http://"+host+path, nil)
		req.AddCookie(c)
		if w := r.do(req); w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}

// After logging out, the session's cookie opens nothing.
func TestLogout(t *testing.T) {
	r := newRig(t)
	c, csrf := r.login()
	req := httptest.NewRequest("POST", "http://"+host+"/logout", nil)
	req.AddCookie(c)
	req.Header.Set(csrfHeader, csrf)
	if w := r.do(req); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	if w := r.do(post(c, csrf)); w.Code != http.StatusUnauthorized {
		t.Fatalf("the old cookie after logout: %d, want 401", w.Code)
	}
}

// get is the page's GET of path with cookie c.
func (r *rig) get(path string, c *http.Cookie) int {
	req := httptest.NewRequest("GET", "http://"+host+path, nil)
	req.AddCookie(c)
	return r.do(req).Code
}

// A session outlives a restart of the daemon: its cookie and CSRF token
// are HMACs under the home's key, not entries of a table in memory.
func TestSessionSurvivesRestart(t *testing.T) {
	home := t.TempDir()
	r := newRigAt(t, home)
	c, csrf := r.login()
	r2 := newRigAt(t, home) // the daemon restarted
	if w := r2.do(post(c, csrf)); w.Code != 200 || r2.svc.created.Load() != 1 {
		t.Fatalf("the page's POST after a restart: %d %s", w.Code, w.Body)
	}
	// A cookie minted under another key (another home's, a guess) is not one.
	other := newRig(t)
	oc, ocsrf := other.login()
	if w := r2.do(post(oc, ocsrf)); w.Code != http.StatusUnauthorized {
		t.Fatalf("another home's cookie: %d, want 401", w.Code)
	}
	// Nor is an expired one, restart or not.
	r2.now = r2.now.Add(SessionTTL + time.Minute)
	if code := r2.get("/v1/networks", c); code != http.StatusUnauthorized {
		t.Fatalf("an expired session: %d, want 401", code)
	}
}

// Attack: a logged-out cookie (copied before, from a backup, a shared
// machine) is replayed after the daemon restarts; so is a login link
// used once. Both stay refused: the revocations are kept in the home.
func TestRevocationsSurviveRestart(t *testing.T) {
	home := t.TempDir()
	r := newRigAt(t, home)
	tok := r.token()
	if code := r.do(httptest.NewRequest("GET", "http://"+host+"/login?token="+tok, nil)).Code; code != http.StatusSeeOther {
		t.Fatalf("login: %d", code)
	}
	c, csrf := r.login()
	keep, _ := r.login()
	req := httptest.NewRequest("POST", "http://"+host+"/logout", nil)
	req.AddCookie(c)
	req.Header.Set(csrfHeader, csrf)
	if w := r.do(req); w.Code != http.StatusNoContent {
		t.Fatalf("logout: %d", w.Code)
	}
	r2 := newRigAt(t, home)
	if w := r2.do(post(c, csrf)); w.Code != http.StatusUnauthorized {
		t.Fatalf("the logged-out cookie after a restart: %d, want 401", w.Code)
	}
	if code := r2.get("/", keep); code != 200 {
		t.Fatalf("the other session after a restart: %d, want 200", code)
	}
	if code := r2.do(httptest.NewRequest("GET", "http://"+host+"/login?token="+tok, nil)).Code; code != http.StatusUnauthorized {
		t.Fatalf("a used login link after a restart: %d, want 401", code)
	}
}

// "Log out everywhere" ends every session, this one's and the others',
// and every login link not used yet, restart or not; a new link works.
func TestLogoutEverywhere(t *testing.T) {
	home := t.TempDir()
	r := newRigAt(t, home)
	a, acsrf := r.login()
	b, _ := r.login()
	unused := r.token()
	req := httptest.NewRequest("POST", "http://"+host+"/logout?everywhere=1", nil)
	req.AddCookie(a)
	req.Header.Set(csrfHeader, acsrf)
	if w := r.do(req); w.Code != http.StatusNoContent {
		t.Fatalf("logout everywhere: %d %s", w.Code, w.Body)
	}
	r2 := newRigAt(t, home)
	for _, rr := range []*rig{r, r2} {
		for _, c := range []*http.Cookie{a, b} {
			if code := rr.get("/", c); code != http.StatusUnauthorized {
				t.Errorf("a session after logging out everywhere: %d, want 401", code)
			}
		}
	}
	if code := r2.do(httptest.NewRequest("GET", "http://"+host+"/login?token="+unused, nil)).Code; code != http.StatusUnauthorized {
		t.Errorf("a link minted before: %d, want 401", code)
	}
	c, _ := r2.login() // a link minted now, with the new key in web.key
	if code := r2.get("/", c); code != 200 {
		t.Fatalf("a new login: %d", code)
	}
}

// RevokeAll (what `coco app --logout-all` calls) from another process
// ends the sessions of a running app: it reads web.key again when the
// file changes.
func TestRevokeAllWhileRunning(t *testing.T) {
	home := t.TempDir()
	r := newRigAt(t, home)
	c, _ := r.login()
	if err := RevokeAll(home); err != nil {
		t.Fatal(err)
	}
	if code := r.get("/", c); code != http.StatusUnauthorized {
		t.Fatalf("a session after RevokeAll: %d, want 401", code)
	}
	key, err := os.ReadFile(KeyPath(home))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "http://"+host+"/login?token="+MintToken(key, r.now), nil)
	if w := r.do(req); w.Code != http.StatusSeeOther {
		t.Fatalf("a link under the new key: %d", w.Code)
	}
}

// The pages added for the push server, drives, consortium and usage sit
// behind the same guard: nothing without a session, nothing for another
// site even with one.
func TestNewPagesGuarded(t *testing.T) {
	r := newRig(t)
	c, _ := r.login()
	for _, p := range []string{"/n/home/push", "/n/home/drives", "/n/home/drives/docs", "/n/home/consortium", "/n/home/usage", "/static/jsQR.js"} {
		if w := r.do(httptest.NewRequest("GET", "http://"+host+p, nil)); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s without a session: %d, want 401", p, w.Code)
		}
		req := httptest.NewRequest("GET", "http://"+host+p, nil)
		req.AddCookie(c)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if w := r.do(req); w.Code != http.StatusForbidden {
			t.Errorf("GET %s from another site: %d, want 403", p, w.Code)
		}
	}
}

// Attack: another site (or a script without the page's CSRF token) makes
// the browser log out everywhere — every session of the owner ended, a
// nuisance on demand. Refused, and the key stays.
func TestLogoutEverywhereNeedsCSRF(t *testing.T) {
	home := t.TempDir()
	r := newRigAt(t, home)
	c, csrf := r.login()
	key, _ := os.ReadFile(KeyPath(home))
	for name, mod := range map[string]func(*http.Request){
		"no CSRF header": func(q *http.Request) {},
		"other origin":   func(q *http.Request) { q.Header.Set(csrfHeader, csrf); q.Header.Set("Origin", "http://evil.example") },
		"cross-site":     func(q *http.Request) { q.Header.Set(csrfHeader, csrf); q.Header.Set("Sec-Fetch-Site", "cross-site") },
	} {
		req := httptest.NewRequest("POST", "http://"+host+"/logout?everywhere=1", nil)
		req.AddCookie(c)
		mod(req)
		if w := r.do(req); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, w.Code)
		}
	}
	if now, _ := os.ReadFile(KeyPath(home)); string(now) != string(key) {
		t.Fatal("a refused request replaced the key")
	}
	if code := r.get("/", c); code != 200 {
		t.Fatalf("the session after refused logouts: %d", code)
	}
}
