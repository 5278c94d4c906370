package web

import (
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// newMetricsRig is a rig whose server serves a fake metrics page.
func newMetricsRig(t *testing.T) (*rig, string) {
	r := newRig(t)
	r.s.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("coco_up 1\n")) })
	r.h = r.s.Handler(&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7777})
	tok, err := LoadMetricsToken(r.s.home)
	if err != nil {
		t.Fatal(err)
	}
	return r, tok
}

func scrape(tok, path string) *http.Request {
	req := httptest.NewRequest("GET", "http://"+host+path, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return req
}

// A scraper with the home's metrics token reads /metrics; the file is
// the home owner's alone.
func TestMetricsScraperToken(t *testing.T) {
	r, tok := newMetricsRig(t)
	if w := r.do(scrape(tok, "/metrics")); w.Code != 200 || w.Body.String() != "coco_up 1\n" {
		t.Fatalf("scrape with the token: %d %q", w.Code, w.Body)
	}
	fi, err := os.Stat(MetricsTokenPath(r.s.home))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("metrics.token: %v, mode %v; want 0600", err, fi.Mode())
	}
	if again, _ := LoadMetricsToken(r.s.home); again != tok {
		t.Fatal("the token changed on a second load")
	}
	// The logged-in browser reads it too.
	c, _ := r.login()
	req := httptest.NewRequest("GET", "http://"+host+"/metrics", nil)
	req.AddCookie(c)
	if w := r.do(req); w.Code != 200 {
		t.Fatalf("/metrics in the logged-in browser: %d", w.Code)
	}
}

// Attack: a local process without the home's token (another user on the
// machine, a page's script) reads no metrics; the token opens /metrics
// and nothing else, and a Host header naming another server is refused.
func TestMetricsRefusedWithoutToken(t *testing.T) {
	r, tok := newMetricsRig(t)
	for _, c := range []struct {
		what string
		req  *http.Request
	}{
		{"no token", scrape("", "/metrics")},
		{"a wrong token", scrape(strings.Repeat("x", len(tok)), "/metrics")},
		{"the token without Bearer", func() *http.Request {
			req := scrape("", "/metrics")
			req.Header.Set("Authorization", tok)
			return req
		}()},
		{"the token for the API", scrape(tok, "/v1/networks")},
		{"the token for a page", scrape(tok, "/")},
		{"the token with another Host", func() *http.Request {
			req := scrape(tok, "/metrics")
			req.Host = "evil.example:7777"
			return req
		}()},
	} {
		w := r.do(c.req)
		if w.Code == 200 || strings.Contains(w.Body.String(), "coco_up") {
			t.Errorf("%s: %d %q; want a refusal", c.what, w.Code, w.Body)
		}
	}
	if r.svc.created.Load() != 0 {
		t.Fatal("a network was created")
	}
}
