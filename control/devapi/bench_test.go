package devapi_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/ledger"
)

// BenchmarkAuthenticated is one GET /usage with a valid key, in process:
// the cost of authentication (grant lookup, secret hash, genesis and grant
// signature checks) and the answer.
func BenchmarkAuthenticated(b *testing.B) {
	e := startEnv(b, devapi.Config{KeyRate: devapi.Rate{PerSecond: 1e9, Burst: 1 << 30}})
	d := newDevNet(b, ledger.NetKindDeveloper)
	k := e.grantKey(b, d, "usage:read")
	h := e.api.Handler()
	req := httptest.NewRequest("GET", usagePath(d), nil)
	req.Header.Set("Authorization", "Bearer "+k.String())
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
