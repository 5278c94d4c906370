package main

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// freePort is a loopback port free a moment ago.
func freePort() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	defer ln.Close()
	return ln.Addr().String()
}

// etcdSide starts an etcd cluster of 3 members in this process (etcd's own
// server, go.etcd.io/etcd/server/v3/embed, with its defaults: fsync on, bbolt
// backend) on loopback, and a client per load client spread over the
// three endpoints as the consortium's clients are spread over its nodes.
func etcdSide(dir string) (put func(ctx context.Context, client, i int) error, stop func()) {
	type member struct{ name, peer, client string }
	var ms []member
	var initial []string
	for i := 1; i <= 3; i++ {
		m := member{fmt.Sprint("etcd", i), "http://" + freePort(), "http://" + freePort()}
		ms = append(ms, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	var servers []*embed.Etcd
	for _, m := range ms {
		cfg := embed.NewConfig()
		cfg.Name = m.name
		cfg.Dir = filepath.Join(dir, m.name)
		pu, _ := url.Parse(m.peer)
		cu, _ := url.Parse(m.client)
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "consortiumbench"
		cfg.ClusterState = embed.ClusterStateFlagNew
		cfg.Logger, cfg.LogLevel = "zap", "fatal" // its shutdown logs errors of closed listeners
		cfg.TickMs, cfg.ElectionMs = 100, 1000    // the consortium's tick and election
		e, err := embed.StartEtcd(cfg)
		must(err)
		servers = append(servers, e)
	}
	for _, e := range servers {
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(60 * time.Second):
			must(fmt.Errorf("etcd member %s not ready within 60s", e.Config().Name))
		}
	}
	// One client connection per endpoint, shared by the load clients of
	// that endpoint (etcd's benchmark tool shares connections the same way).
	var cls []*clientv3.Client
	for _, m := range ms {
		c, err := clientv3.New(clientv3.Config{Endpoints: []string{m.client}, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
		must(err)
		cls = append(cls, c)
	}
	val := string(make([]byte, *size))
	put = func(ctx context.Context, c, i int) error {
		_, err := cls[c%3].Put(ctx, fmt.Sprintf("c%d-%d", c, i%1000), val)
		return err
	}
	return put, func() {
		for _, c := range cls {
			c.Close()
		}
		for _, e := range servers {
			e.Close()
		}
	}
}
