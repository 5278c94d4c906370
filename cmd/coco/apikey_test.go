package main

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/coconet/coconet/control/devapi"
	"github.com/coconet/coconet/ledger"
)

// TestCLIAPIKey is the developer's script from the CLI: `coco control
// --api`, a developer network, `coco net apikey create --delegate all`;
// the key reads the network's nodes and mints an auth key through REST;
// `coco net apikey revoke` withdraws it. A user network gets no key.
func TestCLIAPIKey(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	mustCoco(t, "--home", home, "init", "--name", "dev")
	mustCoco(t, "--home", home, "net", "create", "chat", "--kind", "developer")
	mustCoco(t, "--home", home, "net", "create", "family")

	ctx, cancel := context.WithCancel(context.Background())
	var o, e syncBuf
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"--home", filepath.Join(dir, "ctl"), "control", "--listen", "/ip4/127.0.0.1/tcp/0",
			"--api", "127.0.0.1:0", "--state", filepath.Join(dir, "state"), "--quiet"}, nil, &o, &e)
	}()
	defer func() { cancel(); <-done }()
	re := regexp.MustCompile(`REST API for developer networks on (http://\S+)`)
	var url string
	for deadline := time.Now().Add(30 * time.Second); url == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(o.String()); m != nil {
			url = m[1]
		}
	}
	if url == "" {
		t.Fatalf("coco control --api printed no API address: %q %q", o.String(), e.String())
	}

	out := mustCoco(t, "--home", home, "--json", "net", "apikey", "create", "chat", "--api", url,
		"--scope", "nodes:read,authkeys:write,usage:read", "--delegate", "all")
	key, id, netText := jsonField(t, out, "key"), jsonField(t, out, "id"), jsonField(t, out, "network")
	net, err := ledger.ParseNetworkID(netText)
	if err != nil || key == "" || id == "" {
		t.Fatalf("apikey create printed %s", out)
	}
	c := &devapi.Client{URL: url, Key: key}
	if _, err := c.Nodes(ctx, net); err != nil {
		t.Errorf("GET nodes with the new key: %v", err)
	}
	var ak devapi.NewAuthKey
	if err := c.Do(ctx, "POST", "/v1/networks/"+netText+"/authkeys", devapi.CreateAuthKey{Tags: []string{"phone"}}, &ak); err != nil || ak.Key == "" {
		t.Errorf("POST authkeys through the delegation: %+v, %v", ak, err)
	}

	mustCoco(t, "--home", home, "net", "apikey", "revoke", "chat", id, "--api", url)
	var ae *devapi.APIError
	if _, err := c.Nodes(ctx, net); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("GET nodes with the revoked key: %v, want 401", err)
	}
	if _, errOut, code := coco(t, "", "--home", home, "net", "apikey", "create", "family", "--api", url, "--scope", "nodes:read"); code == 0 {
		t.Errorf("an API key for a user network: exit 0, want an error (%s)", errOut)
	}
	if _, errOut, code := coco(t, "", "--home", home, "control", "--api", "0.0.0.0:0", "--state", filepath.Join(dir, "s2")); code == 0 {
		t.Errorf("coco control --api on a public address without TLS: exit 0 (%s)", errOut)
	}
}
