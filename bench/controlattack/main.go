// Command controlattack attacks a running `coco control` from this process,
// as a stranger with throwaway keys would, and measures what it costs the
// control plane and whether a real member is still served:
//
//   - streams: one connection opens many control streams (default 8,000),
//     each declaring a 192 KiB request and sending a few bytes of it, and
//     keeps every one open (a stream that is reset is opened again);
//   - connections: many connections (default 3,000), each from a new key,
//     each with one such stream, kept open the same way;
//   - meanwhile a member of a real network (owner-signed certificates) registers
//     a node and looks up the network every second; it prints the slowest
//     register + lookup;
//   - the control plane's peak resident memory (VmHWM in /proc/PID/status)
//     and its resident memory before the attack.
//
// It starts the control plane itself, from the binary given (--coco; also
// --before, a second binary measured the same way, e.g. main's), on
// 127.0.0.1. bench/controlattack.sh builds the binaries.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/record"
	"github.com/libp2p/go-libp2p/core/sec"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/net/upgrader"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

type config struct {
	coco, before string
	streams      int
	conns        int
	duration     time.Duration
	ramp         time.Duration
	send         int
	json         bool
}

// result is one binary's figures.
type result struct {
	Binary          string  `json:"binary"`
	RSSBeforeMB     float64 `json:"rss_before_mb"`
	PeakRSSMB       float64 `json:"peak_rss_mb"` // VmHWM
	StreamsOpen     int64   `json:"streams_open_max"`
	StreamsOpened   int64   `json:"streams_opened"`
	ConnsOpen       int64   `json:"conns_open_max"`
	ConnsOpened     int64   `json:"conns_opened"`
	RampS           float64 `json:"ramp_s"`             // time to open every connection before probing
	ConnsAtProbeMin int64   `json:"conns_at_probe_min"` // the fewest attack connections open at a probe
	Probes          int     `json:"member_probes"`
	ProbeFails      int     `json:"member_probe_failures"`
	ProbeMaxMs      float64 `json:"member_register_lookup_max_ms"`
	ProbeP50Ms      float64 `json:"member_register_lookup_p50_ms"`
	Alive           bool    `json:"alive"` // the control plane still ran at the end
	Pass            bool    `json:"pass"`  // peak RSS < 300 MB and every probe within 2 s
	FirstError      string  `json:"first_probe_error,omitempty"`
	name            string
}

func main() {
	var c config
	flag.StringVar(&c.coco, "coco", "", "the coco binary to attack (required)")
	flag.StringVar(&c.before, "before", "", "a second coco binary to attack the same way first (e.g. main's), for before/after figures")
	flag.IntVar(&c.streams, "streams", 8000, "control streams held open on one connection")
	flag.IntVar(&c.conns, "conns", 3000, "connections held open, each from a new key")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "how long the member probes once the attack is up")
	flag.DurationVar(&c.ramp, "ramp", 120*time.Second, "longest wait for the attack to open every connection before probing")
	flag.IntVar(&c.send, "send", 64, "bytes of each declared 192 KiB request actually sent (up to 196608)")
	flag.BoolVar(&c.json, "json", false, "print JSON")
	flag.Parse()
	sendBytes = c.send
	if c.coco == "" {
		fmt.Fprintln(os.Stderr, "controlattack: --coco BINARY is required")
		os.Exit(2)
	}
	var results []result
	for _, bin := range []string{c.before, c.coco} {
		if bin == "" {
			continue
		}
		r, err := attack(c, bin)
		r.name = "after"
		if bin == c.before {
			r.name = "before"
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "controlattack: %s: %v\n", bin, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	if c.json {
		json.NewEncoder(os.Stdout).Encode(results)
	} else {
		fmt.Printf("attack on `coco control` (127.0.0.1): %d streams on one connection + %d connections from new keys, each stream declaring 192 KiB and sending %d bytes; member probes for %v once they are open\n", c.streams, c.conns, sendBytes, c.duration)
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "binary\tRSS before\tpeak RSS (VmHWM)\tstreams opened / open (max)\tconns opened / open (max) / at probes (min)\tramp\tmember reg+lookup p50 / max\tprobe failures\tgoal (<300 MB, ≤2 s)")
		for _, r := range results {
			verdict := "FAIL"
			if r.Pass {
				verdict = "pass"
			}
			if !r.Alive {
				verdict += " (control plane died)"
			}
			fmt.Fprintf(tw, "%s\t%.0f MB\t%.0f MB\t%d / %d\t%d / %d / %d\t%.0f s\t%.0f / %.0f ms\t%d/%d\t%s\n", r.name, r.RSSBeforeMB, r.PeakRSSMB,
				r.StreamsOpened, r.StreamsOpen, r.ConnsOpened, r.ConnsOpen, r.ConnsAtProbeMin, r.RampS, r.ProbeP50Ms, r.ProbeMaxMs, r.ProbeFails, r.Probes, verdict)
		}
		tw.Flush()
		for _, r := range results {
			if r.FirstError != "" {
				fmt.Printf("%s: first failed probe: %s\n", r.name, r.FirstError)
			}
		}
	}
	for _, r := range results {
		if r.Binary == c.coco && !r.Pass {
			os.Exit(1)
		}
	}
}

