package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/internal/atomicfile"
)

// Login tokens and sessions.

var (
	// ErrBadToken means a login token is malformed or not signed by the key.
	ErrBadToken = errors.New("web: invalid login token")
	// ErrTokenExpired means a login token is past its expiry.
	ErrTokenExpired = errors.New("web: login token expired")
	// ErrTokenUsed means a login token was already exchanged for a session.
	ErrTokenUsed = errors.New("web: login token already used")
)

// TokenTTL is how long a login token may wait to be used.
const TokenTTL = 5 * time.Minute

// SessionTTL is how long a session lasts after login.
const SessionTTL = 24 * time.Hour

// cookieName names the session cookie.
const cookieName = "coco_session"

// csrfHeader is the header state-changing requests carry the session's
// CSRF token in.
const csrfHeader = "X-Coco-Csrf"

// KeyPath is where the home keeps the key login tokens are signed with.
func KeyPath(home string) string { return filepath.Join(home, "web.key") }

// URLPath is where a running daemon writes its app's address.
func URLPath(home string) string { return filepath.Join(home, "web.url") }

// LoadKey reads the home's web key, making one (mode 0600) if there is
// none.
func LoadKey(home string) ([]byte, error) {
	p := KeyPath(home)
	b, err := os.ReadFile(p)
	if err == nil && len(b) == 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("web: read key: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		return nil, fmt.Errorf("web: write key: %w", err)
	}
	return b, nil
}

// MintToken makes a one-time login token under key, valid until
// now+TokenTTL.
func MintToken(key []byte, now time.Time) string {
	msg := make([]byte, 24)
	rand.Read(msg[:16])
	binary.BigEndian.PutUint64(msg[16:], uint64(now.Add(TokenTTL).Unix()))
	return b64(msg) + "." + b64(sign(key, msg))
}

func sign(key, msg []byte) []byte { return mac(key, "coconet web login\x00", msg) }

// mac is the HMAC-SHA256 of msg under key, for the use label names.
func mac(key []byte, label string, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	m.Write(msg)
	return m.Sum(nil)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// LoginURL reads the address a running daemon of home serves its app on
// and returns the URL that logs in with a fresh one-time token.
func LoginURL(home string) (string, error) {
	base, err := os.ReadFile(URLPath(home))
	if err != nil {
		return "", fmt.Errorf("web: the app is not being served for this home (is `coco up` running, without --web off?): %w", err)
	}
	key, err := os.ReadFile(KeyPath(home))
	if err != nil {
		return "", fmt.Errorf("web: read key: %w", err)
	}
	return strings.TrimSpace(string(base)) + "/login?token=" + MintToken(key, time.Now()), nil
}

// auth holds the key, and what was revoked before its expiry: login
// tokens used and sessions logged out. Sessions are not stored: a session
// cookie is an HMAC under the key of its ID and expiry, and its CSRF token
// an HMAC of its ID, so a session outlives a restart of the daemon (the
// key is in the home). The revocations are kept in the home too (web.revoked),
// so a logged-out cookie or a used token stays refused after a restart;
// rotating the key (RevokeAll, "log out everywhere") ends every session.
type auth struct {
	home string // "" keeps the revocations in memory only
	now  func() time.Time

	mu      sync.Mutex
	key     []byte
	keyStat os.FileInfo // of web.key when key was read: a new file is a new key
	revoked revocations
}

// revocations are what was revoked before its expiry, by ID, with the
// expiry (Unix seconds), after which they are forgotten.
type revocations struct {
	Tokens   map[string]int64 `json:"tokens"`   // login token nonces used
	Sessions map[string]int64 `json:"sessions"` // session IDs logged out
}

// RevokedPath is where the home keeps the revoked tokens and sessions.
func RevokedPath(home string) string { return filepath.Join(home, "web.revoked") }

type session struct {
	id      string
	csrf    string
	expires time.Time
}

func newAuth(key []byte, now func() time.Time) *auth {
	if now == nil {
		now = time.Now
	}
	return &auth{key: key, now: now, revoked: revocations{Tokens: map[string]int64{}, Sessions: map[string]int64{}}}
}

// loadRevoked reads the home's revocations; a missing file is none.
func (a *auth) loadRevoked() error {
	b, err := os.ReadFile(RevokedPath(a.home))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("web: read revocations: %w", err)
	}
	var r revocations
	if err := json.Unmarshal(b, &r); err != nil {
		return fmt.Errorf("web: read revocations: %w", err)
	}
	for k, v := range r.Tokens {
		a.revoked.Tokens[k] = v
	}
	for k, v := range r.Sessions {
		a.revoked.Sessions[k] = v
	}
	a.keyStat, _ = os.Stat(KeyPath(a.home))
	return nil
}

// saveRevoked forgets what expired and writes the rest; mu is held.
func (a *auth) saveRevoked() error {
	now := a.now().Unix()
	for _, m := range []map[string]int64{a.revoked.Tokens, a.revoked.Sessions} {
		for k, exp := range m {
			if now > exp {
				delete(m, k)
			}
		}
	}
	if a.home == "" {
		return nil
	}
	b, _ := json.Marshal(a.revoked)
	if err := atomicfile.Write(RevokedPath(a.home), b, 0o600); err != nil {
		return fmt.Errorf("web: write revocations: %w", err)
	}
	return nil
}

// currentKey is the key, read again if web.key was replaced (RevokeAll
// from another process: `coco app --logout-all`); mu is held.
func (a *auth) currentKey() []byte {
	if a.home == "" {
		return a.key
	}
	fi, err := os.Stat(KeyPath(a.home))
	if err != nil || (a.keyStat != nil && os.SameFile(fi, a.keyStat) && fi.ModTime().Equal(a.keyStat.ModTime()) && fi.Size() == a.keyStat.Size()) {
		return a.key
	}
	if b, err := os.ReadFile(KeyPath(a.home)); err == nil && len(b) == 32 {
		a.key, a.keyStat = b, fi
	}
	return a.key
}

