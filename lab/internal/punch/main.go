// Command punch is the lab's plain go-libp2p probe: no coconet code, only
// what go-libp2p ships, to prove that the NAT lab behaves like the internet
// before coconet is measured in it. It runs inside a lab namespace
// (`ip netns exec`) in one of these modes:
//
//	punch echo  -port P                 UDP server: answers each datagram with the sender's ip:port
//	punch probe -to A:P,B:P             UDP client: one socket, one datagram to each server; prints "mapped SERVER SEEN"
//	punch relay -port P                 circuit relay v2 host; prints "addr MULTIADDR/p2p/ID" lines, then "ready"
//	punch peer  -relay MA [-dial ID]    host behind the relay: reserves a slot; prints "ready ID" once
//	                                    it knows a public address; with -dial, connects to ID through the
//	                                    relay, prints "relayed DUR" then "direct ADDR DUR" or "stayed-relayed"
//	punch bulk-serve -port P            host on TCP and QUIC port P; prints "addr MULTIADDR/p2p/ID" lines, then
//	                                    "ready"; reads every /bulk stream to its end and answers with its length
//	punch bulk-send -to MA -secs S      opens one /bulk stream to MA (its transport is MA's), writes for S
//	                                    seconds, prints "bulk BYTES SECONDS" once the server acknowledged
//
// Every line it prints is "word value…"; the lab tests parse them.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/observedaddrs"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"
	relayv2 "github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/relay"
	"github.com/libp2p/go-libp2p/p2p/protocol/holepunch"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: punch echo|probe|relay|peer [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch mode, args := os.Args[1], os.Args[2:]; mode {
	case "echo":
		err = echo(ctx, args)
	case "probe":
		err = probe(args)
	case "relay":
		err = relay(ctx, args)
	case "peer":
		err = peerMode(ctx, args)
	case "bulk-serve":
		err = bulkServe(ctx, args)
	case "bulk-send":
		err = bulkSend(ctx, args)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "punch:", err)
		os.Exit(1)
	}
}

func echo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("echo", flag.ExitOnError)
	port := fs.Int("port", 3478, "UDP port")
	fs.Parse(args)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: *port})
	if err != nil {
		return err
	}
	go func() { <-ctx.Done(); c.Close() }()
	fmt.Println("listening", c.LocalAddr())
	buf := make([]byte, 1500)
	for {
		_, from, err := c.ReadFromUDP(buf)
		if err != nil {
			return nil
		}
		c.WriteToUDP([]byte(from.String()), from)
	}
}

func probe(args []string) error {
	fs := flag.NewFlagSet("probe", flag.ExitOnError)
	to := fs.String("to", "", "comma-separated UDP servers")
	fs.Parse(args)
	c, err := net.ListenUDP("udp4", nil)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, s := range strings.Split(*to, ",") {
		a, err := net.ResolveUDPAddr("udp4", s)
		if err != nil {
			return err
		}
		buf := make([]byte, 1500)
		var seen string
		for try := 0; try < 5 && seen == ""; try++ {
			c.WriteToUDP([]byte("?"), a)
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			n, _, err := c.ReadFromUDP(buf)
			if err == nil {
				seen = string(buf[:n])
			}
		}
		if seen == "" {
			seen = "timeout"
		}
		fmt.Println("mapped", s, seen)
	}
	return nil
}

