package control

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

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
// from the state dir or the store the first time.
func (s *Server) devListsOf(genesis *ledger.Op) (*devNetLists, error) {
	a, err := devnet.AnchorOf(genesis)
	if err != nil {
		return nil, err
	}
	d := &s.dev
	d.mu.Lock()
	l := d.nets[a.Net]
	if l == nil && len(d.nets) >= s.cfg.MaxNetworks {
		d.mu.Unlock()
		return nil, fmt.Errorf("control: this control plane holds the lists of %d developer networks, as many as it can", len(d.nets))
	}
	if l != nil {
		d.mu.Unlock()
		return l, nil
	}
	if d.nets == nil {
		d.nets = map[ledger.NetworkID]*devNetLists{}
	}
	l = &devNetLists{genesis: genesis.Marshal(), store: devnet.NewStore(func() *devnet.Anchor { return a }, s.cfg.Now)}
	d.nets[a.Net] = l
	d.mu.Unlock()
	s.refreshDevLists(a.Net, l)
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
	if l == nil {
		// Held before a restart, or by another replica?
		b, err := s.loadDevList(net, "genesis")
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
	if s.persistent {
		s.refreshDevLists(net, l)
	}
	return l.store.Revocations(), l.store.Policy()
}

// refreshDevLists takes the lists saved (by this replica before a
// restart, or by another replica in a shared store) when they are newer.
func (s *Server) refreshDevLists(net ledger.NetworkID, l *devNetLists) {
	if b, err := s.loadDevList(net, "revocations"); err == nil {
		if r, err := devnet.UnmarshalRevocations(b); err == nil {
			l.store.OfferRevocations(r)
		}
	}
	if b, err := s.loadDevList(net, "policy"); err == nil {
		if p, err := devnet.UnmarshalPolicy(b); err == nil {
			l.store.OfferPolicy(p)
		}
	}
}

// devKV is the store's namespace for the lists.
const devKV = "devnet"

func (s *Server) loadDevList(net ledger.NetworkID, ext string) ([]byte, error) {
	if s.persistent {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		return s.store.KV().Get(ctx, devKV, net.String()+"."+ext)
	}
	if s.devDir() == "" {
		return nil, ErrNotFound
	}
	return os.ReadFile(filepath.Join(s.devDir(), net.String()+"."+ext))
}

func (s *Server) saveDevList(net ledger.NetworkID, ext string, b []byte) error {
	if s.persistent {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.store.KV().Put(ctx, devKV, net.String()+"."+ext, b, 0); err != nil {
			return fmt.Errorf("control: save %s: %w", ext, err)
		}
		return nil
	}
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
	if s.persistent {
		s.refreshDevLists(r.Net, l) // another replica's newer list wins
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
	covered := func(p peer.ID) bool {
		k, err := keyOf(p)
		return err == nil && revoked[k]
	}
	var dropped, cut []peer.ID
	key := member.RendezvousKey(r.Net)
	s.mu.Lock()
	if ns := s.nets[key]; ns != nil {
		for p := range ns.regs {
			if covered(p) {
				delete(ns.regs, p)
				dropped = append(dropped, p)
			}
		}
	}
	for p, h := range s.holders {
		if h.key == key && covered(p) {
			delete(s.holders, p)
			s.unprotect(p)
			cut = append(cut, p)
		}
	}
	s.mu.Unlock()
	s.closePeers(cut)
	if s.persistent && len(dropped) > 0 {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		defer cancel()
		if err := s.store.DeleteRegistrations(ctx, key, dropped); err != nil {
			return fmt.Errorf("control: drop revoked registrations: %w", err)
		}
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
	if s.persistent {
		s.refreshDevLists(p.Net, l)
	}
	if err := l.store.OfferPolicy(p); err != nil {
		return err
	}
	return s.saveDevList(p.Net, "policy", p.Marshal())
}
