// Command etcdmember runs one member of an etcd cluster (go.etcd.io/etcd/server/v3/embed), for tests and benchmarks of replicated control planes.
//
//	etcdmember -name m1 -dir DIR -client http://127.0.0.1:2379 -peer http://127.0.0.1:2380 \
//	  -cluster m1=http://127.0.0.1:2380,m2=…,m3=…
//
// It prints "ready" on stdout once the member serves, and stops on SIGINT
// or SIGTERM. Tests kill it with SIGKILL to kill a member for real.
package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

func main() {
	name := flag.String("name", "m1", "member name")
	dir := flag.String("dir", "", "data directory")
	client := flag.String("client", "http://127.0.0.1:2379", "client URL")
	peerURL := flag.String("peer", "http://127.0.0.1:2380", "peer URL")
	cluster := flag.String("cluster", "", "initial cluster: name=peerURL,… (default: this member alone)")
	flag.Parse()
	if err := run(*name, *dir, *client, *peerURL, *cluster); err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(1)
	}
}

func run(name, dir, client, peerURL, cluster string) error {
	cu, err := url.Parse(client)
	if err != nil {
		return err
	}
	pu, err := url.Parse(peerURL)
	if err != nil {
		return err
	}
	cfg := embed.NewConfig()
	cfg.Name, cfg.Dir = name, dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = cluster
	if cluster == "" {
		cfg.InitialCluster = name + "=" + peerURL
	}
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = embed.CompactorModePeriodic, "10m"
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		return err
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("not ready within 2 minutes")
	}
	fmt.Println("ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-sig:
	case err := <-e.Err():
		return err
	}
	return nil
}
