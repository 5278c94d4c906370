package node

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/peerstore"
	"github.com/libp2p/go-libp2p/core/record"
	ma "github.com/multiformats/go-multiaddr"
)

// ProtoPex is member address exchange: when a node connects to a member,
// it asks where that member reaches the other member nodes it is connected
// to, so that members who never met (a guest who joined before a device was
// added, with no LAN discovery and no control plane) find each other. Only
// member nodes ask and answer, and only member nodes' addresses are kept.
//
// An answer carries, for each member node, the signed peer record that node
// gave the answering node in identify (a libp2p record.Envelope holding a
// peer.PeerRecord). The asking node keeps only addresses a node signed
// itself, in its certified address book: a member cannot make others dial
// an address of its choosing under another member's ID. The record's
// addresses are also sent as a plain list, for nodes from before records;
// that list is never read.
const ProtoPex = "/coco/pex/1.0.0"

const (
	maxPexPeers  = 256
	maxPexAddrs  = 16
	maxPexRecord = 4 << 10 // bytes of one marshalled record
	pexTTL       = time.Hour
)

type pexPeer struct {
	ID     string   `json:"id"`
	Addrs  []string `json:"addrs"`
	Record []byte   `json:"record,omitempty"` // the node's own signed peer record (record.Envelope)
}

// pexRecords holds the signed peer records connected member nodes sent in
// identify (which does not keep them), to pass on in pex answers.
type pexRecords struct {
	mu sync.Mutex
	m  map[peer.ID]*record.Envelope
}

// watchPeerRecords keeps the signed peer record of every connected peer,
// from identify, until it disconnects (the gater lets in only members,
// invitees and control planes; whether a peer is a member is asked when
// its record is passed on, since an invitee may become one).
func (n *Node) watchPeerRecords() error {
	sub, err := n.host.EventBus().Subscribe([]any{new(event.EvtPeerIdentificationCompleted), new(event.EvtPeerConnectednessChanged)})
	if err != nil {
		return fmt.Errorf("node: watch peer records: %w", err)
	}
	n.records.m = map[peer.ID]*record.Envelope{}
	n.goLoop(func() {
		defer sub.Close()
		for {
			select {
			case <-n.ctx.Done():
				return
			case e, ok := <-sub.Out():
				if !ok {
					return
				}
				n.records.mu.Lock()
				switch e := e.(type) {
				case event.EvtPeerIdentificationCompleted:
					if e.SignedPeerRecord != nil {
						n.records.m[e.Peer] = e.SignedPeerRecord
					}
					if len(n.records.m) > 4*maxPexPeers { // a disconnection seen before its identify
						for p := range n.records.m {
							if n.host.Network().Connectedness(p) != network.Connected {
								delete(n.records.m, p)
							}
						}
					}
				case event.EvtPeerConnectednessChanged:
					if e.Connectedness != network.Connected && e.Connectedness != network.Limited {
						delete(n.records.m, e.Peer)
					}
				}
				n.records.mu.Unlock()
			}
		}
	})
	return nil
}

// peerRecord returns p's signed peer record, marshalled, and the addresses
// it names; nil when p gave none.
func (n *Node) peerRecord(p peer.ID) ([]byte, []ma.Multiaddr) {
	n.records.mu.Lock()
	env := n.records.m[p]
	n.records.mu.Unlock()
	if env == nil {
		return nil, nil
	}
	b, err := env.Marshal()
	if err != nil || len(b) > maxPexRecord {
		return nil, nil
	}
	r, err := env.Record()
	if err != nil {
		return nil, nil
	}
	rec, ok := r.(*peer.PeerRecord)
	if !ok {
		return nil, nil
	}
	return b, rec.Addrs
}

