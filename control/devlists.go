package control

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/member"
)

// devLists holds each developer network's newest signed revocation list
// and tag policy (package devnet), as the REST API (control/devapi) or the
// owner hand them over, saved under Dir/devnet so a restart forgets no
// revocation. A list is taken only if it verifies against the network's
// genesis and is newer than the one held.
type devLists struct {
	mu   sync.Mutex // guards following fields
	nets map[ledger.NetworkID]*devNetLists
}

type devNetLists struct {
	genesis []byte
	store   *devnet.Store
}

func (s *Server) devDir() string {
	if s.cfg.Dir == "" {
		return ""
	}
	return filepath.Join(s.cfg.Dir, "devnet")
}

// devListsOf returns the lists of the network of genesis, loading them
// from disk the first time.
func (s *Server) devListsOf(genesis *ledger.Op) (*devNetLists, error) {
	a, err := devnet.AnchorOf(genesis)
	if err != nil {
		return nil, err
	}
	d := &s.dev
	d.mu.Lock()
	defer d.mu.Unlock()
	if l := d.nets[a.Net]; l != nil {
		return l, nil
	}
	if d.nets == nil {
		d.nets = map[ledger.NetworkID]*devNetLists{}
	}
	if len(d.nets) >= s.cfg.MaxNetworks {
		return nil, fmt.Errorf("control: this control plane holds the lists of %d developer networks, as many as it can", len(d.nets))
	}
	l := &devNetLists{genesis: genesis.Marshal(), store: devnet.NewStore(func() *devnet.Anchor { return a }, s.cfg.Now)}
	if dir := s.devDir(); dir != "" {
		base := filepath.Join(dir, a.Net.String())
		if b, err := os.ReadFile(base + ".revocations"); err == nil {
			if r, err := devnet.UnmarshalRevocations(b); err == nil {
				l.store.OfferRevocations(r)
			}
		}
		if b, err := os.ReadFile(base + ".policy"); err == nil {
			if p, err := devnet.UnmarshalPolicy(b); err == nil {
				l.store.OfferPolicy(p)
			}
		}
	}
	d.nets[a.Net] = l
	if err := s.saveDevList(a.Net, "genesis", l.genesis); err != nil {
		return nil, err
	}
	return l, nil
}

// DevLists returns the newest revocation list and policy held for a
// developer network (nil for none).
func (s *Server) DevLists(net ledger.NetworkID) (*devnet.Revocations, *devnet.Policy) {
	s.dev.mu.Lock()
	l := s.dev.nets[net]
	s.dev.mu.Unlock()
	if l == nil && s.devDir() != "" {
		// Held before a restart?
		b, err := os.ReadFile(filepath.Join(s.devDir(), net.String()+".genesis"))
		if err != nil {
			return nil, nil
		}
		g, err := ledger.Unmarshal(b)
		if err != nil || ledger.NetworkID(g.ID()) != net {
			return nil, nil
		}
		if l, err = s.devListsOf(g); err != nil {
			return nil, nil
		}
	}
	if l == nil {
		return nil, nil
	}
	return l.store.Revocations(), l.store.Policy()
}

func (s *Server) saveDevList(net ledger.NetworkID, ext string, b []byte) error {
	dir := s.devDir()
	if dir == "" {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("control: save %s: %w", ext, err)
	}
	return atomicfile.Write(filepath.Join(dir, net.String()+"."+ext), b, 0o600)
}

// OfferRevocations takes a developer network's revocation list if it
// verifies (the owner's, or a service key's with the revoke scope) and is
// newer than the one held (devnet.ErrStale otherwise); it then drops the
// registrations of the node keys it names and closes their connections.
func (s *Server) OfferRevocations(genesis *ledger.Op, r *devnet.Revocations) error {
	l, err := s.devListsOf(genesis)
	if err != nil {
		return err
	}
	if err := l.store.OfferRevocations(r); err != nil {
		return err
	}
	if err := s.saveDevList(r.Net, "revocations", r.Marshal()); err != nil {
		return err
	}
	revoked := map[[32]byte]bool{}
	for _, k := range r.Nodes {
		revoked[k] = true
	}
	var cut []peer.ID
	key := member.RendezvousKey(r.Net)
	s.mu.Lock()
	if ns := s.nets[key]; ns != nil {
		for p, reg := range ns.regs {
			if revoked[reg.proof.Cert.Node] {
				delete(ns.regs, p)
			}
		}
	}
	for p, h := range s.holders {
		if h.key == key && revoked[h.proof.Cert.Node] {
			delete(s.holders, p)
			s.unprotect(p)
			cut = append(cut, p)
		}
	}
	s.mu.Unlock()
	for _, p := range cut {
		s.cfg.Logf("revoked %s (revocation list version %d); closing its connections", p.ShortString(), r.Version)
		s.host.Network().ClosePeer(p)
	}
	return nil
}

// OfferPolicy takes a developer network's tag policy if it verifies (the
// owner's, or a service key's with the acl scope) and is newer than the one
// held (devnet.ErrStale otherwise).
func (s *Server) OfferPolicy(genesis *ledger.Op, p *devnet.Policy) error {
	l, err := s.devListsOf(genesis)
	if err != nil {
		return err
	}
	if err := l.store.OfferPolicy(p); err != nil {
		return err
	}
	return s.saveDevList(p.Net, "policy", p.Marshal())
}

