package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/ledger"
)

// demoNet is the network the demo creates.
const demoNet = "home"

// demo runs the walkthrough: three homes in a temporary directory, their
// nodes on loopback, and a narration of each step.
type demo struct {
	e     *env
	dir   string
	start time.Time
	homes map[string]string
	nodes map[string]*engine.Engine
	inbox map[string]<-chan coconet.Message

	carolCode string // kept to show it no longer works after the removal
	clock     demoClock

	// the step being narrated
	n       int
	details map[string]any
}

func runDemo(ctx context.Context, e *env, args []string) (err error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	keep := fs.Bool("keep", false, "keep the demo's homes and print where they are")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	dir, err := os.MkdirTemp("", "coco-demo-")
	if err != nil {
		return fmt.Errorf("create a temporary directory for the demo: %w", err)
	}
	d := &demo{e: e, dir: dir, start: time.Now(),
		homes: map[string]string{}, nodes: map[string]*engine.Engine{}, inbox: map[string]<-chan coconet.Message{}}
	defer func() {
		d.closeAll()
		if *keep {
			if e.json && err != nil {
				fmt.Fprintf(e.stderr, "coco demo: the homes are kept in %s\n", dir)
			}
			if !e.json {
				fmt.Fprintf(e.stdout, "\nThe demo's homes are kept in %s; look around with\n  coco --home %s net list\n  coco --home %s members home\n",
					dir, filepath.Join(dir, "alice"), filepath.Join(dir, "alice"))
			}
			return
		}
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("remove the demo's temporary directory: %w", rerr)
		}
	}()
	if !e.json {
		fmt.Fprintln(e.stdout, "coco demo: three people share one private network and a simulated home, all on this machine (127.0.0.1).")
	}
	for _, s := range []struct {
		title string
		run   func(context.Context) error
	}{
		{"Alice, Bob and Carol get identities; Alice creates the network \"home\"", d.create},
		{"Alice invites Bob as an admin; Bob joins and connects", d.joinBob},
		{"Alice invites Carol as a guest; Carol joins", d.joinCarol},
		{"Members send messages; each one is acknowledged by the receiver", d.messages},
		{"Alice adds a gateway of simulated Zigbee bulbs, a plug, a lock and a sensor", d.addGateway},
		{"Bob defines zones and a scene; Alice runs the scene", d.zonesAndScene},
		{"Carol may unlock the front door on Tuesdays and Thursdays, 09:00–09:30 in Kolkata, and nothing else", d.guestWindow},
		{"Alice removes Carol; Carol is cut off", d.remove},
		{"Alice and Bob share an encrypted drive: Alice writes a file, Bob's node reads it", d.demoDrive},
	} {
		if err := d.step(ctx, s.title, s.run); err != nil {
			return err
		}
	}
	return d.step(ctx, "Summary", func(context.Context) error {
		took := time.Since(d.start)
		d.set("seconds", took.Seconds())
		if *keep {
			d.set("dir", dir)
		}
		fate := "the temporary homes are removed"
		if *keep {
			fate = "the homes are kept (see below)"
		}
		d.line("3 identities, 1 network, 2 joins, 4 acknowledged messages, 1 device claimed, a scene of %d actions,", len(demoScene))
		d.line("a guest let in inside her window and refused outside it, 1 removal that took effect at once, 1 file shared in a drive, in %s; %s.",
			took.Round(10*time.Millisecond), fate)
		d.line("Try it for real: `coco init --name YOU`, `coco net create home`, `coco up`; a simulated gateway:")
		d.line("`coco --home /tmp/hub up --device --name Hub --sim zigbee`; `coco help` lists the rest.")
		return nil
	})
}

// step narrates one numbered step: a title, then indented details (human),
// or one JSON object {"step","title","details"} when it is done (--json).
func (d *demo) step(ctx context.Context, title string, run func(context.Context) error) error {
	d.n++
	d.details = map[string]any{}
	if !d.e.json {
		fmt.Fprintf(d.e.stdout, "\n%d. %s.\n", d.n, title)
	}
	if err := run(ctx); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		return fmt.Errorf("step %d (%s) failed: %w", d.n, title, err)
	}
	if d.e.json {
		return json.NewEncoder(d.e.stdout).Encode(struct {
			Step    int            `json:"step"`
			Title   string         `json:"title"`
			Details map[string]any `json:"details"`
		}{d.n, title, d.details})
	}
	return nil
}

