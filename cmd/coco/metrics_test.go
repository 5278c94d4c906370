package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/web"
)

// metrics is one scrape: family name → metrics.
type metrics map[string]*dto.MetricFamily

// scrapeMetrics GETs url with the bearer token tok ("" none) and parses
// the Prometheus text it answers.
func scrapeMetrics(t *testing.T, url, tok string) (metrics, int) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		io.Copy(io.Discard, resp.Body)
		return nil, resp.StatusCode
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return fams, 200
}

// value is the value of name's metric with the labels given as "k=v"
// (the sum over the others), -1 if there is no such family.
func (m metrics) value(name string, labels ...string) float64 {
	f, ok := m[name]
	if !ok {
		return -1
	}
	sum := 0.0
next:
	for _, mt := range f.Metric {
		for _, l := range labels {
			k, v, _ := strings.Cut(l, "=")
			found := false
			for _, lp := range mt.Label {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case mt.Gauge != nil:
			sum += mt.Gauge.GetValue()
		case mt.Counter != nil:
			sum += mt.Counter.GetValue()
		case mt.Untyped != nil:
			sum += mt.Untyped.GetValue()
		}
	}
	return sum
}

// TestMetricsScrape scrapes `coco up`'s /metrics (with the home's token)
// and `coco control --metrics` while two members meet through the control
// plane, call each other and subscribe, and checks the values move.
func TestMetricsScrape(t *testing.T) {
	ctlHome := filepath.Join(t.TempDir(), "ctl")
	ctlOut := background(t, "--home", ctlHome, "control", "--json", "--metrics", "127.0.0.1:0",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/udp/0/quic-v1")
	var ctl controlInfo
	waitCoco(t, "coco control to start", func() bool {
		return json.Unmarshal([]byte(ctlOut.String()), &ctl) == nil && ctl.Metrics != ""
	})
	cm, code := scrapeMetrics(t, ctl.Metrics, "")
	if code != 200 || cm.value("coco_control_registrations") != 0 || cm.value("go_goroutines") <= 0 {
		t.Fatalf("control plane's first scrape: %d, registrations %v, goroutines %v", code, cm.value("coco_control_registrations"), cm.value("go_goroutines"))
	}

	hh := homes(t, "alice", "bob")
	a, b := hh[0], hh[1]
	_, stderr := upBackground(t, a, "--control", ctl.Addrs[0])
	waitCoco(t, "coco up to serve metrics", func() bool { return strings.Contains(stderr.String(), "metrics on") })
	base, err := os.ReadFile(web.URLPath(a))
	if err != nil {
		t.Fatal(err)
	}
	url := strings.TrimSpace(string(base)) + "/metrics"
	tok, err := os.ReadFile(web.MetricsTokenPath(a))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := scrapeMetrics(t, url, ""); code != http.StatusUnauthorized {
		t.Fatalf("scrape without the token: %d, want 401", code)
	}
	m0, code := scrapeMetrics(t, url, string(tok))
	if code != 200 {
		t.Fatalf("scrape with the token: %d", code)
	}
	home := "network=home"
	if v := m0.value("coco_peers_known", home); v != 0 {
		t.Fatalf("alice alone: coco_peers_known %v, want 0", v)
	}
	ops0 := m0.value("coco_ledger_ops_total", home)

	inv := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "admin", "--json"), "code")
	mustCoco(t, "--home", b, "join", inv)
	startDaemon(t, b)
	var m metrics
	waitCoco(t, "alice's metrics to show bob's node connected", func() bool {
		m, _ = scrapeMetrics(t, url, string(tok))
		return m.value("coco_peers", home)+0 == 1
	})
	if m.value("coco_peers_known", home) != 1 || m.value("coco_ledger_members", home) != 2 || m.value("coco_ledger_ops_total", home) <= ops0 {
		t.Fatalf("after bob joined: known %v, members %v, ops %v (were %v)", m.value("coco_peers_known", home),
			m.value("coco_ledger_members", home), m.value("coco_ledger_ops_total", home), ops0)
	}
	rpcIn := m.value("coco_bytes_total", "protocol="+rpc.Proto, "direction=in")
	payload := strings.Repeat("x", 20000)
	mustCoco(t, "--home", b, "call", "home", "alice", "coco.echo", payload)
	m, _ = scrapeMetrics(t, url, string(tok))
	if got := m.value("coco_bytes_total", "protocol="+rpc.Proto, "direction=in"); got < rpcIn+20000 {
		t.Fatalf("rpc bytes in: %v after a 20000-byte call, were %v", got, rpcIn)
	}

	// Pub-sub: a subscription shows; an API error counts by kind.
	background(t, "--home", a, "sub", "home", "lights/#")
	waitCoco(t, "alice's subscription in her metrics", func() bool {
		m, _ = scrapeMetrics(t, url, string(tok))
		return m.value("coco_pubsub_subscriptions", home) == 1
	})
	nf := m.value("coco_errors_total", "kind=api_not_found")
	if _, _, code := coco(t, "", "--home", a, "members", "nosuchnet"); code == 0 {
		t.Fatal("members of a network that is not there succeeded")
	}
	m, _ = scrapeMetrics(t, url, string(tok))
	if got := m.value("coco_errors_total", "kind=api_not_found"); got != nf+1 {
		t.Fatalf("coco_errors_total{kind=api_not_found} = %v after one, was %v", got, nf)
	}

	// A push server's device connections.
	dialPush(t, pushServer(t, a))
	waitCoco(t, "alice's metrics to show a device connected to her push server", func() bool {
		m, _ = scrapeMetrics(t, url, string(tok))
		return m.value("coco_push_connections", home) == 1
	})

	// The control plane counted both nodes, their requests and relay slots.
	waitCoco(t, "the control plane's metrics to show both nodes and a relay slot", func() bool {
		cm, _ = scrapeMetrics(t, ctl.Metrics, "")
		return cm.value("coco_control_registrations") == 2 && cm.value("coco_control_relay_reservations") >= 1
	})
	for _, c := range []struct {
		name   string
		labels []string
	}{
		{"coco_control_answers_total", []string{"code=ok"}},
		{"coco_control_messages_total", nil},
		{"coco_control_bytes_total", []string{"kind=control"}},
		{"coco_control_networks", nil},
		{"coco_control_peers", nil},
	} {
		if v := cm.value(c.name, c.labels...); v <= 0 {
			t.Errorf("%s%v = %v, want > 0", c.name, c.labels, v)
		}
	}
	if t.Failed() {
		var b strings.Builder
		for n := range cm {
			fmt.Fprintln(&b, n)
		}
		t.Log(b.String())
	}
}
