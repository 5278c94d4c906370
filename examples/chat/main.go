// Command chat is a minimal coconet app: it runs its own node (app "chat")
// in one of your networks, prints every message it receives, and sends each
// line you type as "MEMBER: text".
//
//	go run ./examples/chat --net home
//
// The network must exist in the home (`coco net create` or `coco join`).
// An app node has its own key, so the owner certifies it once: this example
// does that itself when the home's user may add nodes.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/ledger"
)

func main() {
	home := flag.String("home", homedir.DefaultHome(), "coconet home directory")
	network := flag.String("net", "", "network name or ID")
	flag.Parse()
	if *network == "" {
		log.Fatal("chat: give --net NETWORK")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	if err := certify(*home, *network); err != nil {
		log.Fatalf("chat: %v", err)
	}
	n := &coconet.Node{Home: *home, Network: *network, App: "chat", MDNS: true}
	if err := n.Start(ctx); err != nil {
		log.Fatalf("chat: %v", err)
	}
	defer n.Close()
	fmt.Printf("chat node %s in %q; type MEMBER: text\n", n.PeerID(), n.Info().Name)

	msgs, cancel := n.Messages()
	defer cancel()
	go func() {
		for m := range msgs {
			fmt.Printf("\r%s: %s\n> ", m.FromName, m.Data)
		}
	}()
	lines := bufio.NewScanner(os.Stdin)
	for fmt.Print("> "); lines.Scan(); fmt.Print("> ") {
		to, text, ok := strings.Cut(lines.Text(), ":")
		if !ok {
			fmt.Println("type MEMBER: text")
			continue
		}
		sctx, c := context.WithTimeout(ctx, 10*time.Second)
		if err := n.Send(sctx, strings.TrimSpace(to), []byte(strings.TrimSpace(text))); err != nil {
			fmt.Println("not delivered:", err)
		}
		c()
	}
}

// certify records this app's node key in the ledger, signed by the user.
// (With the daemon running, restart it afterwards so it learns the node.)
func certify(home, network string) error {
	id, err := homedir.LoadIdentity(home)
	if err != nil {
		return err
	}
	l, err := homedir.OpenNetwork(home, network)
	if err != nil {
		return err
	}
	nk := id.Seed.NodeKey(l.Network(), "chat")
	var key [32]byte
	copy(key[:], nk.Public().(ed25519.PublicKey))
	if _, ok := l.State().NodeOwner(key); ok {
		return nil
	}
	// NodeSig proves this user holds the node's key (the ledger requires it
	// of everyone but the owner).
	_, err = l.Append(id.Seed.UserKey(), ledger.Op{Kind: ledger.KindAddNode, Subject: id.ID(), Node: key, SubjectName: "chat",
		NodeSig: ledger.SignNodeProof(nk, l.Network(), id.ID())})
	return err
}
