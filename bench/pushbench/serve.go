package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/bench/internal/benchpair"
	"github.com/coconet/coconet/gateway"
	"github.com/coconet/coconet/ledger"
)

// The push servers run in a child process (this program with -serve), as
// Mosquitto runs in its own: their memory is measured alone, and neither
// shares a Go runtime with the clients.

// ready is the child's first line on stdout.
type ready struct {
	Push  []string `json:"push"`  // push server addresses
	Relay string   `json:"relay"` // the io.Copy relay, if asked for
}

// memReport is the child's answer to "mem".
type memReport struct {
	RSS        int64 `json:"rss"`   // bytes, VmRSS
	Heap       int64 `json:"heap"`  // HeapInuse after a GC
	Stack      int64 `json:"stack"` // StackInuse
	Goroutines int   `json:"goroutines"`
}

// raiseNoFile lifts the soft limit of open files to the hard one: 10,000
// connections need as many descriptors.
func raiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// rssOf reads VmRSS of a process from /proc, in bytes.
func rssOf(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

func memNow() memReport {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ := rssOf(os.Getpid())
	return memReport{RSS: rss, Heap: int64(ms.HeapInuse), Stack: int64(ms.StackInuse), Goroutines: runtime.NumGoroutine()}
}

// benchMaxConns lifts the push servers' connection caps: every device of
// the bench connects from 127.0.0.1 (bench/pushflood.sh measures the caps).
const benchMaxConns = 1 << 20

type logWriter struct {
	l   *ledger.Log
	key ed25519.PrivateKey
}

func (w logWriter) Ledger() *ledger.Log                     { return w.l }
func (w logWriter) Append(op ledger.Op) (*ledger.Op, error) { return w.l.Append(w.key, op) }
func (w logWriter) UserKey() ed25519.PrivateKey             { return w.key }

// serve is the child: mode "single" runs one push server whose keys come
// from a network's ledger (as `coco push-server` does); "pair" runs two
// coconet nodes of one network, each with a bridged push server. relayTo,
// if set, adds a plain TCP relay (io.Copy both ways) to that address. It
// prints a ready line, answers "mem" lines on stdin and stops at EOF.
func serve(mode, key, relayTo string) error {
	if _, err := raiseNoFile(); err != nil {
		return fmt.Errorf("raise RLIMIT_NOFILE: %w", err)
	}
	ctx := context.Background()
	var rd ready
	var closers []func()
	defer func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}()
	switch mode {
	case "single":
		dir, err := os.MkdirTemp("", "pushbench-")
		if err != nil {
			return err
		}
		closers = append(closers, func() { os.RemoveAll(dir) })
		home := filepath.Join(dir, "home")
		id, err := homedir.Init(home, "bench")
		if err != nil {
			return err
		}
		l, err := homedir.CreateNetwork(home, "bench", "user", "")
		if err != nil {
			return err
		}
		if _, err := gateway.CreateKey(logWriter{l, id.Seed.UserKey()}, "", "", key); err != nil {
			return err
		}
		store := gateway.NewLedgerStore(l, id.Seed.UserKey()) // the owner reads the keys
		s := &gateway.Server{Listen: "127.0.0.1:0", Keys: store, Dir: store, MaxConns: benchMaxConns, MaxConnsPerIP: benchMaxConns, Dialect: benchDialect()}
		if err := s.Start(ctx); err != nil {
			return err
		}
		closers = append(closers, func() { s.Close() })
		rd.Push = []string{s.Addr().String()}
	case "pair":
		p, err := benchpair.Start(ctx, "pushbench", nil)
		if err != nil {
			return err
		}
		closers = append(closers, p.Close)
		aw := logWriter{p.Alice.Ledger(), p.Alice.Identity().Seed.UserKey()}
		if _, err := gateway.CreateKey(aw, "", "", key); err != nil {
			return err
		}
		for _, n := range []*engine.Engine{p.Alice, p.Bob} { // both nodes run push servers
			if err := gateway.AddServer(aw, n.PeerID()); err != nil {
				return err
			}
		}
		if err := waitFor(20*time.Second, "bob's ledger to sync", func() bool {
			for _, id := range p.Alice.Ledger().IDs() {
				if !p.Bob.Ledger().Has(id) {
					return false
				}
			}
			return true
		}); err != nil {
			return err
		}
		var bridges []*gateway.Bridge
		for _, n := range []*engine.Engine{p.Alice, p.Bob} {
			b, err := gateway.StartBridge(ctx, n, &gateway.Server{Listen: "127.0.0.1:0", MaxConns: benchMaxConns, MaxConnsPerIP: benchMaxConns, Dialect: benchDialect()})
			if err != nil {
				return err
			}
			closers = append(closers, func() { b.Close() })
			bridges = append(bridges, b)
			rd.Push = append(rd.Push, b.Server().Addr().String())
		}
		if err := waitFor(20*time.Second, "the push servers to find each other", func() bool {
			return len(bridges[0].Servers()) == 1 && len(bridges[1].Servers()) == 1
		}); err != nil {
			return err
		}
		for _, c := range p.Alice.Node().Host().Network().ConnsToPeer(p.Bob.PeerID()) {
			fmt.Fprintf(os.Stderr, "pushbench: the push servers' nodes talk over %s\n", c.RemoteMultiaddr())
		}
	default:
		return fmt.Errorf("unknown -serve mode %q", mode)
	}
	if relayTo != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		closers = append(closers, func() { ln.Close(); wg.Wait() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			relay(ln, relayTo, &wg)
		}()
		rd.Relay = ln.Addr().String()
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(rd); err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "mem" {
			enc.Encode(memNow())
		}
	}
	return nil
}

// relay accepts connections and copies each both ways to a new connection
// to target: the plain-TCP counterpart of a raw channel's extra hop.
func relay(ln net.Listener, target string, wg *sync.WaitGroup) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			t, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer t.Close()
			done := make(chan struct{})
			go func() {
				io.Copy(t, c)
				t.(*net.TCPConn).CloseWrite()
				close(done)
			}()
			io.Copy(c, t)
			<-done
		}()
	}
}

func waitFor(timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}
