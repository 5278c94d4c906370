package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

// device is a tiny device on a push server: one TCP connection, lines.
type device struct {
	t  *testing.T
	nc net.Conn
	r  *bufio.Reader
}

func dialPush(t *testing.T, addr string) *device {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial push server %s: %v", addr, err)
	}
	t.Cleanup(func() { nc.Close() })
	return &device{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (d *device) do(line string) string {
	d.t.Helper()
	if _, err := io.WriteString(d.nc, line+"\n"); err != nil {
		d.t.Fatalf("send %q: %v", line, err)
	}
	return d.read()
}

func (d *device) read() string {
	d.t.Helper()
	d.nc.SetReadDeadline(time.Now().Add(20 * time.Second)) // only keeps a broken test from hanging
	line, err := d.r.ReadString('\n')
	if err != nil {
		d.t.Fatalf("read: %v (got %q)", err, line)
	}
	return strings.TrimSuffix(line, "\n")
}

func (d *device) expect(line, want string) {
	d.t.Helper()
	if got := d.do(line); got != want {
		d.t.Fatalf("%s = %s, want %s", line, got, want)
	}
}

var addrRE = regexp.MustCompile(`"addr": "([^"]+)"`)

// pushServer runs `coco push-server` for home until the test ends and
// returns the address it printed.
func pushServer(t *testing.T, home string) string {
	t.Helper()
	out := background(t, "--home", home, "push-server", "home", "--listen", "127.0.0.1:0", "--dialect", "coconet", "--json")
	var addr string
	waitCoco(t, "push-server to print its address", func() bool {
		m := addrRE.FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	return addr
}

// TestCLIPush: an admin defines keys, groups, routers and aliases with the
// CLI (with and without a daemon), two `coco push-server`s of one network
// carry pushes between their devices, a re-pointed alias and a revoked key
// take effect on both, and a guest may not write.
func TestCLIPush(t *testing.T) {
	hh := homes(t, "alice", "bob", "carol")
	a, b, c := hh[0], hh[1], hh[2]

	// Without a daemon: records are written to the home's ledger; a push
	// server needs the node.
	const key = "11FE313037C5327CD35BAC6C8D66867F"
	created := mustCoco(t, "--home", a, "push", "key", "create", "home", "--key", key, "--name", "lamps", "--json")
	keyID := jsonField(t, created, "id")
	if jsonField(t, created, "key") != key || len(keyID) != 16 {
		t.Fatalf("push key create = %s", created)
	}
	mustCoco(t, "--home", a, "push", "group", "home", "r", "--root")
	mustCoco(t, "--home", a, "push", "group", "home", "a", "r")
	mustCoco(t, "--home", a, "push", "group", "home", "b", "r")
	if _, errOut, code := coco(t, "", "--home", a, "push-server", "home", "--listen", "127.0.0.1:0"); code == 0 || !strings.Contains(errOut, "coco up") {
		t.Fatalf("push-server without a daemon: exit %d, %q; want a hint to run coco up", code, errOut)
	}
	if _, errOut, code := coco(t, "", "--home", a, "push-server", "home"); code != 2 || !strings.Contains(errOut, "--listen") {
		t.Fatalf("push-server without --listen: exit %d, %q", code, errOut)
	}

	startDaemon(t, a)
	inv := jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "admin", "--json"), "code")
	mustCoco(t, "--home", b, "join", inv)
	inv = jsonField(t, mustCoco(t, "--home", a, "invite", "home", "--role", "guest", "--json"), "code")
	mustCoco(t, "--home", c, "join", inv)
	startDaemon(t, b)
	waitCoco(t, "bob to reach alice", func() bool {
		return strings.Contains(mustCoco(t, "--home", b, "peers", "home", "--json"), `"connected": true`)
	})

	// Through the daemons: bob, an admin, adds a router and an alias.
	mustCoco(t, "--home", b, "push", "router", "add", "home", "hall")
	mustCoco(t, "--home", b, "push", "router", "attach", "home", "hall", "a")
	mustCoco(t, "--home", b, "push", "router", "attach", "home", "hall", "b")
	mustCoco(t, "--home", b, "push", "alias", "home", "MY-FRIEND", "a")
	if out := mustCoco(t, "--home", b, "push", "router", "list", "home"); !strings.Contains(out, "hall") || !strings.Contains(out, "a b") {
		t.Errorf("push router list = %q", out)
	}
	if out := mustCoco(t, "--home", b, "push", "group", "home"); !strings.Contains(out, "  r\n    a\n    b\n") {
		t.Errorf("push group = %q, want the tree", out)
	}
	list := mustCoco(t, "--home", b, "push", "key", "list", "home", "--json")
	if !strings.Contains(list, keyID) || strings.Contains(list, key) {
		t.Errorf("push key list = %s, want the key's ID and not the key", list)
	}

	sa, sb := pushServer(t, a), pushServer(t, b)
	r := dialPush(t, sa)
	r.expect("TCP:ID:"+key+":r", "[OK:r]")
	da := dialPush(t, sb)
	// Bob's node was named as his push server started; the key reaches it
	// sealed by whichever admin's daemon reseals first.
	waitCoco(t, "bob's push server to read the key", func() bool { return da.do("TCP:ID:"+key+":a") == "[OK:a]" })
	db := dialPush(t, sb)
	db.expect("TCP:ID:"+key+":b", "[OK:b]")
	// The servers find each other within a round trip or two; until then
	// a push to the other server's ids is OFFLINE.
	waitCoco(t, "a push from alice's server to reach bob's", func() bool {
		return r.do("TCP:PUSH:"+key+":RID:MY-FRIEND:hi") == "[OK:1]"
	})
	if got := da.read(); got != "PUSH:hi" {
		t.Fatalf("a read %q, want PUSH:hi", got)
	}
	r.expect("TCP:PUSH:"+key+":CHILDS:lights", "[OK:2]")
	if got, got2 := da.read(), db.read(); got != "PUSH:lights" || got2 != "PUSH:lights" {
		t.Fatalf("children read %q, %q; want PUSH:lights", got, got2)
	}
	da.expect("TCP:PUSH:"+key+":PARENT:up", "[OK:1]")
	if got := r.read(); got != "PUSH:up" {
		t.Fatalf("r read %q, want PUSH:up", got)
	}
	r.expect("TCP:PUSH:"+key+":RO:hall:on", "[OK:2]")
	da.read()
	db.read()

	// The device behind MY-FRIEND is replaced: bob re-points the alias.
	da.nc.Close()
	a2 := dialPush(t, sa)
	a2.expect("TCP:ID:"+key+":a2", "[OK:a2]")
	mustCoco(t, "--home", b, "push", "alias", "home", "MY-FRIEND", "a2")
	waitCoco(t, "the new alias to reach alice's server", func() bool {
		return r.do("TCP:PUSH:"+key+":RID:MY-FRIEND:off") == "[OK:1]"
	})
	if got := a2.read(); got != "PUSH:off" {
		t.Fatalf("a2 read %q, want PUSH:off", got)
	}
	if out := mustCoco(t, "--home", a, "push", "alias", "home"); !strings.Contains(out, "MY-FRIEND") || !strings.Contains(out, "a2") {
		t.Errorf("push alias = %q", out)
	}

	// A guest cannot write push records, with or without a daemon.
	if _, errOut, code := coco(t, "", "--home", c, "push", "key", "create", "home"); code == 0 || !strings.Contains(errOut, "guest") {
		t.Errorf("guest push key create: exit %d, %q; want a refusal naming the guest", code, errOut)
	}
	if _, errOut, code := coco(t, "", "--home", c, "push", "alias", "home", "X", "r"); code == 0 || !strings.Contains(errOut, "admins") {
		t.Errorf("guest push alias: exit %d, %q", code, errOut)
	}

	// Revoking the key locks its devices out of both servers.
	out := mustCoco(t, "--home", a, "push", "key", "revoke", "home", keyID[:6], "--json")
	var revoked map[string]any
	if json.Unmarshal([]byte(out), &revoked) != nil || revoked["id"] != keyID {
		t.Fatalf("push key revoke = %s", out)
	}
	r.expect("TCP:GID:"+key, "[FAIL:KEY]")
	waitCoco(t, "bob's server to refuse the revoked key", func() bool {
		return db.do("TCP:GID:"+key) == "[FAIL:KEY]"
	})

	// The named push servers are alice's and bob's nodes; removing bob, an
	// admin who could read the keys, says to rotate them, and a rotation
	// locks the old key out.
	if out := mustCoco(t, "--home", a, "push", "server", "list", "home", "--json"); strings.Count(out, `"node"`) != 2 {
		t.Errorf("push server list = %s, want two nodes", out)
	}
	k2 := jsonField(t, mustCoco(t, "--home", a, "push", "key", "create", "home", "--name", "k2", "--json"), "key")
	old := dialPush(t, sa)
	old.expect("TCP:ID:"+k2+":old", "[OK:old]")
	if out := mustCoco(t, "--home", a, "remove", "home", "bob"); !strings.Contains(out, "coco push key rotate home main") {
		t.Errorf("remove bob = %q, want a hint to rotate the keys of account main", out)
	}
	if out := mustCoco(t, "--home", a, "push", "key", "list", "home"); !strings.Contains(out, "should rotate") || !strings.Contains(out, "bob") {
		t.Errorf("push key list after removing bob = %q, want the key marked to rotate", out)
	}
	rotated := mustCoco(t, "--home", a, "push", "key", "rotate", "home", "main", "--json")
	var ks []map[string]any
	if json.Unmarshal([]byte(rotated), &ks) != nil || len(ks) != 1 || ks[0]["key"] == k2 || ks[0]["key"] == "" {
		t.Fatalf("push key rotate = %s", rotated)
	}
	old.expect("TCP:GID:"+k2, "[FAIL:KEY]")
	dialPush(t, sa).expect("TCP:ID:"+ks[0]["key"].(string)+":new", "[OK:new]")
	if out := mustCoco(t, "--home", a, "push", "key", "list", "home"); strings.Contains(out, "should rotate") {
		t.Errorf("push key list after rotating = %q, want no mark", out)
	}

	for _, args := range [][]string{
		{"push", "router", "fly", "home"},
		{"push", "key", "create"},
		{"push", "alias", "home", "X"},
		{"push", "group", "home", "x", "--root", "--remove"},
	} {
		if _, _, code := coco(t, "", append([]string{"--home", a}, args...)...); code != 2 {
			t.Errorf("coco %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}
	if _, errOut, code := coco(t, "", "--home", a, "push", "router", "attach", "home", "nope", "x"); code != 1 || !strings.Contains(errOut, "add it first") {
		t.Errorf("attach to an unknown router: exit %d, %q", code, errOut)
	}
}

// TestCLIPushDialect: `coco push-server` speaks the original P2Pcluster
// protocol by default (no terminator needed, replies without one, ids
// upper-cased, STCP with the account's user id before TCP:ID).
func TestCLIPushDialect(t *testing.T) {
	a := homes(t, "alice")[0]
	const key = "11FE313037C5327CD35BAC6C8D66867F"
	mustCoco(t, "--home", a, "push", "key", "create", "home", "--account", "alice@example.com", "--key", key)
	startDaemon(t, a)
	if _, errOut, code := coco(t, "", "--home", a, "push-server", "home", "--listen", "127.0.0.1:0", "--dialect", "mqtt"); code != 2 || !strings.Contains(errOut, "--dialect") {
		t.Fatalf("push-server --dialect mqtt: exit %d, %q", code, errOut)
	}
	out := background(t, "--home", a, "push-server", "home", "--listen", "127.0.0.1:0", "--json")
	var addr string
	waitCoco(t, "push-server to print its address", func() bool {
		m := addrRE.FindStringSubmatch(out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	var d *device
	exchange := func(cmd, want string) {
		t.Helper()
		if _, err := io.WriteString(d.nc, cmd); err != nil {
			t.Fatal(err)
		}
		d.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(d.r, got); err != nil || string(got) != want {
			t.Fatalf("%q → %q (%v), want %q", cmd, got, err, want)
		}
	}
	waitCoco(t, "the push server to read the key", func() bool {
		d = dialPush(t, addr) // a connection with too many wrong keys is closed
		io.WriteString(d.nc, "TCP:ID:"+key+":lamp\r\n")
		d.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 9)
		_, err := io.ReadFull(d.r, b)
		return err == nil && string(b) == "[OK:LAMP]"
	})
	exchange("tcp:gid:"+strings.ToLower(key), "[OK:LAMP]")
	// HTTP on the device port: an edit lands in the network's ledger.
	h := dialPush(t, addr)
	io.WriteString(h.nc, "GET /ADDNODE?KEY="+key+"&PNODE=hub&NODE=lamp HTTP/1.0\r\n\r\n")
	h.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	if page, err := io.ReadAll(h.r); err != nil || !strings.Contains(string(page), "hub->lamp") {
		t.Fatalf("GET /ADDNODE = %q (%v)", page, err)
	}
	if out := mustCoco(t, "--home", a, "push", "group", "home", "--account", "alice@example.com"); !strings.Contains(out, "hub") || !strings.Contains(out, "lamp") {
		t.Fatalf("push group after GET /ADDNODE = %q, want hub and lamp", out)
	}
	s := dialPush(t, addr)
	io.WriteString(s.nc, "STCP:ALICE@example.com:ACTIVATE")
	s.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	rep := make([]byte, len("[OK:12345678]"))
	if _, err := io.ReadFull(s.r, rep); err != nil || !regexp.MustCompile(`^\[OK:[0-9A-F]{8}\]$`).Match(rep) {
		t.Fatalf("STCP ACTIVATE = %q (%v)", rep, err)
	}
}
