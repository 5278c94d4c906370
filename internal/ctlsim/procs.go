package ctlsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Build compiles `coco` and the etcdmember program into dir (from within
// the module) and returns their paths.
func Build(ctx context.Context, dir string) (coco, etcd string, err error) {
	coco, etcd = filepath.Join(dir, "coco"), filepath.Join(dir, "etcdmember")
	for bin, pkg := range map[string]string{coco: "github.com/coconet/coconet/cmd/coco", etcd: "github.com/coconet/coconet/internal/etcdmember"} {
		out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			return "", "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return coco, etcd, nil
}

// Proc is a process a test or benchmark started.
type Proc struct {
	Name   string
	Cmd    *exec.Cmd
	stderr *os.File
	done   chan struct{}
}

// Kill kills the process with SIGKILL and waits for it.
func (p *Proc) Kill() {
	p.Cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to stop (SIGTERM), then kills it after 10 s.
func (p *Proc) Stop() {
	p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.Kill()
	}
}

// Alive reports whether the process still runs.
func (p *Proc) Alive() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stderr is what the process wrote on stderr so far.
func (p *Proc) Stderr() string {
	b, _ := os.ReadFile(p.stderr.Name())
	return string(b)
}

// RSS is the process's resident memory in bytes.
func (p *Proc) RSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// start starts cmd with stderr to a file in dir; ready reads its stdout
// until it is up.
func start(name, dir string, cmd *exec.Cmd, ready func(io.Reader) error) (*Proc, error) {
	ef, err := os.Create(filepath.Join(dir, name+".stderr"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = ef
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	// Its own process group: killing the test does not leave it running
	// under the same terminal signals, and Kill reaches only it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Proc{Name: name, Cmd: cmd, stderr: ef, done: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- ready(out); io.Copy(io.Discard, out) }()
	go func() { cmd.Wait(); ef.Close(); close(p.done) }()
	select {
	case err := <-errc:
		if err != nil {
			p.Kill()
			return nil, fmt.Errorf("%s: %v; stderr: %s", name, err, p.Stderr())
		}
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited: %s", name, p.Stderr())
	case <-time.After(3 * time.Minute):
		p.Kill()
		return nil, fmt.Errorf("%s not up within 3 minutes: %s", name, p.Stderr())
	}
}

// FreePorts returns n TCP ports free on 127.0.0.1 now.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// StartEtcd starts an etcd cluster of n members (processes of bin) with
// data under dir and returns them and their client URLs.
func StartEtcd(bin, dir string, n int) ([]*Proc, []string, error) {
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, nil, err
	}
	var cluster, clients []string
	for i := range n {
		cluster = append(cluster, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i+1]))
		clients = append(clients, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
	}
	type res struct {
		i   int
		p   *Proc
		err error
	}
	ch := make(chan res, n)
	for i := range n {
		go func() {
			cmd := exec.Command(bin, "-name", fmt.Sprintf("m%d", i), "-dir", filepath.Join(dir, fmt.Sprintf("m%d", i)),
				"-client", clients[i], "-peer", fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]), "-cluster", strings.Join(cluster, ","))
			p, err := start(fmt.Sprintf("etcd-m%d", i), dir, cmd, func(r io.Reader) error {
				s := bufio.NewScanner(r)
				for s.Scan() {
					if s.Text() == "ready" {
						return nil
					}
				}
				return errors.New("no ready line")
			})
			ch <- res{i, p, err}
		}()
	}
	procs := make([]*Proc, n)
	var errs []error
	for range n {
		r := <-ch
		procs[r.i] = r.p
		errs = append(errs, r.err)
	}
	if err := errors.Join(errs...); err != nil {
		for _, p := range procs {
			if p != nil {
				p.Kill()
			}
		}
		return nil, nil, err
	}
	return procs, clients, nil
}

// Control is a running `coco control`.
type Control struct {
	*Proc
	ID    peer.ID
	Addrs []ma.Multiaddr
}

// AddrInfo is where to reach it.
func (c *Control) AddrInfo() peer.AddrInfo { return peer.AddrInfo{ID: c.ID, Addrs: c.Addrs} }

// StartControl runs `coco --home home --json control --listen TCP on
// 127.0.0.1 --state state args…` and waits for it to print its address.
func StartControl(coco, name, home, state string, args ...string) (*Control, error) {
	cmd := exec.Command(coco, append([]string{"--home", home, "--json", "control", "--quiet",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--state", state}, args...)...)
	cmd.Env = append(os.Environ(), "COCO_HOME="+home)
	c := &Control{}
	p, err := start(name, filepath.Dir(state), cmd, func(r io.Reader) error {
		var info struct {
			ID    string   `json:"id"`
			Addrs []string `json:"addrs"`
		}
		if err := json.NewDecoder(r).Decode(&info); err != nil {
			return err
		}
		id, err := peer.Decode(info.ID)
		if err != nil {
			return err
		}
		c.ID = id
		for _, a := range info.Addrs {
			m, err := ma.NewMultiaddr(a)
			if err != nil {
				return err
			}
			ai, err := peer.AddrInfoFromP2pAddr(m)
			if err != nil {
				return err
			}
			c.Addrs = append(c.Addrs, ai.Addrs...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	c.Proc = p
	return c, nil
}

// CPU is the process's user and system CPU time so far.
func (p *Proc) CPU() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which is in parentheses).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil // USER_HZ 100
}

// Heap asks a `coco control` for its live heap after a collection
// (SIGUSR1; it answers with a JSON line on stderr) and returns it.
func (c *Control) Heap() (int64, error) {
	before := strings.Count(c.Stderr(), `"memstats"`)
	if err := c.Cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		lines := strings.Split(c.Stderr(), "\n")
		n := 0
		for _, l := range lines {
			if !strings.Contains(l, `"memstats"`) {
				continue
			}
			if n++; n > before {
				var m struct {
					HeapAlloc int64 `json:"heap_alloc"`
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					return 0, err
				}
				return m.HeapAlloc, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return 0, errors.New("no memstats line")
}
