package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os/exec"
	"runtime"

	"github.com/coconet/coconet/daemon"
	"github.com/coconet/coconet/web"
)

// webDefault is where `coco up` serves the app without --web; tests make
// it 127.0.0.1:0.
var webDefault = web.DefaultAddr

// startApp serves the network app of `coco up` on addr ("off": not at
// all). The app is a client of the daemon's Service, like the socket's.
// When the default address is taken (another home's daemon on this
// machine), it says so and runs without the app; an address given with
// --web must be free.
func startApp(e *env, d *daemon.Daemon, addr string, explicit bool, lg *log.Logger) (interface{ Close() error }, error) {
	if addr == "off" || addr == "" {
		return nopCloser{}, nil
	}
	if err := checkWebAddr(addr); err != nil {
		return nil, err
	}
	s, err := web.New(d, e.home, lg.Printf)
	if err != nil {
		return nil, err
	}
	s.Metrics = metricsHandler(d.Collector())
	if err := s.Start(addr); err != nil && !explicit {
		lg.Printf("coco up: not serving the network app: %v (choose another address with --web ADDR)", err)
		return nopCloser{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("%w (choose another with --web ADDR, or --web off)", err)
	}
	lg.Printf("coco up: the network app is on %s; open it with `coco app`", s.URL())
	lg.Printf("coco up: metrics on %s/metrics for a scraper sending the bearer token in %s", s.URL(), web.MetricsTokenPath(e.home))
	return s, nil
}

// checkWebAddr refuses a --web address that is not HOST:PORT on loopback
// (or off).
func checkWebAddr(addr string) error {
	if addr == "off" {
		return nil
	}
	if host, _, err := net.SplitHostPort(addr); err != nil {
		return usagef("--web %q: want HOST:PORT or off", addr)
	} else if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		// The login link and the session cookie would cross the network
		// in clear: the app is for this machine.
		return usagef("--web %q: the app serves plain HTTP, so only on a loopback address (127.0.0.1:PORT)", addr)
	}
	return nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// runApp prints the app's login link and opens it in the browser.
func runApp(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("app", flag.ContinueOnError)
	noOpen := fs.Bool("no-open", false, "only print the link")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	u, err := web.LoginURL(e.home)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Open the network app (the link logs in once, within %v):\n\n  %s\n", web.TokenTTL, u)
	if !*noOpen {
		if err := openBrowser(u); err != nil {
			fmt.Fprintf(e.stderr, "coco app: could not open a browser (%v); open the link yourself\n", err)
		}
	}
	return nil
}

func openBrowser(u string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		cmd = exec.Command("xdg-open", u)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
