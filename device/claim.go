package device

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/frame"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// Protocol is the claim protocol's libp2p protocol ID. Version 2 streams
// the ledger in chunks (version 1 sent it in one frame of up to 64 MiB,
// which the device allocated before reading it).
const Protocol = protocol.ID("/coco/claim/2.0.0")

const proofDomain = "coconet/claim/v1"

// ErrWrongCode is the claim host's answer to a proof made with another
// code's secret.
var ErrWrongCode = errors.New("wrong claim code: check the code the device shows")

// Proof is what the owner sends to show it holds the code's secret.
func Proof(secret [SecretSize]byte, owner, device peer.ID) []byte {
	m := hmac.New(sha256.New, secret[:])
	m.Write([]byte(proofDomain))
	m.Write([]byte(owner))
	m.Write([]byte(device))
	return m.Sum(nil)
}

// The claim protocol:
//
//	owner → device: claimProof (a CBOR frame of at most maxProofFrame bytes)
//	device → owner: claimReply (OK: go on)
//	owner → device: claimPeers (the owner node's own addresses, a CBOR
//	                frame; the device keeps no address of another node)
//	owner → device: the ledger, genesis first, as node.SendOps writes it:
//	                chunks of at most 1 MiB, each verified and stored by
//	                the device before the next is read
//	device → owner: claimReply
//
// CBOR frames are a 4-byte big-endian length and the body; their limits
// are small (the largest, claimPeers, 16 KiB). The ledger, the large part,
// is read only from a peer that proved the secret (anyone who can reach the
// claim host can send the first frame), into buffers that grow as bytes
// arrive, and at most maxClaimLedger bytes of it.
type claimProof struct {
	Proof []byte `cbor:"1,keyasint"`
}

type claimPeers struct {
	Peers [][]byte `cbor:"1,keyasint,omitempty"` // binary multiaddrs ending in /p2p/ID
}

// Limits of the claim protocol's frames.
const (
	maxProofFrame = 256
	maxReplyFrame = 4 << 10
	maxPeersFrame = 16 << 10
	maxClaimPeers = 64 // addresses in claimPeers
)

// maxClaimLedger bounds the bytes of ledger one claim hands over, and
// claimIdle the wait for each chunk of it (the whole claim takes at most
// claimMax).
var (
	maxClaimLedger int64 = 1 << 30
	claimIdle            = 30 * time.Second
	claimMax             = 10 * time.Minute
)

type claimReply struct {
	OK    bool   `cbor:"1,keyasint,omitempty"`
	Error string `cbor:"2,keyasint,omitempty"`
}

func writeFrame(w io.Writer, v any) error {
	b, err := cbor.Marshal(v)
	if err != nil {
		return err
	}
	return frame.Write32(w, b)
}

// readFrame reads one CBOR frame of at most max bytes into v; a longer one
// is node.ErrFrameTooLarge (frame.ErrTooLarge).
func readFrame(r io.Reader, v any, max int) error {
	b, err := frame.Read32(r, max)
	if err != nil {
		return err
	}
	return cbor.Unmarshal(b, v)
}

// ledgerReader reads a handed-over ledger from r, at most max bytes of it.
type ledgerReader struct {
	max int64
	lr  *io.LimitedReader
	r   *bufio.Reader
}

func newLedgerReader(r io.Reader, max int64) *ledgerReader {
	lr := &io.LimitedReader{R: r, N: max}
	return &ledgerReader{max: max, lr: lr, r: bufio.NewReader(lr)}
}

// recv reads the ledger's chunks, giving each to add (node.RecvOps); a
// ledger over max bytes fails with node.ErrLedgerTooLarge.
func (l *ledgerReader) recv(add func([]*ledger.Op) error) error {
	err := node.RecvOps(l.r, add)
	if err != nil && l.lr.N == 0 {
		return fmt.Errorf("%w: more than the %d bytes a claim hands over", node.ErrLedgerTooLarge, l.max)
	}
	return err
}

// Record is the value of a device's record in ledger.TableDevice (JSON),
// keyed by the device node's peer ID.
type Record struct {
	Name  string    `json:"name"`
	Node  string    `json:"node"`
	Model string    `json:"model,omitempty"`
	Added time.Time `json:"added"`
}

// ClaimerConfig configures a Claimer.
type ClaimerConfig struct {
	// Home is the device's home: the claimed network is stored there.
	Home string
	// Name and Model describe the device in its code.
	Name, Model string
	// ListenHost is the IPv4 address to listen on; "" means 0.0.0.0.
	ListenHost string
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
}

