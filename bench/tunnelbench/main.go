// Command tunnelbench measures a coconet tunnel (package tunnel) beside
// `ssh -L` through its own sshd on 127.0.0.1 (with its default cipher and
// with AES-GCM), beside an unencrypted two-hop relay of io.Copy calls (the
// tunnel's shape without its cipher: client → hop → hop → target) and
// beside plain TCP, all to the same target server, in the same run, and
// prints the ratios.
//
// The target reads a connection to EOF and answers the byte count. The
// throughput run sends -mib MiB on one connection; the setup run opens a
// connection, sends one byte, half-closes and waits for the answer — the
// time a client waits before its first exchange through each path.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/coconet/coconet/bench/internal/benchpair"
	"github.com/coconet/coconet/bench/internal/benchstat"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/tunnel"
)

type config struct {
	mib     int
	rounds  int
	setups  int
	jsonOut bool
	noSSH   bool
	tr      string
}

func main() {
	var cfg config
	flag.IntVar(&cfg.mib, "mib", 256, "MiB per throughput transfer")
	flag.IntVar(&cfg.rounds, "rounds", 3, "throughput transfers per path, alternating")
	flag.IntVar(&cfg.setups, "setups", 300, "connection setups per path")
	flag.BoolVar(&cfg.jsonOut, "json", false, "print the results as JSON")
	flag.BoolVar(&cfg.noSSH, "no-ssh", false, "skip ssh -L (when sshd cannot run here)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&cfg.tr, "transport", "auto", "auto (whatever coconet's nodes pick, usually QUIC) or tcp (TCP + Noise + yamux)")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if err := run(cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tunnelbench:", err)
		os.Exit(1)
	}
}

type path struct {
	name string
	addr string
	tput []float64       // MB/s
	set  []time.Duration // setup times
}

// target serves the benchmark protocol on 127.0.0.1.
func target() (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				n, _ := io.CopyBuffer(io.Discard, c, make([]byte, 128<<10))
				var b [8]byte
				binary.BigEndian.PutUint64(b[:], uint64(n))
				c.Write(b[:])
			}()
		}
	}()
	return l, nil
}

// transfer sends n bytes on one connection and waits for the count.
func transfer(addr string, n int64, buf []byte) (time.Duration, error) {
	t0 := time.Now()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	for sent := int64(0); sent < n; {
		k := min(int64(len(buf)), n-sent)
		if _, err := c.Write(buf[:k]); err != nil {
			return 0, err
		}
		sent += k
	}
	c.(*net.TCPConn).CloseWrite()
	var b [8]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		return 0, fmt.Errorf("no answer from the target: %w", err)
	}
	if got := int64(binary.BigEndian.Uint64(b[:])); got != n {
		return 0, fmt.Errorf("target got %d bytes, want %d", got, n)
	}
	return time.Since(t0), nil
}

func run(cfg config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tl, err := target()
	if err != nil {
		return err
	}
	defer tl.Close()
	taddr := tl.Addr().String()
	paths := []*path{{name: "plain tcp", addr: taddr}}

	coAddr, closeCoco, err := setupCoconet(ctx, taddr, cfg.tr)
	if err != nil {
		return fmt.Errorf("coconet setup: %w", err)
	}
	defer closeCoco()
	paths = append(paths, &path{name: "coconet", addr: coAddr})

	rAddr, closeRelay, err := setupRelay(taddr)
	if err != nil {
		return fmt.Errorf("relay setup: %w", err)
	}
	defer closeRelay()
	paths = append(paths, &path{name: "io.Copy relay", addr: rAddr})

	if !cfg.noSSH {
		for _, c := range []struct{ name, cipher string }{{"ssh -L", ""}, {"ssh -L aes-gcm", "aes128-gcm@openssh.com"}} {
			sshAddr, closeSSH, err := setupSSH(ctx, taddr, c.cipher)
			if err != nil {
				return fmt.Errorf("%s setup: %w (run with -no-ssh to skip it)", c.name, err)
			}
			defer closeSSH()
			paths = append(paths, &path{name: c.name, addr: sshAddr})
		}
	}

	buf := make([]byte, 128<<10)
	rand.Read(buf)
	total := int64(cfg.mib) << 20
	for _, p := range paths { // warm up each path
		if _, err := transfer(p.addr, 8<<20, buf); err != nil {
			return fmt.Errorf("%s: warm-up: %w", p.name, err)
		}
	}
	for r := range max(cfg.rounds, 1) {
		for _, p := range alternate(paths, r) {
			d, err := transfer(p.addr, total, buf)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name, err)
			}
			p.tput = append(p.tput, float64(total)/d.Seconds()/1e6)
		}
	}
	const setupRounds = 5
	for r := range setupRounds {
		for _, p := range alternate(paths, r) {
			for range cfg.setups/setupRounds + btoi(r < cfg.setups%setupRounds) {
				d, err := transfer(p.addr, 1, buf)
				if err != nil {
					return fmt.Errorf("%s: setup: %w", p.name, err)
				}
				p.set = append(p.set, d)
			}
		}
	}
	rep := buildReport(cfg, paths)
	if cfg.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printTable(out, rep)
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- coconet ----