// RevokeAll gives the home a new web key: every session and every login
// link made before ends, at once for a running app too.
func RevokeAll(home string) error {
	b := make([]byte, 32)
	rand.Read(b)
	if err := atomicfile.Write(KeyPath(home), b, 0o600); err != nil {
		return fmt.Errorf("web: write key: %w", err)
	}
	return nil
}

// exchange checks a login token, marks it used and opens a session,
// returning its cookie value.
func (a *auth) exchange(token string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	key := a.currentKey()
	msg, ok := open(key, token, 24, "coconet web login\x00")
	if !ok {
		return "", ErrBadToken
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(msg[16:])), 0)
	now := a.now()
	if now.After(exp) {
		return "", ErrTokenExpired
	}
	nonce := b64(msg[:16])
	if _, dup := a.revoked.Tokens[nonce]; dup {
		return "", ErrTokenUsed
	}
	a.revoked.Tokens[nonce] = exp.Unix()
	if err := a.saveRevoked(); err != nil {
		delete(a.revoked.Tokens, nonce) // not kept: not used either
		return "", err
	}
	sm := make([]byte, 24)
	rand.Read(sm[:16])
	binary.BigEndian.PutUint64(sm[16:], uint64(now.Add(SessionTTL).Unix()))
	return b64(sm) + "." + b64(mac(key, "coconet web session\x00", sm)), nil
}

// open checks a value of the form b64(msg).b64(mac) under key and label
// and returns msg, which must be n bytes long.
func open(key []byte, v string, n int, label string) ([]byte, bool) {
	m, s, ok := strings.Cut(v, ".")
	if !ok {
		return nil, false
	}
	msg, err1 := base64.RawURLEncoding.DecodeString(m)
	sig, err2 := base64.RawURLEncoding.DecodeString(s)
	if err1 != nil || err2 != nil || len(msg) != n || !hmac.Equal(sig, mac(key, label, msg)) {
		return nil, false
	}
	return msg, true
}

// session returns the session of a request's cookie.
func (a *auth) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	key := a.currentKey()
	msg, ok := open(key, c.Value, 24, "coconet web session\x00")
	if !ok {
		return session{}, false
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(msg[16:])), 0)
	id := b64(msg[:16])
	if a.now().After(exp) {
		return session{}, false
	}
	if _, out := a.revoked.Sessions[id]; out {
		return session{}, false
	}
	return session{id: id, csrf: b64(mac(key, "coconet web csrf\x00", msg[:16])), expires: exp}, true
}

// logout ends a request's session, for good: its ID is kept revoked
// until the session would have expired.
func (a *auth) logout(r *http.Request) error {
	s, ok := a.session(r)
	if !ok {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked.Sessions[s.id] = s.expires.Unix()
	return a.saveRevoked()
}

// logoutAll ends every session: a new key.
func (a *auth) logoutAll() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.home == "" {
		a.key = make([]byte, 32)
		rand.Read(a.key)
		return nil
	}
	if err := RevokeAll(a.home); err != nil {
		return err
	}
	a.keyStat = nil
	a.currentKey()
	return nil
}

// allowedHosts are the Host headers a server listening on addr answers:
// the address itself, and for a loopback one localhost too. Anything else
// is a rebinding attack or a mistake.
func allowedHosts(addr net.Addr) map[string]bool {
	hosts := map[string]bool{addr.String(): true}
	if ta, ok := addr.(*net.TCPAddr); ok {
		port := fmt.Sprint(ta.Port)
		if ta.IP.IsLoopback() {
			hosts[net.JoinHostPort("localhost", port)] = true
			hosts[net.JoinHostPort("127.0.0.1", port)] = true
			hosts[net.JoinHostPort("::1", port)] = true
		}
	}
	return hosts
}

// guard refuses what is not the logged-in owner's browser on this page:
// a wrong Host, another site's request, no session, and a state-changing
// request without the session's CSRF token. /login exchanges a token.
func (a *auth) guard(hosts map[string]bool, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !hosts[r.Host] {
			http.Error(w, "wrong Host header: open the app at its own address (coco app)", http.StatusMisdirectedRequest)
			return
		}
		// A browser says where a request comes from: refuse every other
		// site's, even a GET (it could read an SSE stream or time pages).
		switch r.Header.Get("Sec-Fetch-Site") {
		case "", "same-origin", "none":
		default:
			http.Error(w, "request from another site refused", http.StatusForbidden)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host {
			http.Error(w, "request from another origin refused", http.StatusForbidden)
			return
		}
		if r.URL.Path == "/login" {
			a.login(w, r)
			return
		}
		s, ok := a.session(r)
		if !ok {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprintln(w, "Not logged in. Run `coco app` to open the app with a login link.")
			return
		}
		if !safeMethod(r.Method) {
			got := r.Header.Get(csrfHeader)
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.csrf)) != 1 {
				http.Error(w, "missing or wrong CSRF token", http.StatusForbidden)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(withSession(r.Context(), s)))
	})
}

func safeMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "OPTIONS" }

// login exchanges ?token= for a session cookie and sends the browser to
// the app, without the token in its address bar or history.
func (a *auth) login(w http.ResponseWriter, r *http.Request) {
	id, err := a.exchange(r.URL.Query().Get("token"))
	if err != nil {
		http.Error(w, err.Error()+": run `coco app` for a new link", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionTTL / time.Second)})
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