// controlInfo is what `coco --json control` prints.
type controlInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

func attack(c config, bin string) (result, error) {
	r := result{Binary: bin}
	dir, err := os.MkdirTemp("", "controlattack-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--home", filepath.Join(dir, "home"), "--json", "control", "--quiet",
		"--listen", "/ip4/127.0.0.1/tcp/0", "--state", filepath.Join(dir, "state"))
	cmd.Stderr = io.Discard
	out, err := cmd.StdoutPipe()
	if err != nil {
		return r, err
	}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	var info controlInfo
	if err := json.NewDecoder(bufio.NewReader(out)).Decode(&info); err != nil {
		return r, fmt.Errorf("read the control plane's address: %w", err)
	}
	go io.Copy(io.Discard, out)
	server, err := peer.Decode(info.ID)
	if err != nil {
		return r, err
	}
	var addr ma.Multiaddr
	for _, a := range info.Addrs {
		if strings.Contains(a, "/tcp/") {
			m, err := ma.NewMultiaddr(strings.Split(a, "/p2p/")[0])
			if err != nil {
				return r, err
			}
			addr = m
		}
	}
	if addr == nil {
		return r, errors.New("the control plane has no TCP address")
	}
	pid := cmd.Process.Pid

	// A real network with two nodes of its owner; the first registers now.
	net := newNetwork()
	a, err := net.node()
	if err != nil {
		return r, err
	}
	defer a.h.Close()
	if err := a.register(ctx, server, addr); err != nil {
		return r, fmt.Errorf("member registration before the attack: %w", err)
	}
	time.Sleep(500 * time.Millisecond)
	r.RSSBeforeMB = status(pid, "VmRSS")

	attackCtx, stopAttack := context.WithCancel(ctx)
	defer stopAttack()
	actx := attackCtx
	var wg sync.WaitGroup
	var st counters
	wg.Add(1)
	go func() { defer wg.Done(); st.streamAttack(actx, server, addr, c.streams) }()
	wg.Add(1)
	go func() { defer wg.Done(); st.connAttack(actx, server, addr, c.conns) }()

	// Let the attack build up (all connections and streams open, or
	// --ramp passed), then probe as a member once a second for --duration.
	rampEnd := time.Now().Add(c.ramp)
	for time.Now().Before(rampEnd) && ctx.Err() == nil {
		if st.connsOpen.Load() >= int64(c.conns) && st.streamsTried.Load() >= int64(c.streams) {
			break
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-exited:
			rampEnd = time.Now()
		}
	}
	r.RampS = time.Since(rampEnd.Add(-c.ramp)).Seconds()
	actx, stop := context.WithTimeout(actx, c.duration)
	defer stop()
	r.ConnsAtProbeMin = int64(c.conns)
	// The probing member is one more node of the network, coming back
	// (a new host, a new connection) once a second.
	bkey, err := net.nodeKey()
	if err != nil {
		return r, err
	}
	var lat []time.Duration
	for actx.Err() == nil {
		b, err := net.nodeWith(bkey)
		if err != nil {
			return r, err
		}
		r.ConnsAtProbeMin = min(r.ConnsAtProbeMin, st.connsOpen.Load())
		pctx, pc := context.WithTimeout(ctx, 10*time.Second)
		t0 := time.Now()
		err = b.connect(pctx, server, addr)
		t1 := time.Now()
		if err == nil {
			err = b.register(pctx, server, addr)
		}
		t2 := time.Now()
		var found []peer.AddrInfo
		if err == nil {
			found, err = controlproto.Lookup(pctx, b.h, server, b.proof)
			if err == nil && !slices.ContainsFunc(found, func(ai peer.AddrInfo) bool { return ai.ID == a.h.ID() }) {
				err = fmt.Errorf("lookup did not list the first node (%d records)", len(found))
			}
		}
		d := time.Since(t0)
		if d > 2*time.Second && err == nil {
			err = fmt.Errorf("took %v (connect %v, register %v, lookup %v)", d.Round(time.Millisecond),
				t1.Sub(t0).Round(time.Millisecond), t2.Sub(t1).Round(time.Millisecond), time.Since(t2).Round(time.Millisecond))
		}
		pc()
		b.h.Close()
		r.Probes++
		if err != nil || d > 2*time.Second {
			r.ProbeFails++
			if r.FirstError == "" {
				r.FirstError = err.Error()
			}
		}
		lat = append(lat, d)
		select {
		case <-actx.Done():
		case <-time.After(time.Second):
		}
	}
	stopAttack()
	wg.Wait()
	select {
	case <-exited:
	default:
		r.Alive = true
	}
	r.PeakRSSMB = status(pid, "VmHWM")
	if !r.Alive {
		r.PeakRSSMB = -1
	}
	r.StreamsOpen, r.StreamsOpened = st.streamsMax.Load(), st.streamsOpened.Load()
	r.ConnsOpen, r.ConnsOpened = st.connsMax.Load(), st.connsOpened.Load()
	if len(lat) > 0 {
		slices.Sort(lat)
		r.ProbeP50Ms = ms(lat[len(lat)/2])
		r.ProbeMaxMs = ms(lat[len(lat)-1])
	}
	r.Pass = r.Alive && r.PeakRSSMB < 300 && r.Probes > 0 && r.ProbeFails == 0
	return r, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// status reads a field of /proc/PID/status in MB (10^6 bytes).
func status(pid int, field string) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			return kb * 1024 / 1e6
		}
	}
	return -1
}