func setupCoconet(ctx context.Context, taddr, tr string) (addr string, closeAll func(), err error) {
	pair, err := benchpair.Start(ctx, "tunnelbench", nil)
	if err != nil {
		return "", nil, err
	}
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		pair.Close()
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	alice, bob := pair.Alice, pair.Bob
	as, bs := alice.Streams(), bob.Streams()
	e, err := tunnel.Expose(ctx, as, "target", taddr, nil)
	if err != nil {
		return
	}
	closers = append(closers, func() { e.Close() })
	o, err := tunnel.Open(ctx, bs, alice.PeerID(), "target", "127.0.0.1:0", nil)
	if err != nil {
		return
	}
	closers = append(closers, func() { o.Close() })
	addr = o.Addr().String()
	if tr == "tcp" {
		if err = forceTCP(ctx, alice.Node().Host(), bob.Node().Host()); err != nil {
			return
		}
	}
	buf := make([]byte, 1)
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err = transfer(addr, 1, buf); err == nil {
			return addr, closeAll, nil
		}
		if time.Now().After(deadline) {
			return "", nil, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- io.Copy relay ----

// setupRelay starts two relays in this process: the first accepts the
// client and dials the second, which dials the target; each copies both
// ways with io.Copy and carries half-close. It is what a tunnel does (TCP
// in, a connection between two nodes, TCP out) without encryption or
// multiplexing.
func setupRelay(taddr string) (addr string, closeAll func(), err error) {
	hop := func(to string) (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					d, err := net.Dial("tcp", to)
					if err != nil {
						return
					}
					defer d.Close()
					done := make(chan struct{})
					go func() {
						io.Copy(d, c)
						d.(*net.TCPConn).CloseWrite()
						close(done)
					}()
					io.Copy(c, d)
					c.(*net.TCPConn).CloseWrite()
					<-done
				}()
			}
		}()
		return l, nil
	}
	second, err := hop(taddr)
	if err != nil {
		return "", nil, err
	}
	first, err := hop(second.Addr().String())
	if err != nil {
		second.Close()
		return "", nil, err
	}
	return first.Addr().String(), func() { first.Close(); second.Close() }, nil
}

// ---- ssh -L ----

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// setupSSH runs sshd on 127.0.0.1 with its own config, host key and
// authorized key in a temp dir, and `ssh -N -L` forwarding a local port to
// taddr through it.
func setupSSH(ctx context.Context, taddr, cipher string) (addr string, closeAll func(), err error) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/sshd"); e != nil {
			return "", nil, fmt.Errorf("sshd not found (bench/tunnel.sh installs openssh-server)")
		}
		sshd = "/usr/sbin/sshd"
	}
	dir, err := os.MkdirTemp("", "tunnelbench-ssh-")
	if err != nil {
		return "", nil, err
	}
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
		os.RemoveAll(dir)
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	for _, k := range []string{"host_key", "client_key"} {
		if b, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("ssh-keygen: %v: %s", err, b)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	if err != nil {
		return "", nil, err
	}
	if err = os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		return "", nil, err
	}
	sshPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowTcpForwarding yes
