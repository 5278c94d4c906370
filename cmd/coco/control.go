package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/identity"
)

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// controlInfo is what `coco control --json` prints once it is up.
type controlInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"` // give one to nodes: coco up --control ADDR
	State string   `json:"state"`
	Plans string   `json:"plans"`
	Store string   `json:"store"` // where the state is: "embedded etcd", "etcd URL,…" or "memory"
	// Owners is how many owners the allow-list names (0: every owner).
	Owners int `json:"owners,omitempty"`
	// Metrics is where Prometheus metrics are served (--metrics).
	Metrics string `json:"metrics,omitempty"`
	// API is the developer REST API's URL (--api), ServiceKey the key
	// owners delegate to.
	API        string `json:"api,omitempty"`
	ServiceKey string `json:"service_key,omitempty"`
}

// startAPI serves the developer networks' REST API (package
// control/devapi) in front of srv. Plain HTTP only on loopback: API keys
// are bearer secrets, so a public address needs TLS here or in a reverse
// proxy in front of a loopback listener.
func startAPI(srv *control.Server, cfg control.Config, state, svcKey, addr, certFile, keyFile string, ctl []string) (*devapi.Server, error) {
	tlsCfg, err := apiTLS(addr, certFile, keyFile)
	if err != nil {
		return nil, err
	}
	svc, err := devapi.LoadServiceKey(svcKey)
	if err != nil {
		return nil, err
	}
	var store devapi.Store
	if srv.SharedStore() {
		store = devapi.KVStore(srv.KV(), nil)
	} else if store, err = devapi.OpenFileStore(filepath.Join(state, "apikeys.json"), nil); err != nil {
		return nil, err
	}
	api, err := devapi.New(devapi.Config{Backend: srv, Store: store, ServiceKey: svc, ControlAddrs: ctl, Logf: cfg.Logf})
	if err != nil {
		return nil, err
	}
	if err := api.Listen(addr, tlsCfg); err != nil {
		return nil, err
	}
	return api, nil
}

