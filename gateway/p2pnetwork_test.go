package gateway

import (
	"context"
	"testing"

	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
)

// TestP2PAcrossNetwork: two push servers of one network speaking the
// P2Pcluster dialect; keys, groups and routers come from the ledger
// (written in mixed case), pushes and the raw channel reach ids on the
// other server, and replies are the original's.
func TestP2PAcrossNetwork(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	if _, err := CreateKey(alice, p2pUser, "devices", p2pKey); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	for _, e := range [][2]string{{"Hub", ""}, {"lamp", "Hub"}, {"Fan", "Hub"}} {
		apply(t, alice, Change{Account: p2pUser, Op: ChangeSetParent, ID: e[0], Parent: e[1]})
	}
	apply(t, alice,
		Change{Account: p2pUser, Op: ChangeAddRouter, Name: "Hall"},
		Change{Account: p2pUser, Op: ChangeAttach, Name: "Hall", ID: "lamp"},
		Change{Account: p2pUser, Op: ChangeAttach, Name: "Hall", ID: "Hub"},
	)
	name(t, alice, alice, bob)
	synced(t, alice, bob)
	sa, err := StartBridge(context.Background(), alice, &Server{Listen: "127.0.0.1:0", Logf: t.Logf, Dialect: DialectP2Pcluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	sb, err := StartBridge(context.Background(), bob, &Server{Listen: "127.0.0.1:0", Logf: t.Logf, Dialect: DialectP2Pcluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	knows(t, sa, bob)
	knows(t, sb, alice)

	var hub, lamp, fan *pc
	eventually(t, "bob's push server to read the key", func() bool {
		lamp = p2pDial(t, sb.Server(), "")
		return lamp.do("TCP:ID:"+p2pKey+":LAMP") == "[OK:LAMP]"
	})
	hub = p2pRegister(t, sa.Server(), "\r\n", "hub")
	fan = p2pRegister(t, sa.Server(), "", "fan")
	k := p2pKey

	hub.expect("TCP:PUSH:"+k+":RID:Lamp:over there", "[OK:DATA_SENT]")
	lamp.expectRead("PUSH:over there")
	lamp.expect("TCP:PUSH:"+k+":PARENT:up", "[OK:DATA_SENT]")
	hub.expectRead("PUSH:up")
	hub.expect("TCP:PUSH:"+k+":CHILDS:all", "[OK:ALL_2]")
	lamp.expectRead("PUSH:all")
	fan.expectRead("PUSH:all")
	fan.expect("TCP:PUSH:"+k+":FRIENDS:hi", "[OK:ALL_1]")
	lamp.expectRead("PUSH:hi")
	lamp.expect("TCP:PUSH:"+k+":RO:hall:on", "[OK:ALL_1]")
	hub.expectRead("PUSH:on")
	hub.expect("TCP:PUSH:"+k+":RID:nobody:x", "[FAIL:REM_ID]")

	// The raw channel across the two servers.
	hub.expect("TCP:PUSH:"+k+":RAW:LAMP", "[OK:LINK_SYNC]")
	lamp.expectRead("PUSHRAW:")
	lamp.expect("TCP:PUSH:"+k+":RAW:hub", "[OK:LINK_SYNC]")
	frame := "\x00raw\r\nbytes\xff"
	lamp.write(frame)
	hub.expectRead(frame)
	hub.write(frame + frame)
	lamp.expectRead(frame + frame)
}

// TestP2PMixedDialects: a P2Pcluster-dialect push server and a coconet
// one in one network; each device gets replies and pushes in its own
// server's dialect, and ids the ledger names match in any case.
func TestP2PMixedDialects(t *testing.T) {
	alice, bob := nettest.Pair(t, ledger.RoleAdmin)
	if _, err := CreateKey(alice, p2pUser, "devices", p2pKey); err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	apply(t, alice,
		Change{Account: p2pUser, Op: ChangeSetParent, ID: "Hub"},
		Change{Account: p2pUser, Op: ChangeSetParent, ID: "lamp", Parent: "Hub"},
		Change{Account: p2pUser, Op: ChangeSetAlias, Name: "MY-FRIEND", ID: "lamp"},
	)
	name(t, alice, alice, bob)
	synced(t, alice, bob)
	sa, err := StartBridge(context.Background(), alice, &Server{Listen: "127.0.0.1:0", Logf: t.Logf, Dialect: DialectP2Pcluster})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close() })
	sb := startBridge(t, bob) // coconet
	knows(t, sa, bob)
	knows(t, sb, alice)
	var lamp *client
	eventually(t, "bob's push server to read the key", func() bool {
		lamp = dial(t, sb.Server())
		return lamp.do("TCP:ID:"+p2pKey+":lamp") == "[OK:lamp]"
	})
	hub := p2pRegister(t, sa.Server(), "", "HUB")
	hub.expect("TCP:PUSH:"+p2pKey+":RID:LAMP:one", "[OK:DATA_SENT]")
	lamp.expectRead("PUSH:one")
	hub.expect("TCP:PUSH:"+p2pKey+":RID:my-friend:two", "[OK:DATA_SENT]")
	lamp.expectRead("PUSH:two")
	hub.expect("TCP:PUSH:"+p2pKey+":CHILDS:three", "[OK:ALL_1]")
	lamp.expectRead("PUSH:three")
	lamp.expect("TCP:PUSH:"+p2pKey+":PARENT:up", "[OK:1]")
	hub.expectRead("PUSH:up")
	lamp.expect("TCP:PUSH:"+p2pKey+":RID:Hub:four", "[OK:1]")
	hub.expectRead("PUSH:four")
}