func relay(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("relay", flag.ExitOnError)
	port := fs.Int("port", 4001, "TCP and UDP port")
	fs.Parse(args)
	res := relayv2.DefaultResources()
	res.Limit = nil // no per-circuit limits: the lab measures paths, not quotas
	h, err := libp2p.New(
		libp2p.ListenAddrStrings(
			fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", *port),
			fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", *port),
		),
		libp2p.ForceReachabilityPublic(),
		libp2p.EnableRelayService(relayv2.WithResources(res)),
	)
	if err != nil {
		return err
	}
	defer h.Close()
	for _, a := range h.Addrs() {
		if manet.IsPublicAddr(a) {
			fmt.Printf("addr %s/p2p/%s\n", a, h.ID())
		}
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

func peerMode(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("peer", flag.ExitOnError)
	relayAddr := fs.String("relay", "", "the relay's multiaddrs with /p2p/ID, comma-separated")
	dial := fs.String("dial", "", "peer ID to reach through the relay")
	wait := fs.Duration("wait", 20*time.Second, "how long to wait for a direct connection")
	directDial := fs.Duration("direct-dial-timeout", 0, "holepunch: how long to try a plain direct dial before punching (0: go-libp2p's default)")
	fs.Parse(args)

	// One observer (the relay) is all the lab has: adopt its observation
	// at once (NAT-NOTES 2).
	observedaddrs.ActivationThresh = 1
	var hpOpts []holepunch.Option
	if *directDial > 0 {
		hpOpts = append(hpOpts, holepunch.DirectDialTimeout(*directDial))
	}
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/0.0.0.0/udp/4001/quic-v1", "/ip4/0.0.0.0/tcp/4001"),
		libp2p.EnableHolePunching(hpOpts...),
		libp2p.ForceReachabilityPrivate(),
	)
	if err != nil {
		return err
	}
	defer h.Close()
	var rmas []ma.Multiaddr
	for _, s := range strings.Split(*relayAddr, ",") {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return err
		}
		rmas = append(rmas, a)
	}
	rinfos, err := peer.AddrInfosFromP2pAddrs(rmas...)
	if err != nil || len(rinfos) != 1 {
		return fmt.Errorf("-relay: want addresses of one peer: %v", err)
	}
	rinfo := &rinfos[0]
	if err := h.Connect(ctx, *rinfo); err != nil {
		return fmt.Errorf("connect to relay: %w", err)
	}
	if _, err := client.Reserve(ctx, h, *rinfo); err != nil {
		return fmt.Errorf("reserve a relay slot: %w", err)
	}
	// Hole punching starts only once the host knows a public address.
	for !hasPublic(h) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	fmt.Println("ready", h.ID())
	for _, a := range h.Addrs() {
		fmt.Println("own", a)
	}
	if *dial == "" {
		<-ctx.Done()
		return nil
	}
	target, err := peer.Decode(*dial)
	if err != nil {
		return err
	}
	circuit, err := ma.NewMultiaddr(fmt.Sprintf("/p2p/%s/p2p-circuit/p2p/%s", rinfo.ID, target))
	if err != nil {
		return err
	}
	start := time.Now()
	cctx := network.WithAllowLimitedConn(ctx, "lab")
	if err := h.Connect(cctx, peer.AddrInfo{ID: target, Addrs: []ma.Multiaddr{circuit}}); err != nil {
		return fmt.Errorf("connect through the relay: %w", err)
	}
	fmt.Println("relayed", time.Since(start).Round(time.Millisecond))
	deadline := time.Now().Add(*wait)
	for time.Now().Before(deadline) {
		for _, c := range h.Network().ConnsToPeer(target) {
			if !isRelayed(c) {
				fmt.Println("direct", c.RemoteMultiaddr(), time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Println("stayed-relayed")
	return nil
}

// isRelayed: a connection through a relay (limited, or an unlimited circuit).
func isRelayed(c network.Conn) bool {
	if c.Stat().Limited {
		return true
	}
	_, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_CIRCUIT)
	return err == nil
}

func hasPublic(h host.Host) bool {
	for _, a := range h.Addrs() {
		if manet.IsPublicAddr(a) {
			return true
		}
	}
	return false
}

// bulkProto is the bulk probe's protocol: the client writes, closes its
// side, and reads the 8-byte big-endian count the server read.
const bulkProto = "/bulk"

func bulkServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bulk-serve", flag.ExitOnError)
	port := fs.Int("port", 4100, "TCP and UDP port")
	fs.Parse(args)
	h, err := libp2p.New(libp2p.ListenAddrStrings(
		fmt.Sprintf("/ip4/0.0.0.0/tcp/%d", *port),
		fmt.Sprintf("/ip4/0.0.0.0/udp/%d/quic-v1", *port)))
	if err != nil {
		return err
	}
	defer h.Close()
	h.SetStreamHandler(bulkProto, func(s network.Stream) {
		defer s.Close()
		n, _ := io.Copy(io.Discard, s)
		binary.Write(s, binary.BigEndian, uint64(n))
	})
	for _, a := range h.Addrs() {
		fmt.Printf("addr %s/p2p/%s\n", a, h.ID())
	}
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}

func bulkSend(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bulk-send", flag.ExitOnError)
	to := fs.String("to", "", "the server's multiaddr with /p2p/ID")
	secs := fs.Float64("secs", 10, "how long to write")
	fs.Parse(args)
	ai, err := peer.AddrInfoFromString(*to)
	if err != nil {
		return err
	}
	h, err := libp2p.New(libp2p.NoListenAddrs)
	if err != nil {
		return err
	}
	defer h.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.Connect(cctx, *ai); err != nil {
		return err
	}
	s, err := h.NewStream(cctx, ai.ID, bulkProto)
	if err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	t0 := time.Now()
	end := t0.Add(time.Duration(*secs * float64(time.Second)))
	for time.Now().Before(end) {
		if _, err := s.Write(buf); err != nil {
			return err
		}
	}
	if err := s.CloseWrite(); err != nil {
		return err
	}
	var n uint64
	s.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if err := binary.Read(s, binary.BigEndian, &n); err != nil {
		return fmt.Errorf("no acknowledgement: %w", err)
	}
	fmt.Printf("bulk %d %.3f\n", n, time.Since(t0).Seconds())
	return nil
}