// line prints an indented detail line (human output only).
func (d *demo) line(format string, args ...any) {
	if !d.e.json {
		fmt.Fprintf(d.e.stdout, "   "+format+"\n", args...)
	}
}

// set records a detail for the JSON output.
func (d *demo) set(key string, v any) { d.details[key] = v }

func (d *demo) closeAll() {
	for _, name := range []string{"hub", "carol", "bob", "alice"} {
		if n := d.nodes[name]; n != nil {
			n.Close()
		}
	}
}

// startNode starts name's node in the demo network on loopback and
// subscribes to its messages.
func (d *demo) startNode(ctx context.Context, name string) (*engine.Engine, error) {
	n, err := engine.StartIn(ctx, d.homes[name], demoNet, engine.Config{ListenHost: "127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("start %s's node: %w", name, err)
	}
	d.nodes[name] = n
	d.inbox[name], _ = n.Messages() // Close ends the subscription
	return n, nil
}

func (d *demo) create(ctx context.Context) error {
	ids := map[string]string{}
	for _, name := range []string{"alice", "bob", "carol"} {
		home := filepath.Join(d.dir, name)
		id, err := homedir.Init(home, name)
		if err != nil {
			return fmt.Errorf("create %s's identity: %w", name, err)
		}
		d.homes[name] = home
		ids[name] = id.ID().String()
		d.line("%-6s user %s", name, id.ID().Short())
	}
	d.line("(a user ID is an Ed25519 public key, derived from a fresh 32-byte seed kept in that person's home)")
	d.set("users", ids)
	l, err := homedir.CreateNetwork(d.homes["alice"], demoNet, "user", "")
	if err != nil {
		return fmt.Errorf("alice creates %q: %w", demoNet, err)
	}
	d.line("alice created %q: network %s (the hash of the genesis entry alice signed, so the ID names its owner)", demoNet, l.Network().Short())
	d.set("network", l.Network().String())
	n, err := d.startNode(ctx, "alice")
	if err != nil {
		return err
	}
	var addrs []string
	for _, a := range n.Node().Host().Addrs() {
		addrs = append(addrs, a.String())
	}
	d.line("alice's node is up at %s", strings.Join(addrs, " and "))
	d.line("its node ID is %s (the node's own Ed25519 key, certified in the ledger by alice)", n.PeerID())
	d.set("alice_node", n.PeerID().String())
	d.set("alice_addrs", addrs)
	return nil
}

// invite has alice invite name with role; the code is redeemed by join.
func (d *demo) invite(name string, role ledger.Role) (string, error) {
	code, expires, err := d.nodes["alice"].Invite(engine.InviteOptions{Role: role})
	if err != nil {
		return "", fmt.Errorf("alice invites %s: %w", name, err)
	}
	d.line("alice invites %s as %s: code %s (%d characters, one use, valid until %s)",
		name, role, shorten(code), len(code), expires.Local().Format("Jan 2 15:04 MST"))
	d.set("code", shorten(code))
	d.set("role", role.String())
	d.set("expires", expires)
	return code, nil
}

// join redeems code into name's home, starts name's node and teaches it the
// member addresses the join returned.
func (d *demo) join(ctx context.Context, name, code string) (*engine.Engine, error) {
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	start := time.Now()
	l, peers, err := homedir.Join(jctx, d.homes[name], code, homedir.JoinOptions{})
	if err != nil {
		return nil, fmt.Errorf("%s joins: %w", name, err)
	}
	id, err := homedir.LoadIdentity(d.homes[name])
	if err != nil {
		return nil, err
	}
	d.line("%s redeemed the code at alice's node in %s and got the ledger: %d members, %s's role is %s",
		name, time.Since(start).Round(time.Millisecond), len(l.State().Members), name, l.State().Role(id.ID()))
	n, err := d.startNode(ctx, name)
	if err != nil {
		return nil, err
	}
	n.Node().AddPeerAddrs(peers)
	return n, nil
}

// waitConnected polls from's Peers until a node of user `to` is connected.
func (d *demo) waitConnected(ctx context.Context, from, to string) (coconet.PeerInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n := d.nodes[from]
	for {
		for _, p := range n.Peers(ctx) {
			if p.UserName == to && p.Connected {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return coconet.PeerInfo{}, fmt.Errorf("%s's node did not connect to %s's within 10s (both run on 127.0.0.1; is a firewall blocking loopback?)", from, to)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describeLink prints how from reaches to: path, transport, RTT and the
// connection's security, read from the live connection.
func (d *demo) describeLink(from, to string, p coconet.PeerInfo) {
	transport := transportOf(p.Addr)
	rtt := "not measured"
	if p.RTT > 0 {
		rtt = p.RTT.Round(time.Microsecond).String()
	}
	d.line("%s → %s: path %s over %s (%s), RTT %s", from, to, p.Path, transport, p.Addr, rtt)
	link := map[string]any{"from": from, "to": to, "path": p.Path, "transport": transport, "addr": p.Addr, "rtt_ns": p.RTT}

	security := "Noise (X25519 key exchange, ChaCha20-Poly1305)"
	keyType := "Ed25519"
	if conns := d.nodes[from].Node().Host().Network().ConnsToPeer(p.Node); len(conns) > 0 {
		c := conns[0]
		switch st := c.ConnState(); {
		case st.Security != "":
			security = fmt.Sprintf("%s (X25519 key exchange, ChaCha20-Poly1305)", st.Security)
		case transport == "quic":
			security = "TLS 1.3, built into QUIC"
		}
		if k := c.RemotePublicKey(); k != nil {
			keyType = k.Type().String()
		}
	}
	d.line("encrypted end to end with %s;", security)
	d.line("%s's node proved it holds its %s node key, which %s's copy of the ledger certifies as %s's", to, keyType, from, to)
	link["security"], link["node_key"] = security, keyType
	d.set("link", link)
}

func (d *demo) joinBob(ctx context.Context) error {
	code, err := d.invite("bob", ledger.RoleAdmin)
	if err != nil {
		return err
	}
	if _, err := d.join(ctx, "bob", code); err != nil {
		return err
	}
	p, err := d.waitConnected(ctx, "bob", "alice")
	if err != nil {
		return err
	}
	d.describeLink("bob", "alice", p)
	return nil
}

func (d *demo) joinCarol(ctx context.Context) error {
	code, err := d.invite("carol", ledger.RoleGuest)
	if err != nil {
		return err
	}
	d.carolCode = code
	if _, err := d.join(ctx, "carol", code); err != nil {
		return err
	}
	p, err := d.waitConnected(ctx, "carol", "alice")
	if err != nil {
		return err
	}
	rtt := "not measured"
	if p.RTT > 0 {
		rtt = p.RTT.Round(time.Microsecond).String()
	}
	d.line("carol → alice: path %s over %s, RTT %s", p.Path, transportOf(p.Addr), rtt)
	d.line("members of %q, as alice's ledger says:", demoNet)
	var members []map[string]string
	for _, m := range d.nodes["alice"].Ledger().State().SortedMembers() {
		d.line("  %-6s %-6s %s", m.Name, m.Role, m.User.Short())
		members = append(members, map[string]string{"name": m.Name, "role": m.Role.String(), "user": m.User.String()})
	}
	d.set("members", members)
	return nil
}

func (d *demo) messages(ctx context.Context) error {
	var sent []map[string]any
	for _, m := range []struct{ from, to, text string }{
		{"bob", "alice", "hi alice, bob here"},
		{"alice", "bob", "welcome, bob!"},
		{"carol", "alice", "thanks for the invite"},
	} {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		start := time.Now()
		err := d.nodes[m.from].Send(sctx, m.to, []byte(m.text))
		took := time.Since(start)
		cancel()
		if err != nil {
			return fmt.Errorf("%s → %s: %w", m.from, m.to, err)
		}
		got, err := d.receive(ctx, m.to)
		if err != nil {
			return err
		}
		d.line("%s → %s: %q, acknowledged in %s", m.from, m.to, m.text, took.Round(10*time.Microsecond))
		d.line("  %s received %q from %s (the name comes from %s's ledger, not from the message)",
			m.to, got.Data, got.FromName, m.to)
		if got.FromName != m.from || string(got.Data) != m.text {
			return fmt.Errorf("%s received %q from %q, want %q from %s", m.to, got.Data, got.FromName, m.text, m.from)
		}
		sent = append(sent, map[string]any{"from": m.from, "to": m.to, "text": m.text,
			"ack_ns": took, "received_from": got.FromName})
	}
	d.set("messages", sent)
	return nil
}

// receive waits for the next message to name.
func (d *demo) receive(ctx context.Context, name string) (coconet.Message, error) {
	select {
	case m, ok := <-d.inbox[name]:
		if !ok {
			return m, fmt.Errorf("%s's node stopped", name)
		}
		return m, nil
	case <-time.After(5 * time.Second):
		return coconet.Message{}, fmt.Errorf("%s's node acknowledged a message but it did not arrive within 5s", name)
	case <-ctx.Done():
		return coconet.Message{}, ctx.Err()
	}
}

func (d *demo) remove(ctx context.Context) error {
	alice, carol := d.nodes["alice"], d.nodes["carol"]
	carolNode := carol.PeerID()
	start := time.Now()
	m, err := alice.Remove("carol")
	if err != nil {
		return fmt.Errorf("alice removes carol: %w", err)
	}
	// Both ends must see the connection gone, or carol's next send could
	// race the close and fail for another reason.
	if err := waitFor(ctx, 5*time.Second, func() bool {
		return alice.Node().Host().Network().Connectedness(carolNode) != network.Connected &&
			carol.Node().Host().Network().Connectedness(alice.PeerID()) != network.Connected
	}); err != nil {
		return fmt.Errorf("alice's node still has a connection to carol's 5s after the removal")
	}
	d.line("alice removed carol (%s) from the ledger; alice's node dropped carol's connection within %s",
		m.Role, time.Since(start).Round(time.Millisecond))
	d.set("removed", "carol")

	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = carol.Send(sctx, "alice", []byte("still there?"))
	cancel()
	if err == nil {
		return errors.New("carol's message reached alice after carol was removed")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	d.line("carol → alice: not delivered; carol's node says:")
	d.line("  %v", err)
	// Send words every dial failure as "offline"; the node-level error is
	// what libp2p reported for the refused connection.
	sctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	terr := carol.MessageService().Send(sctx, alice.PeerID(), []byte("still there?"))
	cancel()
	if terr == nil {
		return errors.New("carol's message reached alice's node after carol was removed")
	}
	d.set("send_error", err.Error())
	d.set("transport_error", terr.Error())

	// alice is not offline: bob still gets through.
	sctx, cancel = context.WithTimeout(ctx, 10*time.Second)
	start = time.Now()
	err = d.nodes["bob"].Send(sctx, "alice", []byte("still there?"))
	took := time.Since(start)
	cancel()
	if err != nil {
		return fmt.Errorf("bob → alice after carol's removal: %w", err)
	}
	if _, err := d.receive(ctx, "alice"); err != nil {
		return err
	}
	d.line("but alice is online: bob → alice %q is acknowledged in %s.", "still there?", took.Round(10*time.Microsecond))
	d.line("What refused carol is alice's connection gater: it admits only nodes her ledger lists, so her node")
	d.line("closes carol's connection as soon as the handshake shows carol's node key. Underneath, carol's node sees:")
	d.line("  %v", terr)

	// Carol tries her old code again, with a clean slate: her node stopped
	// and her copy of the network gone, as on a fresh install.
	carol.Close()
	delete(d.nodes, "carol")
	if err := os.RemoveAll(homedir.NetworkDir(d.homes["carol"], alice.NetworkID())); err != nil {
		return err
	}
	jctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	_, _, err = homedir.Join(jctx, d.homes["carol"], d.carolCode, homedir.JoinOptions{})
	cancel()
	if err == nil {
		return errors.New("carol's old invite code let her back in")
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	d.line("carol redeems her old invite code again (with a fresh copy of her home): refused. The code is used up, so")
	d.line("alice's gater no longer admits its key, as it admits no expired or revoked code's; Join says:")
	d.line("  %v", err)
	d.set("rejoin_error", err.Error())
	return nil
}

// transportOf names the transport of a multiaddr: quic or tcp.
func transportOf(addr string) string {
	if strings.Contains(addr, "/quic") {
		return "quic"
	}
	return "tcp"
}

// waitFor polls cond every 20ms until it holds or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// shorten abbreviates an invite code. Codes to one network share their
// first characters (they begin with its ID), so the end, which holds a
// checksum, is kept too.
func shorten(code string) string {
	if len(code) <= 32 {
		return code
	}
	return code[:24] + "…" + code[len(code)-6:]
}
