package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Available reports why the lab cannot run here, or "" when it can.
func Available() string {
	if os.Geteuid() != 0 {
		return "network namespace lab needs root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "network namespace lab needs iproute2 (`apt-get install iproute2`)"
	}
	if err := exec.Command("ip", "netns", "list").Run(); err != nil {
		return "`ip netns` does not work here: " + err.Error()
	}
	return ""
}

// NATAvailable reports why NAT routers cannot be built here, or "" when
// they can: the namespace lab must run and nftables must be installed.
func NATAvailable() string {
	if why := Available(); why != "" {
		return why
	}
	if _, err := exec.LookPath("nft"); err != nil {
		return "NAT lab needs nftables (`apt-get install -y nftables`)"
	}
	return ""
}

// Lab is a set of namespaces it created and will delete.
type Lab struct {
	prefix string
	mu     sync.Mutex
	spaces []string
}

var labSeq atomic.Int64

// New starts a lab whose namespace names start with base. The full prefix
// also carries this process's id and a sequence number, so that labs of
// parallel tests and test binaries never collide; namespaces left by an
// interrupted run (a process that no longer exists) are deleted here.
func New(base string) *Lab {
	removeLeftovers(base)
	return &Lab{prefix: fmt.Sprintf("%s%d-%d-", base, os.Getpid(), labSeq.Add(1))}
}

// removeLeftovers deletes namespaces named base<pid>-… whose process is gone.
func removeLeftovers(base string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], base) {
			continue
		}
		pid, _, ok := strings.Cut(strings.TrimPrefix(f[0], base), "-")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(pid)
		if err != nil || n == os.Getpid() {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); err == nil {
			continue // its process still runs: another test's lab
		}
		run("ip", "netns", "del", f[0])
	}
}

func run(args ...string) error {
	return runIn(nil, args...)
}

func runIn(stdin []byte, args ...string) error {
	var stderr bytes.Buffer
	c := exec.Command(args[0], args[1:]...)
	c.Stderr = &stderr
	if stdin != nil {
		c.Stdin = bytes.NewReader(stdin)
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Namespace creates a namespace with loopback up and returns its name.
func (l *Lab) Namespace(name string) (string, error) {
	ns := l.prefix + name
	run("ip", "netns", "del", ns) // a leftover from an interrupted run
	if err := run("ip", "netns", "add", ns); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.spaces = append(l.spaces, ns)
	l.mu.Unlock()
	return ns, run("ip", "-n", ns, "link", "set", "lo", "up")
}

// Link joins two namespaces with a veth pair and gives each end an address
// (CIDR form) — a two-host LAN segment with multicast.
func (l *Lab) Link(nsA, addrA, nsB, addrB string) error {
	a, b := "veth-"+shortName(nsA), "veth-"+shortName(nsB)
	if err := run("ip", "link", "add", a, "netns", nsA, "type", "veth", "peer", "name", b, "netns", nsB); err != nil {
		return err
	}
	for _, x := range [][3]string{{nsA, a, addrA}, {nsB, b, addrB}} {
		if err := run("ip", "-n", x[0], "addr", "add", x[2], "dev", x[1]); err != nil {
			return err
		}
		if err := run("ip", "-n", x[0], "link", "set", x[1], "up", "multicast", "on"); err != nil {
			return err
		}
	}
	return nil
}

func shortName(ns string) string {
	if len(ns) > 10 {
		return ns[len(ns)-10:]
	}
	return ns
}

// Command runs a program inside a namespace.
func Command(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Close deletes every namespace (and with them their links). It is
// idempotent.
func (l *Lab) Close() {
	l.mu.Lock()
	spaces := l.spaces
	l.spaces = nil
	l.mu.Unlock()
	for _, ns := range spaces {
		run("ip", "netns", "del", ns)
	}
}
