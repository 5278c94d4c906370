package lab

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// WireConfig is the character of a lab wire (one direction; both
// directions get the same): a fixed one-way delay, independent loss per
// frame, and an optional bottleneck in bytes per second.
type WireConfig struct {
	Delay time.Duration
	Loss  float64
	Rate  int64
	Seed  uint64
}

// Wire is a point-to-point segment between two namespaces that delays and
// drops frames: the userspace stand-in for `tc netem`, which this kernel
// lacks. Each namespace gets one end (a veth) with its address; in the
// middle, a namespace of its own holds two bridges, each joining a veth
// to a TAP device, and the wire program (lab/internal/wire) carries frames
// between the TAP devices.
type Wire struct {
	ns  string
	cmd *exec.Cmd
	out *bufio.Scanner
}

// Wire joins nsA and nsB (addresses in CIDR form) through a wire. bin is
// the built lab/internal/wire program. The interfaces are named "wire0"
// in both namespaces. Close stops the wire; its statistics are returned.
func (l *Lab) Wire(bin, nsA, addrA, nsB, addrB string, cfg WireConfig) (*Wire, error) {
	ns, err := l.Namespace(fmt.Sprintf("w%d", labSeq.Add(1)))
	if err != nil {
		return nil, err
	}
	w := &Wire{ns: ns}
	// The wire runs at a higher priority than the programs it carries, so
	// that the load of the machine shows as little as it can in its delay.
	w.cmd = Command(ns, "nice", "-n", "-10", bin, "-a", "tapa", "-b", "tapb",
		"-delay", cfg.Delay.String(), "-loss", fmt.Sprint(cfg.Loss),
		"-rate", fmt.Sprint(cfg.Rate), "-seed", fmt.Sprint(max(cfg.Seed, 1)))
	w.cmd.Stderr = os.Stderr
	pipe, err := w.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := w.cmd.Start(); err != nil {
		return nil, err
	}
	w.out = bufio.NewScanner(pipe)
	if !w.out.Scan() || w.out.Text() != "ready" {
		w.Close()
		return nil, fmt.Errorf("lab: the wire program did not start")
	}
	for _, args := range [][]string{
		{"ip", "link", "add", "wire0", "netns", nsA, "type", "veth", "peer", "name", "va", "netns", ns},
		{"ip", "link", "add", "wire0", "netns", nsB, "type", "veth", "peer", "name", "vb", "netns", ns},
		{"ip", "-n", ns, "link", "add", "bra", "type", "bridge"},
		{"ip", "-n", ns, "link", "add", "brb", "type", "bridge"},
		{"ip", "-n", ns, "link", "set", "va", "master", "bra"},
		{"ip", "-n", ns, "link", "set", "tapa", "master", "bra"},
		{"ip", "-n", ns, "link", "set", "vb", "master", "brb"},
		{"ip", "-n", ns, "link", "set", "tapb", "master", "brb"},
		{"ip", "-n", ns, "link", "set", "va", "up"},
		{"ip", "-n", ns, "link", "set", "vb", "up"},
		{"ip", "-n", ns, "link", "set", "tapa", "up"},
		{"ip", "-n", ns, "link", "set", "tapb", "up"},
		{"ip", "-n", ns, "link", "set", "bra", "up"},
		{"ip", "-n", ns, "link", "set", "brb", "up"},
		{"ip", "-n", nsA, "addr", "add", addrA, "dev", "wire0"},
		{"ip", "-n", nsB, "addr", "add", addrB, "dev", "wire0"},
		{"ip", "-n", nsA, "link", "set", "wire0", "up"},
		{"ip", "-n", nsB, "link", "set", "wire0", "up"},
	} {
		if err := run(args...); err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// Close stops the wire program and returns what it counted ("frames A>B
// N dropped D" lines).
func (w *Wire) Close() string {
	if w.cmd.Process == nil {
		return ""
	}
	w.cmd.Process.Signal(os.Interrupt)
	var lines []string
	for w.out.Scan() {
		lines = append(lines, w.out.Text())
	}
	w.cmd.Wait()
	return strings.Join(lines, "; ")
}
