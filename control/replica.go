package control

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/member"
)

// usageSaveEvery is how often a replica with a persistent store saves
// what it used (its claims, saved before use, are what a crash leaves).
const usageSaveEvery = time.Second

// claimChunk is what a replica claims at a time on a network's usage: a
// replica killed -9 over-counts by at most about this much per network,
// and claims once per chunk, ahead of need (at half), so a request seldom
// waits for one.
var claimChunk = Counts{Relay: 4 << 20, Control: 256 << 10, Messages: 256}

// claim is this replica's claim on one network's usage this month.
type claim struct {
	have     Counts
	inflight chan struct{} // closed when the claim under way ends
	err      error         // of the last claim
}

// remote is another replica's usage of a network, as it last saved it.
type remote struct{ used, claimed Counts }

// startStore starts the store: its state is applied to this server's
// maps, then every change any replica makes; this replica's usage counted
// before a restart is loaded (everything it had claimed counts as used).
func (s *Server) startStore(ctx context.Context) error {
	if err := s.store.Start(ctx, s.replica, s.apply); err != nil {
		return err
	}
	if !s.persistent {
		return nil
	}
	now := s.cfg.Now()
	month := monthOf(now)
	used, claimed, err := s.store.LoadUsage(ctx, month)
	if err != nil {
		s.store.Close()
		return err
	}
	s.qmu.Lock()
	s.resetMonthLocked(month)
	for key, c := range claimed {
		s.claims[key] = &claim{have: c}
		// What this replica claimed and did not save as used may have
		// been used before it stopped: it counts.
		s.meter.set(key, now, maxCounts(used[key], c))
	}
	s.qmu.Unlock()
	return nil
}

func (s *Server) resetMonthLocked(month string) {
	if s.qmonth != month {
		s.qmonth = month
		clear(s.claims)
		clear(s.remote)
	}
}

// apply brings a change of the store into this server's maps.
func (s *Server) apply(ev Event) {
	switch ev.Kind {
	case EventRegistered:
		s.applyRegistration(ev.Reg)
	case EventUnregistered:
		s.mu.Lock()
		if ns := s.nets[ev.Net]; ns != nil {
			delete(ns.regs, ev.Peer)
		}
		s.mu.Unlock()
	case EventRevoked:
		s.mu.Lock()
		ns := s.nets[ev.Net]
		if ns == nil {
			ns = s.addNetLocked(ev.Net, ev.Owner)
		}
		// Checked again (as when it was stored, but at its issue time):
		// a record in the store never revokes in a network it was not
		// signed for.
		if ns.owner != ev.Owner || member.RendezvousKey(ev.Rev.Net) != ev.Net || ev.Rev.Verify(ev.Rev.Net, ev.Owner, time.Unix(ev.Rev.Issued, 0)) != nil {
			s.mu.Unlock()
			s.cfg.Logf("store: ignoring a revocation that does not verify for its network")
			return
		}
		if err := ns.addRevocationLocked(ev.Rev, ev.Owner); err != nil {
			s.cfg.Logf("store: %v", err)
		}
		_, cut := s.applyRevocationLocked(ev.Net, ns, ev.Rev)
		s.mu.Unlock()
		s.closePeers(cut)
	case EventRevocationGone:
		s.mu.Lock()
		if ns := s.nets[ev.Net]; ns != nil {
			keep := ns.revs[:0]
			for _, rv := range ns.revs {
				if revID(rv) != ev.RevID {
					keep = append(keep, rv)
				}
			}
			clear(ns.revs[len(keep):])
			ns.revs = keep
		}
		s.mu.Unlock()
	case EventUsage:
		if ev.Replica == s.replica {
			return
		}
		s.qmu.Lock()
		s.resetMonthLocked(monthOf(s.cfg.Now()))
		if ev.Month == s.qmonth {
			m := s.remote[ev.Net]
			if m == nil {
				m = map[string]remote{}
				s.remote[ev.Net] = m
			}
			m[ev.Replica] = remote{ev.Used, ev.Claimed}
		}
		s.qmu.Unlock()
	case EventReplicaLive, EventReplicaGone:
		s.qmu.Lock()
		if ev.Kind == EventReplicaLive {
			s.live[ev.Replica] = true
		} else {
			delete(s.live, ev.Replica)
		}
		s.qmu.Unlock()
	}
}

// applyRegistration takes a registration a replica stored. The store keys
// it by its network and peer, and the record agrees with its key (see
// EtcdStore.decode); a record naming another owner than the network's is
// refused, so nothing stored for one network lands in another's lookups.
func (s *Server) applyRegistration(r *Registration) {
	now := s.cfg.Now().UnixNano()
	reg := &registration{env: r.Record, expires: r.Expires, cover: r.Cover, seen: now}
	if !reg.live(now) {
		return
	}
	nk, err := keyOf(r.Peer)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.nets[r.Net]
	if ns == nil {
		ns = s.addNetLocked(r.Net, r.Owner)
	}
	if ns.owner != r.Owner {
		s.cfg.Logf("store: ignoring a registration of %s that names another owner than its network's", r.Peer.ShortString())
		return
	}
	if old := ns.regs[r.Peer]; old != nil && old.expires >= r.Expires {
		return // this replica's own write, or an older one
	}
	if ns.revokedLocked(r.Cover.verified(r.Owner, nk)) {
		return
	}
	ns.regs[r.Peer] = reg
}

