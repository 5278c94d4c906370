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

	// Join, and the first Send while bob's node finds alice's, wait at
	// most this long.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	alice := &coconet.Node{Home: aliceHome, Network: "home", ListenHost: "127.0.0.1"}
	if err := alice.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer alice.Close()
	code, _, _ := alice.Invite(coconet.InviteOptions{Role: ledger.RoleGuest})

	if _, _, err := coconet.Join(ctx, bobHome, code, coconet.JoinOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	bob := &coconet.Node{Home: bobHome, Network: "home", ListenHost: "127.0.0.1"}
	if err := bob.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()

	inbox, stop := alice.Messages()
	defer stop()
	if err := bob.Send(ctx, "alice", []byte("hello from bob")); err != nil {
		fmt.Println(err)
		return
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
