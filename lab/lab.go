package lab

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
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

// Lab is a set of namespaces it created and will delete.
type Lab struct {
	prefix string
	spaces []string
	links  []string
}

// New starts a lab whose namespace names start with prefix.
func New(prefix string) *Lab { return &Lab{prefix: prefix} }

func run(args ...string) error {
	var stderr bytes.Buffer
	c := exec.Command(args[0], args[1:]...)
	c.Stderr = &stderr
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
	l.spaces = append(l.spaces, ns)
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

// Close deletes every namespace (and with them their links).
func (l *Lab) Close() {
	for _, ns := range l.spaces {
		run("ip", "netns", "del", ns)
	}
	l.spaces = nil
}