// sendBytes is --send.
var sendBytes = 64

type counters struct {
	streamsOpen, streamsMax, streamsOpened atomic.Int64
	streamsTried                           atomic.Int64 // streams of the stream attack tried at least once
	connsOpen, connsMax, connsOpened       atomic.Int64
}

func raise(cur, mx *atomic.Int64, d int64) {
	n := cur.Add(d)
	for {
		m := mx.Load()
		if n <= m || mx.CompareAndSwap(m, n) {
			return
		}
	}
}

// header is what a stream says before the control protocol: a
// multistream-select negotiation sent without waiting for the answer, then
// a request frame that declares 192 KiB, of which send bytes follow.
func header() []byte {
	var b []byte
	for _, line := range []string{"/multistream/1.0.0\n", controlproto.Protocol + "\n"} {
		b = binary.AppendUvarint(b, uint64(len(line)))
		b = append(b, line...)
	}
	b = binary.AppendUvarint(b, 192<<10)
	return append(b, make([]byte, min(sendBytes, 192<<10))...)
}

// hold opens a stream on open, sends the header and waits until the
// control plane ends it; it does so again until ctx ends.
func hold(ctx context.Context, open func() (io.ReadWriteCloser, error), cur, mx, opened *atomic.Int64) {
	hdr := header()
	for ctx.Err() == nil {
		s, err := open()
		if err == nil {
			_, err = s.Write(hdr)
		}
		if err != nil {
			if s != nil {
				s.Close()
			}
			if errors.Is(err, errConnGone) {
				return
			}
			// Refused: try again soon. (The attack runs on the same
			// machine as the control plane: a tighter loop would only
			// measure this process taking the CPU.)
			sleep(ctx, time.Second)
			continue
		}
		opened.Add(1)
		raise(cur, mx, 1)
		done := make(chan struct{})
		go func() {
			io.Copy(io.Discard, s)
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
		}
		s.Close()
		cur.Add(-1)
		sleep(ctx, 50*time.Millisecond)
	}
}

var errConnGone = errors.New("connection closed")

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// streamAttack holds n control streams on one connection of one stranger.
func (st *counters) streamAttack(ctx context.Context, server peer.ID, addr ma.Multiaddr, n int) {
	for ctx.Err() == nil {
		conn, err := dialRaw(ctx, server, addr)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		raise(&st.connsOpen, &st.connsMax, 0)
		cctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tried := false
				hold(cctx, func() (io.ReadWriteCloser, error) {
					if !tried {
						tried = true
						st.streamsTried.Add(1)
					}
					if conn.IsClosed() {
						return nil, errConnGone
					}
					return conn.OpenStream(cctx)
				}, &st.streamsOpen, &st.streamsMax, &st.streamsOpened)
			}()
		}
		wg.Wait()
		cancel()
		conn.Close()
	}
}