// Claimed tells what network a device joined.
type Claimed struct {
	Network ledger.NetworkID
	Name    string // the network's name
	Owner   string // the owner's name
}

// Claimer waits for the owner of a network to claim the device.
type Claimer struct {
	cfg  ClaimerConfig
	key  [32]byte
	host host.Host
	done chan Claimed

	limit     *limiter // claim tries per peer and per address
	maxLedger int64    // maxClaimLedger when the claim host started

	mu       sync.Mutex
	secret   [SecretSize]byte
	claimed  bool
	claiming bool // a claim's ledger is being handed over
}

// NewClaimer starts a claim host with the device key of cfg.Home's seed.
func NewClaimer(cfg ClaimerConfig) (*Claimer, error) {
	if cfg.ListenHost == "" {
		cfg.ListenHost = "0.0.0.0"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	id, err := homedir.LoadIdentity(cfg.Home)
	if err != nil {
		return nil, err
	}
	dk := id.Seed.DeviceKey()
	pk, err := crypto.UnmarshalEd25519PrivateKey(dk)
	if err != nil {
		return nil, err
	}
	h, err := libp2p.New(
		libp2p.Identity(pk),
		libp2p.ListenAddrStrings(fmt.Sprintf("/ip4/%s/tcp/0", cfg.ListenHost)),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Security(noise.ID, noise.New),
		libp2p.DisableRelay(),
		libp2p.UserAgent("coconet/0.1 device-claim"),
	)
	if err != nil {
		return nil, fmt.Errorf("device: start claim host: %w", err)
	}
	c := &Claimer{cfg: cfg, host: h, done: make(chan Claimed, 1), secret: newSecret(), limit: newLimiter(nil), maxLedger: maxClaimLedger}
	copy(c.key[:], dk.Public().(ed25519.PublicKey))
	h.SetStreamHandler(Protocol, c.handle)
	return c, nil
}

// PeerID is the device node's peer ID (the same once claimed).
func (c *Claimer) PeerID() peer.ID { return c.host.ID() }

// Code is the current claim code.
func (c *Claimer) Code() string {
	c.mu.Lock()
	secret := c.secret
	c.mu.Unlock()
	code := &Code{Key: c.key, Name: c.cfg.Name, Model: c.cfg.Model, Secret: secret}
	for _, a := range c.host.Addrs() {
		code.Addrs = append(code.Addrs, a.Bytes())
	}
	return code.String()
}

// Wait returns when the device has been claimed and its network stored in
// the home, or when ctx ends.
func (c *Claimer) Wait(ctx context.Context) (Claimed, error) {
	select {
	case cl := <-c.done:
		return cl, nil
	case <-ctx.Done():
		return Claimed{}, ctx.Err()
	}
}

// Close stops the claim host. It is idempotent.
func (c *Claimer) Close() error { return c.host.Close() }

func (c *Claimer) handle(s network.Stream) {
	defer s.Close()
	start := time.Now()
	s.SetDeadline(start.Add(time.Minute))
	from := s.Conn().RemotePeer()
	// Limited before anything is read: a stranger's tries cost a map
	// lookup, and the code never changes because of them.
	if err := c.limit.allow(from, s.Conn().RemoteMultiaddr()); err != nil {
		if n, ok := c.limit.report(); ok {
			c.cfg.Logf("device: refused %d claim tries over the limit of a node or address (the latest by %s from %s)", n, from.ShortString(), s.Conn().RemoteMultiaddr())
		}
		writeFrame(s, claimReply{Error: err.Error()})
		return
	}
	var pr claimProof
	if err := readFrame(s, &pr, maxProofFrame); err != nil {
		s.Reset()
		return
	}
	if err := c.checkProof(from, pr.Proof); err != nil {
		c.cfg.Logf("device: claim by %s refused: %v", from.ShortString(), err)
		writeFrame(s, claimReply{Error: err.Error()})
		return
	}
	if err := writeFrame(s, claimReply{OK: true}); err != nil {
		s.Reset()
		return
	}
	lr := newLedgerReader(s, c.maxLedger)
	var cp claimPeers
	if err := readFrame(lr.r, &cp, maxPeersFrame); err != nil {
		c.cfg.Logf("device: claim by %s: %v", from.ShortString(), err)
		s.Reset()
		return
	}
	// From here on, a deadline per chunk of the ledger.
	end := start.Add(claimMax)
	renew := func() {
		if dl := time.Now().Add(claimIdle); dl.Before(end) {
			s.SetDeadline(dl)
		} else {
			s.SetDeadline(end)
		}
	}
	renew()
	cl, err := c.claim(from, cp.Peers, func(add func([]*ledger.Op) error) error {
		return lr.recv(func(ops []*ledger.Op) error {
			renew()
			return add(ops)
		})
	})
	renew()
	if err != nil {
		c.cfg.Logf("device: claim by %s refused: %v", from.ShortString(), err)
		writeFrame(s, claimReply{Error: err.Error()})
		return
	}
	writeFrame(s, claimReply{OK: true})
	// Let the reply reach the owner before the claim host goes away: wait
	// (briefly) for the owner to close its side.
	s.CloseWrite()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(io.Discard, io.LimitReader(s, 1))
	c.cfg.Logf("device: claimed into %q by %s", cl.Name, cl.Owner)
	c.done <- cl
}

// errClaimed and errClaiming refuse a claim after one succeeded or while
// one runs.
var (
	errClaimed  = errors.New("this device was just claimed")
	errClaiming = errors.New("this device is being claimed right now")
)

// checkProof checks that from holds the code's secret. A wrong proof
// changes nothing: the limiter bounds how often anyone may try.
func (c *Claimer) checkProof(from peer.ID, proof []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.claimed:
		return errClaimed
	case c.claiming:
		return errClaiming
	case !hmac.Equal(proof, Proof(c.secret, from, c.host.ID())):
		return ErrWrongCode
	}
	return nil
}

