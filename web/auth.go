package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
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

func sign(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("coconet web login\x00"))
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

// auth holds the key, the tokens used and the sessions.
type auth struct {
	key []byte
	now func() time.Time

	mu       sync.Mutex
	used     map[string]time.Time // token nonce → its expiry
	sessions map[string]session   // cookie value → session
}

type session struct {
	csrf    string
	expires time.Time
}

func newAuth(key []byte, now func() time.Time) *auth {
	if now == nil {
		now = time.Now
	}
	return &auth{key: key, now: now, used: map[string]time.Time{}, sessions: map[string]session{}}
}

// exchange checks a login token, marks it used and opens a session,
// returning its cookie value.
func (a *auth) exchange(token string) (string, error) {
	m, s, ok := strings.Cut(token, ".")
	if !ok {
		return "", ErrBadToken
	}
	msg, err1 := base64.RawURLEncoding.DecodeString(m)
	sig, err2 := base64.RawURLEncoding.DecodeString(s)
	if err1 != nil || err2 != nil || len(msg) != 24 || !hmac.Equal(sig, sign(a.key, msg)) {
		return "", ErrBadToken
	}
	exp := time.Unix(int64(binary.BigEndian.Uint64(msg[16:])), 0)
	now := a.now()
	if now.After(exp) {
		return "", ErrTokenExpired
	}
	nonce := string(msg[:16])
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, e := range a.used { // forget tokens that expired: they fail on expiry now
		if now.After(e) {
			delete(a.used, n)
		}
	}
	if _, dup := a.used[nonce]; dup {
		return "", ErrTokenUsed
	}
	a.used[nonce] = exp
	id, csrf := make([]byte, 32), make([]byte, 32)
	rand.Read(id)
	rand.Read(csrf)
	a.sessions[b64(id)] = session{csrf: b64(csrf), expires: now.Add(SessionTTL)}
	return b64(id), nil
}

// session returns the session of a request's cookie.
func (a *auth) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return session{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[c.Value]
	if ok && a.now().After(s.expires) {
		delete(a.sessions, c.Value)
		return session{}, false
	}
	return s, ok
}

// logout ends a request's session.
func (a *auth) logout(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		a.mu.Lock()
		delete(a.sessions, c.Value)
		a.mu.Unlock()
	}
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