func (n *Node) handlePex(s network.Stream) {
	defer s.Close()
	from := s.Conn().RemotePeer()
	if !n.IsMember(from) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(10 * time.Second))
	var out []pexPeer
	for _, p := range n.host.Network().Peers() {
		if p == from || !n.IsMember(p) || len(out) >= maxPexPeers {
			continue
		}
		rec, addrs := n.peerRecord(p)
		if rec == nil {
			continue // nothing it signed: nothing the asker would take
		}
		pp := pexPeer{ID: p.String(), Record: rec}
		for _, a := range addrs { // for nodes from before records
			if len(pp.Addrs) < maxPexAddrs {
				pp.Addrs = append(pp.Addrs, a.String())
			}
		}
		out = append(out, pp)
	}
	writeFrame(s, out)
}

// askPex asks member p for the addresses of the members it is connected to.
func (n *Node) askPex(p peer.ID) {
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	s, err := n.host.NewStream(network.WithAllowLimitedConn(ctx, "pex"), p, ProtoPex)
	if err != nil {
		return
	}
	defer s.Close()
	s.SetDeadline(time.Now().Add(10 * time.Second))
	var in []pexPeer
	if err := readFrame(bufio.NewReader(s), &in, 1<<20); err != nil {
		return
	}
	cab, ok := peerstore.GetCertifiedAddrBook(n.host.Peerstore())
	if !ok {
		return
	}
	learned := 0
	var dropped []string
	for i, pp := range in {
		if i >= maxPexPeers {
			break
		}
		id, err := peer.Decode(pp.ID)
		if err != nil || id == n.id || !n.IsMember(id) {
			continue
		}
		if len(n.host.Network().ConnsToPeer(id)) > 0 {
			continue
		}
		env, err := pexRecord(id, pp.Record)
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("%s: %v", id.ShortString(), err))
			continue
		}
		// Kept only if newer than a record already held for id.
		if ok, err := cab.ConsumePeerRecord(env, pexTTL); err != nil {
			dropped = append(dropped, fmt.Sprintf("%s: %v", id.ShortString(), err))
		} else if ok {
			learned++
		}
	}
	if len(dropped) > 0 {
		n.cfg.Logf("pex: dropped addresses %s named for %d member node(s): %s", p.ShortString(), len(dropped), summarizeDropped(dropped))
	}
	if learned > 0 {
		n.kickReconnect()
	}
}

// pexRecord checks that b is a peer record signed by id itself, naming at
// most maxPexAddrs addresses, and returns its envelope.
func pexRecord(id peer.ID, b []byte) (*record.Envelope, error) {
	switch {
	case len(b) == 0:
		return nil, errUnsignedAddrs
	case len(b) > maxPexRecord:
		return nil, fmt.Errorf("peer record of %d bytes, more than %d", len(b), maxPexRecord)
	}
	env, r, err := record.ConsumeEnvelope(b, peer.PeerRecordEnvelopeDomain)
	if err != nil {
		return nil, fmt.Errorf("bad peer record: %w", err)
	}
	rec, ok := r.(*peer.PeerRecord)
	switch {
	case !ok:
		return nil, fmt.Errorf("not a peer record")
	case rec.PeerID != id:
		return nil, fmt.Errorf("the record is for another node, %s", rec.PeerID.ShortString())
	case !id.MatchesPublicKey(env.PublicKey):
		return nil, errNotSelfSigned
	case len(rec.Addrs) > maxPexAddrs:
		return nil, fmt.Errorf("the record names %d addresses, more than %d", len(rec.Addrs), maxPexAddrs)
	}
	return env, nil
}

// summarizeDropped joins the first five reasons and counts the others.
func summarizeDropped(dropped []string) string {
	if len(dropped) > 5 {
		return fmt.Sprintf("%s; and %d more", strings.Join(dropped[:5], "; "), len(dropped)-5)
	}
	return strings.Join(dropped, "; ")
}

var (
	errUnsignedAddrs = fmt.Errorf("addresses without the node's signed peer record")
	errNotSelfSigned = fmt.Errorf("the record is not signed by the node it names")
)
