package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/daemon"
)

// upLockWait bounds how long `coco up` waits for another coco command to
// release the home.
var upLockWait = 30 * time.Second

func runUp(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	host := fs.String("listen-host", "0.0.0.0", "IPv4 address to listen on")
	noMDNS := fs.Bool("no-mdns", false, "turn off LAN discovery")
	quiet := fs.Bool("quiet", false, "log less")
	dev := fs.Bool("device", false, "run as a device: show a claim code until the owner runs `coco device add`")
	name := fs.String("name", "", "the device's name (with --device)")
	model := fs.String("model", "", "the device's model, for OTA (with --device)")
	sim := fs.String("sim", "", "serve simulated resources: zigbee (bulbs, a plug, a lock, a sensor)")
	webAddr := fs.String("web", webDefault, "serve the network app on ADDR (loopback), or off")
	var controls listFlag
	fs.Var(&controls, "control", "control plane multiaddr ending in /p2p/ID (repeatable, or comma-separated)")
	authKey := fs.String("authkey", os.Getenv("COCO_AUTHKEY"), "join the developer network of this auth key (coco net authkey create); default $COCO_AUTHKEY")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := checkWebAddr(*webAddr); err != nil {
		return err
	}
	if *sim != "" && *sim != "zigbee" {
		return usagef("--sim %q: the simulation there is is zigbee", *sim)
	}
	if !*dev && (*name != "" || *model != "") {
		return usagef("--name and --model are for --device")
	}
	lg := log.New(e.stderr, "", log.LstdFlags)
	if *dev && *authKey != "" {
		return usagef("--authkey is for a developer network's node, not a device")
	}
	if *dev {
		if id, err := homedir.LoadIdentity(e.home); err == nil && *name == "" {
			*name = id.Name
		} else if err != nil {
			if *name == "" {
				return usagef("name the device: coco up --device --name \"Front door\"")
			}
			if _, err := homedir.Init(e.home, *name); err != nil {
				return err
			}
			lg.Printf("coco up: made a new device identity in %s", e.home)
		}
	}
	d := &daemon.Daemon{Home: e.home, ListenHost: *host, MDNS: !*noMDNS, Control: controls,
		Device: *dev, DeviceName: *name, DeviceModel: *model, Sim: *sim, AuthKey: *authKey}
	if *dev {
		d.OnClaimCode = func(code string) {
			fmt.Fprintf(e.stdout, "Claim code for device %q (one use; shown until the owner claims it):\n\n  %s\n\nOn the owner's machine: coco device add NETWORK %s\n", d.DeviceName, code, code)
		}
	}
	if !*quiet {
		d.Logf = lg.Printf
	}
	// An offline command (`coco invite` with no daemon running) holds the
	// home's lock while it works: wait for it rather than fail.
	d.LockWait = upLockWait
	d.OnLockWait = func() { lg.Printf("coco up: waiting for another coco command to finish…") }
	if err := d.Start(ctx); err != nil {
		return err
	}
	st, _ := d.Status(ctx)
	lg.Printf("coco up: %s (user %s), %d network(s); API on %s", st.Name, st.User.Short(), len(st.Networks), daemon.SocketPath(e.home))
	for _, n := range st.Networks {
		lg.Printf("  %s (%s): node %s on %v", n.Name, n.Role, n.Node, n.Addrs)
	}
	webSet := false
	fs.Visit(func(f *flag.Flag) { webSet = webSet || f.Name == "web" })
	app, err := startApp(e, d, *webAddr, webSet, lg)
	if err != nil {
		d.Close()
		return err
	}
	defer app.Close()
	<-ctx.Done()
	lg.Printf("coco up: shutting down")
	done := make(chan struct{})
	go func() { d.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("shutdown took over 10s; exiting anyway")
	}
	return nil
}

func runStatus(ctx context.Context, e *env, args []string) error {
	st, err := e.svc.Status(ctx)
	return show(e, st, err, func(w io.Writer) {
		state := "not running (start it with `coco up`)"
		if st.Running {
			state = fmt.Sprintf("running (pid %d)", st.PID)
		}
		fmt.Fprintf(w, "%s (user %s): daemon %s\n", st.Name, st.User.Short(), state)
		if d := st.Device; d != nil {
			if d.Network != "" {
				fmt.Fprintf(w, "  device %q (%s) in network %q\n", d.Name, d.Model, d.Network)
			} else {
				fmt.Fprintf(w, "  device %q (%s) waiting to be claimed: coco device add NETWORK %s\n", d.Name, d.Model, d.ClaimCode)
			}
		}
		for _, n := range st.Networks {
			fmt.Fprintf(w, "  %-16s %-6s %d member(s)", n.Name, n.Role, n.Members)
			if st.Running {
				fmt.Fprintf(w, ", %d peer(s) connected, node %s", n.Connected, n.Node)
			}
			fmt.Fprintln(w)
			for _, c := range n.Control {
				state := "not connected"
				switch {
				case c.Registered && c.Relay:
					state = "registered, relay slot held"
				case c.Registered:
					state = "registered, no relay slot"
				case c.Connected:
					state = "connected, not registered"
				}
				id := c.ID.String()
				if len(id) > 10 {
					id = "…" + id[len(id)-8:]
				}
				fmt.Fprintf(w, "    control %s: %s", id, state)
				if c.Observed != "" {
					fmt.Fprintf(w, "; seen as %s", c.Observed)
				}
				if c.Error != "" {
					fmt.Fprintf(w, "; %s", c.Error)
				}
				fmt.Fprintln(w)
			}
		}
	})
}