// claim verifies and stores the ledger, which recv hands over in chunks,
// of a peer that proved the secret; one claim runs at a time.
func (c *Claimer) claim(from peer.ID, rawPeers [][]byte, recv func(add func([]*ledger.Op) error) error) (Claimed, error) {
	c.mu.Lock()
	switch {
	case c.claimed:
		c.mu.Unlock()
		return Claimed{}, errClaimed
	case c.claiming:
		c.mu.Unlock()
		return Claimed{}, errClaiming
	}
	c.claiming = true
	c.mu.Unlock()
	ok := false
	defer func() {
		c.mu.Lock()
		c.claiming, c.claimed = false, ok
		c.mu.Unlock()
	}()
	var peers []peer.AddrInfo
	for i, b := range rawPeers {
		if i >= maxClaimPeers {
			break
		}
		// Only the claiming node's own addresses: it names no other node.
		if a, err := ma.NewMultiaddrBytes(b); err == nil {
			if ai, err := peer.AddrInfoFromP2pAddr(a); err == nil && ai.ID == from {
				peers = append(peers, *ai)
			}
		}
	}
	var cl Claimed
	check := func(st *ledger.State) error {
		ni := st.Nodes[c.key]
		switch {
		case ni == nil:
			return errors.New("the ledger does not list this device's node")
		case ni.User != st.Owner:
			return errors.New("this device's node belongs to someone other than the network's owner")
		case st.Record(ledger.TableDevice, c.host.ID().String()) == nil:
			return errors.New("the ledger has no device record for this device")
		}
		fk, err := node.KeyOf(from)
		if err != nil {
			return err
		}
		if u, ok := st.NodeOwner(fk); !ok || u != st.Owner {
			return errors.New("only a node of the network's owner can claim a device")
		}
		cl = Claimed{Network: st.Network, Name: st.Name}
		if m := st.Members[st.Owner]; m != nil {
			cl.Owner = m.Name
		}
		return nil
	}
	if _, err := homedir.AdoptNetwork(c.cfg.Home, recv, peers, check); err != nil {
		return Claimed{}, err
	}
	ok = true
	return cl, nil
}

// Info describes a device of a network.
type Info struct {
	Name    string          `json:"name"`
	Node    string          `json:"node"`
	Model   string          `json:"model,omitempty"`
	Added   time.Time       `json:"added"`
	AddedBy identity.UserID `json:"added_by"`
}

// List returns the devices of a network, by name.
func List(st *ledger.State) []Info {
	var out []Info
	for _, r := range st.Table(ledger.TableDevice) {
		var rec Record
		if json.Unmarshal(r.Value, &rec) != nil {
			continue
		}
		out = append(out, Info{Name: rec.Name, Node: r.Key, Model: rec.Model, Added: rec.Added, AddedBy: r.Author})
	}
	sortInfos(out)
	return out
}