// addNetLocked makes a network another replica admitted (within its
// owner's plan there).
func (s *Server) addNetLocked(key [32]byte, owner identity.UserID) *netState {
	ns := &netState{owner: owner, regs: map[peer.ID]*registration{}}
	s.nets[key] = ns
	s.ownerNets[owner]++
	return ns
}

// count adds d to a network's usage. With a persistent store the use is
// first covered by this replica's claim in the store (claimed ahead, a
// chunk at a time): a replica killed at any moment leaves counted at least
// what it served.
func (s *Server) count(key [32]byte, d Counts) error {
	now := s.cfg.Now()
	c := s.meter.get(key, now)
	if !s.persistent {
		c.Relay.Add(d.Relay)
		c.Control.Add(d.Control)
		c.Messages.Add(d.Messages)
		return nil
	}
	month := monthOf(now)
	for {
		s.qmu.Lock()
		s.resetMonthLocked(month)
		cl := s.claims[key]
		if cl == nil {
			cl = &claim{}
			s.claims[key] = cl
		}
		need := Counts{c.Relay.Load(), c.Control.Load(), c.Messages.Load()}.add(d)
		if need.Relay <= cl.have.Relay && need.Control <= cl.have.Control && need.Messages <= cl.have.Messages {
			c.Relay.Add(d.Relay)
			c.Control.Add(d.Control)
			c.Messages.Add(d.Messages)
			if cl.inflight == nil && (cl.have.Relay-need.Relay < claimChunk.Relay/2 ||
				cl.have.Control-need.Control < claimChunk.Control/2 || cl.have.Messages-need.Messages < claimChunk.Messages/2) {
				s.claimLocked(key, month, cl, need)
			}
			s.qmu.Unlock()
			return nil
		}
		if cl.inflight == nil {
			s.claimLocked(key, month, cl, need)
		}
		wait := cl.inflight
		s.qmu.Unlock()
		select {
		case <-wait:
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
		s.qmu.Lock()
		err := cl.err
		s.qmu.Unlock()
		if err != nil {
			return err
		}
	}
}

// claimLocked starts a claim that covers need and a chunk more.
func (s *Server) claimLocked(key [32]byte, month string, cl *claim, need Counts) {
	d := claimChunk
	d.Relay += max(0, need.Relay-cl.have.Relay)
	d.Control += max(0, need.Control-cl.have.Control)
	d.Messages += max(0, need.Messages-cl.have.Messages)
	done := make(chan struct{})
	cl.inflight = done
	go func() {
		ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
		err := s.store.Claim(ctx, month, key, d)
		cancel()
		s.qmu.Lock()
		cl.err = err
		if err == nil {
			cl.have = cl.have.add(d)
		} else {
			err = fmt.Errorf("claim usage: %w", err)
			cl.err = err
		}
		cl.inflight = nil
		s.qmu.Unlock()
		close(done)
	}()
}

// saveUsage saves this replica's counters of this month.
func (s *Server) saveUsage(ctx context.Context) error {
	now := s.cfg.Now()
	return s.store.SaveUsage(ctx, monthOf(now), s.meter.snapshot(now))
}

// othersLocked is the usage of a network by the other replicas: what
// each running one saved, what each stopped one claimed (qmu held).
func (s *Server) othersLocked(key [32]byte, month string) Counts {
	var out Counts
	if month != s.qmonth {
		return out
	}
	for r, u := range s.remote[key] {
		if s.live[r] {
			out = out.add(u.used)
		} else {
			out = out.add(maxCounts(u.used, u.claimed))
		}
	}
	return out
}

// usageOf is a network's usage this month, all replicas.
func (s *Server) usageOf(key [32]byte, now time.Time) Counts {
	c := s.meter.peek(key, now)
	out := Counts{c.Relay.Load(), c.Control.Load(), c.Messages.Load()}
	if s.persistent {
		s.qmu.Lock()
		out = out.add(s.othersLocked(key, monthOf(now)))
		s.qmu.Unlock()
	}
	return out
}

// KV is the control plane's generic namespace, kept by its store (shared
// with the other replicas when the store is etcd).
func (s *Server) KV() KV { return s.store.KV() }

// Registered lists the live registrations of a network (key is
// member.RendezvousKey of its ID), all replicas.
func (s *Server) Registered(key [32]byte) []Registration {
	now := s.cfg.Now().UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.nets[key]
	if ns == nil {
		return nil
	}
	out := make([]Registration, 0, len(ns.regs))
	for p, r := range ns.regs {
		if r.live(now) {
			out = append(out, Registration{Net: key, Owner: ns.owner, Peer: p, Record: r.env, Expires: r.expires, Cover: r.cover})
		}
	}
	return out
}

// Usage reports a network's usage this month against its plan, all
// replicas (key is member.RendezvousKey of its ID); false if no node of it
// registered here or at another replica.
func (s *Server) Usage(key [32]byte) (controlproto.Usage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.nets[key]
	if ns == nil {
		return controlproto.Usage{}, false
	}
	return s.usageLocked(key, ns.owner, s.cfg.Now()), true
}
