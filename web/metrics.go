package web

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Metrics for scrapers: the server serves Server.Metrics at /metrics to the
// logged-in browser like any page, and to a scraper (Prometheus) that
// sends the home's metrics token as a bearer token, Syncthing's API key
// way: the token is a file in the home (metrics.token, mode 0600), so
// whoever can read the home can scrape, and a scraper's config names the
// file (authorization: credentials_file). The token opens /metrics and
// nothing else.

// MetricsTokenPath is where the home keeps the metrics token.
func MetricsTokenPath(home string) string { return filepath.Join(home, "metrics.token") }

// LoadMetricsToken reads the home's metrics token, making one (mode 0600)
// if there is none.
func LoadMetricsToken(home string) (string, error) {
	p := MetricsTokenPath(home)
	b, err := os.ReadFile(p)
	if tok := strings.TrimSpace(string(b)); err == nil && len(tok) >= 32 {
		return tok, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("web: read metrics token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := b64(raw)
	if err := os.WriteFile(p, []byte(tok), 0o600); err != nil {
		return "", fmt.Errorf("web: write metrics token: %w", err)
	}
	return tok, nil
}

// scrapers answers GET /metrics with s.Metrics for a request bearing the
// metrics token (and a Host naming the server), and hands every other
// request to next: the app behind its login, where a logged-in browser
// reads /metrics too.
func (s *Server) scrapers(hosts map[string]bool, next http.Handler) http.Handler {
	tok, err := LoadMetricsToken(s.home)
	if err != nil {
		s.logf("web: metrics for scrapers off: %v", err)
		return next
	}
	want := []byte("Bearer " + tok)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		if r.URL.Path != "/metrics" || got == "" || !hosts[r.Host] {
			next.ServeHTTP(w, r)
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 || (r.Method != "GET" && r.Method != "HEAD") {
			http.Error(w, "wrong metrics token: send the home's metrics.token as a bearer token", http.StatusUnauthorized)
			return
		}
		s.Metrics.ServeHTTP(w, r)
	})
}
