package coconet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/ledger"
)

// Two people, one network, one message: the whole library in one page.
func ExampleNode() {
	dir, _ := os.MkdirTemp("", "coconet-example-")
	defer os.RemoveAll(dir)
	aliceHome, bobHome := filepath.Join(dir, "alice"), filepath.Join(dir, "bob")
	coconet.Init(aliceHome, "alice")
	coconet.Init(bobHome, "bob")
	coconet.CreateNetwork(aliceHome, "home", "user", "")

	ctx := context.Background()
	alice := &coconet.Node{Home: aliceHome, Network: "home", ListenHost: "127.0.0.1"}
	if err := alice.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer alice.Close()
	code, _, _ := alice.Invite(coconet.InviteOptions{Role: ledger.RoleGuest})

	_, peers, err := coconet.Join(ctx, bobHome, code, coconet.JoinOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	bob := &coconet.Node{Home: bobHome, Network: "home", ListenHost: "127.0.0.1"}
	if err := bob.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()
	bob.Internal().AddPeerAddrs(peers)

	inbox, stop := alice.Messages()
	defer stop()
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for bob.Send(sctx, "alice", []byte("hello from bob")) != nil && sctx.Err() == nil {
		time.Sleep(50 * time.Millisecond) // until bob's node has reached alice's
	}
	m := <-inbox
	fmt.Printf("%s: %s\n", m.FromName, m.Data)
	for _, mem := range alice.Members() {
		fmt.Println(mem.Name, mem.Role)
	}
	// Output:
	// bob: hello from bob
	// alice owner
	// bob guest
}