LogLevel ERROR
`, sshPort, dir, dir, dir)
	if err = os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	os.MkdirAll("/run/sshd", 0o755) // sshd's privilege separation directory
	srv := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var srvLog bytes.Buffer // shown only if the setup fails: probes make sshd complain
	srv.Stderr = &srvLog
	if err = srv.Start(); err != nil {
		return "", nil, err
	}
	closers = append(closers, func() { srv.Process.Kill(); srv.Wait() })
	localPort, err := freePort()
	if err != nil {
		return "", nil, err
	}
	user := os.Getenv("USER")
	if user == "" {
		user = "root"
	}
	args := []string{"-N", "-L", fmt.Sprintf("127.0.0.1:%d:%s", localPort, taddr),
		"-p", fmt.Sprint(sshPort), "-i", filepath.Join(dir, "client_key"),
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ExitOnForwardFailure=yes", "-o", "LogLevel=ERROR"}
	if cipher != "" {
		args = append(args, "-c", cipher)
	}
	cli := exec.Command("ssh", append(args, user+"@127.0.0.1")...)
	cli.Stderr = os.Stderr
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, e := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", sshPort)); e == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("sshd did not listen on port %d", sshPort)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err = cli.Start(); err != nil {
		return "", nil, err
	}
	closers = append(closers, func() { cli.Process.Kill(); cli.Wait() })
	addr = fmt.Sprintf("127.0.0.1:%d", localPort)
	buf := make([]byte, 1)
	for deadline := time.Now().Add(15 * time.Second); ; {
		if _, err = transfer(addr, 1, buf); err == nil {
			return addr, closeAll, nil
		}
		if time.Now().After(deadline) {
			return "", nil, fmt.Errorf("no forwarding through ssh -L after 15s: %w; sshd said: %s", err, srvLog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---- report ----

type pathResult struct {
	MBps    []float64 `json:"throughput_mb_s"`
	MedMBps float64   `json:"throughput_median_mb_s"`
	SetP50  float64   `json:"setup_p50_us"`
	SetP99  float64   `json:"setup_p99_us"`
}

type row struct {
	Metric   string  `json:"metric"`
	Unit     string  `json:"unit"`
	Coconet  float64 `json:"coconet"`
	SSH      float64 `json:"ssh_l"`
	SSHAES   float64 `json:"ssh_l_aes_gcm"`
	Relay    float64 `json:"io_copy_relay"`
	TCP      float64 `json:"plain_tcp"`
	VsSSH    float64 `json:"ratio_vs_ssh"`
	VsSSHAES float64 `json:"ratio_vs_ssh_aes_gcm"`
	VsRelay  float64 `json:"ratio_vs_relay"`
	VsTCP    float64 `json:"ratio_vs_tcp"`
}

type report struct {
	Transport  string                `json:"coconet_transport"`
	MiB        int                   `json:"mib_per_transfer"`
	Rounds     int                   `json:"rounds"`
	Setups     int                   `json:"setups"`
	GOMAXPROCS int                   `json:"gomaxprocs"`
	Paths      map[string]pathResult `json:"paths"`
	Rows       []row                 `json:"rows"`
	Note       string                `json:"note"`
}

const note = "ratios are coconet/other for throughput and other/coconet for setup time: above 1 means coconet does better; the goal is throughput at least 1.5x ssh -L and 0.6x the io.Copy relay"

func buildReport(cfg config, paths []*path) report {
	res := map[string]pathResult{}
	for _, p := range paths {
		t := slices.Clone(p.tput)
		slices.Sort(t)
		s := slices.Clone(p.set)
		slices.Sort(s)
		n := len(s)
		res[p.name] = pathResult{MBps: p.tput, MedMBps: t[len(t)/2],
			SetP50: float64(s[(n-1)/2]) / 1e3, SetP99: float64(s[int(math.Ceil(0.99*float64(n)))-1]) / 1e3}
	}
	c, s, a, r, t := res["coconet"], res["ssh -L"], res["ssh -L aes-gcm"], res["io.Copy relay"], res["plain tcp"]
	tput := func(x pathResult) float64 { return benchstat.Ratio(c.MedMBps, x.MedMBps) }
	p50 := func(x pathResult) float64 { return benchstat.Ratio(x.SetP50, c.SetP50) }
	p99 := func(x pathResult) float64 { return benchstat.Ratio(x.SetP99, c.SetP99) }
	rows := []row{
		{"throughput, 1 connection (median)", "MB/s", c.MedMBps, s.MedMBps, a.MedMBps, r.MedMBps, t.MedMBps, tput(s), tput(a), tput(r), tput(t)},
		{"connection setup + first exchange p50", "µs", c.SetP50, s.SetP50, a.SetP50, r.SetP50, t.SetP50, p50(s), p50(a), p50(r), p50(t)},
		{"connection setup + first exchange p99", "µs", c.SetP99, s.SetP99, a.SetP99, r.SetP99, t.SetP99, p99(s), p99(a), p99(r), p99(t)},
	}
	tr := cfg.tr
	if tr == "auto" {
		tr = "auto (usually quic)"
	}
	return report{Transport: tr, MiB: cfg.mib, Rounds: cfg.rounds, Setups: cfg.setups, GOMAXPROCS: runtime.GOMAXPROCS(0), Paths: res, Rows: rows, Note: note}
}

func printTable(w io.Writer, rep report) {
	fmt.Fprintf(w, "tunnel (coconet over %s): coconet tunnel vs ssh -L (own sshd on 127.0.0.1, default cipher and aes128-gcm)\nvs an unencrypted two-hop io.Copy relay vs plain TCP, to one target server;\n", rep.Transport)
	fmt.Fprintf(w, "%d MiB per transfer x %d rounds, %d connection setups per path, GOMAXPROCS=%d\n\n", rep.MiB, rep.Rounds, rep.Setups, rep.GOMAXPROCS)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "metric\tunit\tcoconet\tssh -L\tssh aes\trelay\tplain tcp\tvs ssh\tvs ssh aes\tvs relay\tvs tcp\t")
	for _, r := range rep.Rows {
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", r.Metric, r.Unit, r.Coconet, r.SSH, r.SSHAES, r.Relay, r.TCP, r.VsSSH, r.VsSSHAES, r.VsRelay, r.VsTCP)
	}
	tw.Flush()
	fmt.Fprintln(w, "\n"+note+".")
}

// forceTCP replaces the connection between two hosts with a TCP one; both
// forget the other's QUIC addresses first so no reconnect picks QUIC again.
func forceTCP(ctx context.Context, a, b host.Host) error {
	only := func(addrs []ma.Multiaddr) []ma.Multiaddr {
		var out []ma.Multiaddr
		for _, x := range addrs {
			if _, err := x.ValueForProtocol(ma.P_QUIC_V1); err != nil {
				out = append(out, x)
			}
		}
		return out
	}
	aAddrs, bAddrs := only(a.Addrs()), only(b.Addrs())
	a.Peerstore().ClearAddrs(b.ID())
	b.Peerstore().ClearAddrs(a.ID())
	a.Peerstore().AddAddrs(b.ID(), bAddrs, peerstore.PermanentAddrTTL)
	b.Peerstore().AddAddrs(a.ID(), aAddrs, peerstore.PermanentAddrTTL)
	b.Network().ClosePeer(a.ID())
	a.Network().ClosePeer(b.ID())
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: aAddrs}); err != nil {
		return err
	}
	for _, c := range b.Network().ConnsToPeer(a.ID()) {
		if _, err := c.RemoteMultiaddr().ValueForProtocol(ma.P_QUIC_V1); err == nil {
			return fmt.Errorf("still connected over QUIC")
		}
	}
	return nil
}

// alternate rotates the order of the paths by round, so that no path always
// runs right after another one (and pays for its garbage and cache state).
func alternate[T any](xs []T, round int) []T {
	out := make([]T, 0, len(xs))
	for i := range xs {
		out = append(out, xs[(i+round)%len(xs)])
	}
	return out
}