// apiTLS checks --api and its TLS flags and loads the certificate.
func apiTLS(addr, certFile, keyFile string) (*tls.Config, error) {
	switch {
	case (certFile == "") != (keyFile == ""):
		return nil, usagef("give both --api-tls-cert and --api-tls-key, or neither")
	case certFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("--api-tls-cert/key: %w", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, usagef("--api %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, usagef("--api %s without --api-tls-cert/--api-tls-key would send API keys in clear; give a certificate, or listen on 127.0.0.1 behind a TLS reverse proxy", addr)
	}
	return nil, nil
}

func apiURL(s *devapi.Server, tls bool) string {
	if tls {
		return "https://" + s.Addr().String()
	}
	return "http://" + s.Addr().String()
}

func runControl(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("control", flag.ContinueOnError)
	var listen listFlag
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default QUIC and TCP on 0.0.0.0 port 4001)")
	state := fs.String("state", "", "directory for the identity key and usage counters (default HOME/control)")
	plans := fs.String("plans", "", "plans file (JSON); default: every owner on tier1 (1 network, 5 nodes, 500 MB a month)")
	owners := fs.String("owners", "", "serve only the networks of these owners: a file of owner user IDs, one per line, # comments (for a public control plane); default: every owner")
	relayDur := fs.Duration("relay-duration", 0, "cap on one relayed connection's duration (0 = none)")
	relayData := fs.Int64("relay-data", 0, "cap on one relayed connection's bytes per direction (0 = none)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus metrics at http://ADDR/metrics (HOST:PORT; no authentication: bind it to loopback or a private address)")
	logs := addLogFlags(fs)
	apiAddr := fs.String("api", "", "serve the developer networks' REST API on this address (host:port); keys and grants in the state dir (or the shared store)")
	apiCert := fs.String("api-tls-cert", "", "TLS certificate (PEM) for --api; without it --api must be a loopback address behind a TLS reverse proxy")
	apiKey := fs.String("api-tls-key", "", "TLS key (PEM) for --api-tls-cert")
	svcKey := fs.String("service-key", "", "the control plane's service key file, which owners delegate to (default STATE/service.key, made if missing); give every replica of one control plane the same file")
	etcd := fs.String("etcd", "", "etcd client URLs (comma-separated) of a cluster shared by several control-plane replicas; default: an embedded single-member etcd in the state directory; \"none\": state in this process's memory (usage counters in the state directory), as before etcd")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if *state == "" {
		*state = filepath.Join(e.home, "control")
	}
	if *apiAddr != "" {
		if _, err := apiTLS(*apiAddr, *apiCert, *apiKey); err != nil {
			return err
		}
	}
	cfg := control.Config{Listen: listen, Dir: *state,
		Relay: control.RelayLimits{Duration: *relayDur, Data: *relayData}}
	sl, err := logs.logger(e.stderr)
	if err != nil {
		return err
	}
	lg := slog.NewLogLogger(sl.Handler(), slog.LevelInfo)
	if !logs.quiet {
		cfg.Logf = logf(sl)
	}
	var info controlInfo
	plansName := "default tiers"
	if *plans != "" {
		p, err := control.LoadPlans(*plans)
		if err != nil {
			return err
		}
		cfg.Plans, plansName = p, *plans
	}
	if *owners != "" {
		list, err := control.LoadOwners(*owners)
		if err != nil {
			return err
		}
		cfg.Owners = list
		info.Owners = len(list)
	}
	switch *etcd {
	case "none":
		info.Store = "memory"
	default:
		ec := control.EtcdConfig{Dir: *state, Logf: cfg.Logf}
		info.Store = "embedded etcd"
		if *etcd != "" {
			ec.Endpoints = strings.Split(*etcd, ",")
			info.Store = "etcd " + *etcd
		}
		st, err := control.OpenEtcd(ctx, ec)
		if err != nil {
			return err
		}
		cfg.Store = st
	}
	srv, err := control.New(cfg)
	if err != nil {
		if cfg.Store != nil {
			cfg.Store.Close()
		}
		return err
	}
	if err := srv.Start(ctx); err != nil {
		if cfg.Store != nil {
			cfg.Store.Close()
		}
		return err
	}
	if *metricsAddr != "" {
		m, err := serveMetrics(*metricsAddr, metricsHandler(srv.Collector()))
		if err != nil {
			srv.Close()
			return err
		}
		defer m.Close()
		info.Metrics = m.URL()
	}
	info.ID, info.State, info.Plans = srv.ID().String(), *state, plansName
	for _, a := range srv.Addrs() {
		info.Addrs = append(info.Addrs, a.String())
	}
	var rest *devapi.Server
	if *apiAddr != "" {
		if *svcKey == "" {
			*svcKey = filepath.Join(*state, "service.key")
		}
		if rest, err = startAPI(srv, cfg, *state, *svcKey, *apiAddr, *apiCert, *apiKey, info.Addrs); err != nil {
			srv.Close()
			return err
		}
		defer rest.Close()
		info.API = apiURL(rest, *apiCert != "")
		svc, _ := devapi.LoadServiceKey(*svcKey)
		info.ServiceKey = identity.UserIDOf(svc.Public().(ed25519.PublicKey)).String()
	}
	err = e.output(info, func(w io.Writer) {
		fmt.Fprintf(w, "control plane %s (state in %s, %s; plans: %s)\n", info.ID, info.State, info.Store, info.Plans)
		if info.Owners > 0 {
			fmt.Fprintf(w, "serving only the networks of the %d owners in %s\n", info.Owners, *owners)
		}
		if info.Metrics != "" {
			fmt.Fprintf(w, "metrics on %s\n", info.Metrics)
		}
		fmt.Fprintln(w, "nodes join it with: coco up --control ADDR, ADDR one of:")
		for _, a := range info.Addrs {
			fmt.Fprintln(w, "  "+a)
		}
		if info.API != "" {
			fmt.Fprintf(w, "REST API for developer networks on %s (service key %s)\n", info.API, info.ServiceKey)
			fmt.Fprintf(w, "owners make keys with: coco net apikey create NET --api %s --scope nodes:read,usage:read --delegate all\n", info.API)
		}
	})
	if err != nil {
		srv.Close()
		return err
	}
	if err := sdNotify("READY=1\nSTATUS=control plane " + info.ID); err != nil {
		lg.Printf("coco control: %v", err)
	}
	// SIGUSR1 logs the control plane's memory after a collection, one
	// JSON line on stderr (bench/scale.sh reads it).
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-usr1:
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			b, _ := json.Marshal(map[string]any{"memstats": true, "heap_alloc": m.HeapAlloc, "heap_inuse": m.HeapInuse,
				"sys": m.Sys, "registrations": srv.Registrations()})
			fmt.Fprintf(e.stderr, "%s\n", b)
		}
	}
	sdNotify("STOPPING=1")
	lg.Printf("coco control: shutting down")
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("shutdown took over 10s; exiting anyway")
	}
}
