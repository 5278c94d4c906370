package device

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/internal/nettest"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// claimLog collects a claim host's log lines.
type claimLog struct{ ch chan string }

func (l claimLog) logf(format string, args ...any) {
	select {
	case l.ch <- fmt.Sprintf(format, args...):
	default:
	}
}

// wait returns the next line containing sub (at most 30 s, a safety net).
func (l claimLog) wait(t *testing.T, sub string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case line := <-l.ch:
			if strings.Contains(line, sub) {
				return line
			}
		case <-deadline:
			t.Fatalf("the claim host never logged %q", sub)
		}
	}
}

// TestClaimHostReadsLedgerAsItArrives: a modified owner's client holding
// the code proves the secret, then declares ledger chunks and sends 100
// bytes of each: the device allocates about what arrived, not what was
// declared (before, the ledger came in one frame of up to 64 MiB, allocated
// at its declared length before a byte of it arrived), says the chunk was
// cut, and refuses a chunk declared over the limit as too large.
func TestClaimHostReadsLedgerAsItArrives(t *testing.T) {
	home := filepath.Join(t.TempDir(), "lamp")
	if _, err := homedir.Init(home, "lamp"); err != nil {
		t.Fatal(err)
	}
	logs := claimLog{make(chan string, 64)}
	c, err := NewClaimer(ClaimerConfig{Home: home, Name: "Lamp", ListenHost: "127.0.0.1", Logf: logs.logf})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := strangerHost(t, "127.0.0.1")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.Connect(ctx, peer.AddrInfo{ID: c.PeerID(), Addrs: c.host.Addrs()}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	secret := c.secret
	c.mu.Unlock()
	// open proves the secret and names no address: the device reads the
	// ledger next.
	open := func() (network.Stream, *bufio.Reader) {
		s, err := h.NewStream(ctx, c.PeerID(), Protocol)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(s)
		if err := writeFrame(s, claimProof{Proof: Proof(secret, h.ID(), c.PeerID())}); err != nil {
			t.Fatal(err)
		}
		var rep claimReply
		if err := readFrame(r, &rep, maxReplyFrame); err != nil || !rep.OK {
			t.Fatalf("the device answered the proof with %+v, %v", rep, err)
		}
		if err := writeFrame(s, claimPeers{}); err != nil {
			t.Fatal(err)
		}
		return s, r
	}
	declare := func(s network.Stream, size int) {
		b := binary.AppendUvarint(nil, uint64(size))
		if _, err := s.Write(append(b, bytes.Repeat([]byte{'x'}, 100)...)); err != nil {
			t.Fatal(err)
		}
	}

	// Chunks at the limit (1 MiB), cut after 100 bytes.
	const tries, chunk = 3, 1 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range tries {
		s, _ := open()
		declare(s, chunk)
		s.CloseWrite()
		if line := logs.wait(t, "claim by"); !strings.Contains(line, fmt.Sprintf("cut after 100 of %d bytes", chunk)) {
			t.Errorf("the device logged %q, want the chunk cut after 100 bytes", line)
		}
		s.Reset()
	}
	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d claims each declaring a %d KiB chunk and sending 100 bytes: %d KiB allocated in the process (device and client)", tries, chunk>>10, alloc>>10)
	if alloc > tries*chunk/2 {
		t.Errorf("allocated %d KiB for %d chunks of 100 bytes received (%d KiB declared each), want under %d KiB",
			alloc>>10, tries, chunk>>10, tries*chunk/2>>10)
	}

	// A chunk declared at 64 MiB: too large, said so, nothing read.
	s, r := open()
	defer s.Reset()
	declare(s, 64<<20)
	var rep claimReply
	if err := readFrame(r, &rep, maxReplyFrame); err != nil {
		t.Fatalf("no answer to a chunk over the limit: %v", err)
	}
	if rep.OK || !strings.Contains(rep.Error, "frame too large") || !strings.Contains(rep.Error, "67108864 bytes") {
		t.Errorf("the device answered %+v to a chunk declared at 64 MiB, want frame too large, with the size", rep)
	}
}

// claimOps is the number of 60 KiB puts in TestClaimLargeLedger's ledger:
// 50 (3 MB, several chunks of the 1 MiB frame limit) by default; 1100 makes
// a ledger (68 MB) over the single frame of 64 MiB that held it before
// issue 10 (go test -run TestClaimLargeLedger ./device/ -args -claimops=1100;
// about 10 s and 400 MB).
var claimOps = flag.Int("claimops", 50, "puts of 60 KiB in TestClaimLargeLedger's ledger")

// TestClaimLargeLedger: the owner claims a device into a network whose
// ledger takes several chunks of the 1 MiB frame limit; the device gets
// every op. A ledger over what a claim hands over is refused as too large,
// and the owner reads why.
func TestClaimLargeLedger(t *testing.T) {
	home := filepath.Join(t.TempDir(), "alice")
	if _, err := homedir.Init(home, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := homedir.CreateNetwork(home, "home", "user", ""); err != nil {
		t.Fatal(err)
	}
	alice := nettest.Start(t, home)
	value := bytes.Repeat([]byte{'v'}, 60<<10)
	for i := range *claimOps {
		if _, err := alice.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableZone, Key: fmt.Sprint("zone-", i), Value: value}); err != nil {
			t.Fatal(err)
		}
	}
	size := 0
	for _, op := range alice.Ledger().Ops() {
		size += len(op.Marshal())
	}
	if size < 2<<20 {
		t.Fatalf("the ledger is %d bytes, want several chunks", size)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Over the device's limit: refused as too large.
	old := maxClaimLedger
	maxClaimLedger = 1 << 20
	_, small := newDevice(t, "Small")
	maxClaimLedger = old
	_, err := Add(ctx, alice, small.Code())
	if !errors.Is(err, node.ErrLedgerTooLarge) && (err == nil || !strings.Contains(err.Error(), "ledger too large")) {
		t.Fatalf("Add of a %d-byte ledger to a device taking 1 MiB: err = %v, want ledger too large", size, err)
	}
	t.Logf("Add of a %d-byte ledger to a device taking 1 MiB: %v", size, err)

	dhome, c := newDevice(t, "Front door")
	start := time.Now()
	if _, err := Add(ctx, alice, c.Code()); err != nil {
		t.Fatalf("Add: %v", err)
	}
	cl, err := c.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("claimed a device into a ledger of %d ops (%.1f MB) in %v", len(alice.Ledger().Ops()), float64(size)/1e6, time.Since(start).Round(time.Millisecond))
	l, err := ledger.Open(filepath.Join(homedir.NetworkDir(dhome, cl.Network), "ledger"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(l.Ops()), len(alice.Ledger().Ops()); got != want {
		t.Errorf("the device holds %d ops, alice %d", got, want)
	}
	if !l.State().Equal(alice.Ledger().State()) {
		t.Error("the device's state differs from alice's")
	}
}

// FuzzClaimFrames feeds peer bytes to what a claim host reads after a
// proof: the peers frame and the ledger's chunks (at most max bytes of
// them). It never gives an op that does not decode, nor reads past max.
func FuzzClaimFrames(f *testing.F) {
	var b bytes.Buffer
	writeFrame(&b, claimPeers{Peers: [][]byte{{1, 2}}})
	op := &ledger.Op{V: ledger.Version, Kind: ledger.KindGenesis, Name: "n", NetKind: "user", Nonce: make([]byte, ledger.NonceSize), Time: 1}
	op.Sign(ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize)))
	node.SendOps(&b, []*ledger.Op{op, op})
	f.Add(b.Bytes())
	f.Add([]byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 4 << 10
		r := bytes.NewReader(data)
		lr := newLedgerReader(r, max)
		var cp claimPeers
		if readFrame(lr.r, &cp, maxPeersFrame) != nil {
			return
		}
		lr.recv(func(ops []*ledger.Op) error {
			for _, op := range ops {
				if op == nil {
					t.Fatal("a nil op")
				}
			}
			return nil
		})
		if read := int64(len(data)) - int64(r.Len()); read > max {
			t.Fatalf("read %d bytes, limit %d", read, max)
		}
	})
}