// connAttack holds n connections, each from a new key, each with one
// control stream.
func (st *counters) connAttack(ctx context.Context, server peer.ID, addr ma.Multiaddr, n int) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // handshakes in flight
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				sem <- struct{}{}
				conn, err := dialRaw(ctx, server, addr)
				<-sem
				if err != nil {
					sleep(ctx, 500*time.Millisecond)
					continue
				}
				st.connsOpened.Add(1)
				raise(&st.connsOpen, &st.connsMax, 1)
				var dummy atomic.Int64
				hold(ctx, func() (io.ReadWriteCloser, error) {
					if conn.IsClosed() {
						return nil, errConnGone
					}
					return conn.OpenStream(ctx)
				}, &dummy, &dummy, &dummy)
				conn.Close()
				st.connsOpen.Add(-1)
			}
		}()
	}
	wg.Wait()
}

// rawConn is a TCP, Noise, yamux connection without a host around it: a
// stranger's cheapest way in.
type rawConn interface {
	OpenStream(context.Context) (network.MuxedStream, error)
	IsClosed() bool
	Close() error
}

func dialRaw(ctx context.Context, server peer.ID, addr ma.Multiaddr) (rawConn, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	muxers := []upgrader.StreamMuxer{{ID: yamux.ID, Muxer: yamux.DefaultTransport}}
	st, err := noise.New(noise.ID, k, muxers)
	if err != nil {
		return nil, err
	}
	up, err := upgrader.New([]sec.SecureTransport{st}, muxers, nil, &network.NullResourceManager{}, nil)
	if err != nil {
		return nil, err
	}
	tr, err := tcp.NewTCPTransport(up, &network.NullResourceManager{}, nil)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := tr.Dial(dctx, addr, server)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// testNet is a network made here: its owner key and genesis.
type testNet struct {
	owner   ed25519.PrivateKey
	genesis *ledger.Op
	id      ledger.NetworkID
}

func newNetwork() *testNet {
	_, owner, _ := ed25519.GenerateKey(rand.Reader)
	nonce := make([]byte, ledger.NonceSize)
	rand.Read(nonce)
	g := &ledger.Op{V: ledger.Version, Time: time.Now().UnixMilli(), Kind: ledger.KindGenesis,
		SubjectName: "owner", Name: "attack", NetKind: "user", Nonce: nonce}
	g.Sign(owner)
	return &testNet{owner: owner, genesis: g, id: ledger.NetworkID(g.ID())}
}

// memberNode is a libp2p host with a certificate from the owner.
type memberNode struct {
	h     host.Host
	key   ed25519.PrivateKey
	proof []byte
}

func (n *testNet) nodeKey() (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	return priv, err
}

func (n *testNet) node() (*memberNode, error) {
	priv, err := n.nodeKey()
	if err != nil {
		return nil, err
	}
	return n.nodeWith(priv)
}

func (n *testNet) nodeWith(priv ed25519.PrivateKey) (*memberNode, error) {
	k, err := crypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs, libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New), libp2p.DisableRelay())
	if err != nil {
		return nil, err
	}
	var node [32]byte
	copy(node[:], priv.Public().(ed25519.PublicKey))
	owner := identity.UserIDOf(n.owner.Public().(ed25519.PublicKey))
	c := member.IssueCert(n.owner, n.id, node, owner, ledger.RoleOwner, time.Now(), time.Hour)
	p := &member.Proof{Genesis: n.genesis, Cert: c}
	return &memberNode{h: h, key: priv, proof: p.Marshal()}, nil
}

func (m *memberNode) connect(ctx context.Context, server peer.ID, addr ma.Multiaddr) error {
	if err := m.h.Connect(ctx, peer.AddrInfo{ID: server, Addrs: []ma.Multiaddr{addr}}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}

func (m *memberNode) register(ctx context.Context, server peer.ID, addr ma.Multiaddr) error {
	if err := m.connect(ctx, server, addr); err != nil {
		return err
	}
	rec := peer.PeerRecordFromAddrInfo(peer.AddrInfo{ID: m.h.ID(), Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/9")}})
	env, err := record.Seal(rec, m.h.Peerstore().PrivKey(m.h.ID()))
	if err != nil {
		return err
	}
	eb, err := env.Marshal()
	if err != nil {
		return err
	}
	_, err = controlproto.Register(ctx, m.h, server, m.proof, eb, 10*time.Minute)
	return err
}
