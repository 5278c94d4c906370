package pubsub

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/node"
)

// The subscriber side: announcing subscriptions and receiving messages.

// announcement builds the current announcement.
func (ps *PubSub) announcement() announcement {
	ps.smu.RLock()
	defer ps.smu.RUnlock()
	a := announcement{session: ps.session, gen: ps.gen.Add(1)}
	for _, s := range ps.subs {
		a.subs = append(a.subs, patSub{id: s.id, qos: s.qos, pattern: s.pattern})
	}
	return a
}

// announceAll tells every connected member node the current subscriptions
// and waits (bounded by ctx) until each applied it.
func (ps *PubSub) announceAll(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range ps.n.ConnectedMembers() {
		wg.Add(1)
		ok := ps.goOwned(func() {
			defer wg.Done()
			ps.announceTo(ctx, p, 3)
		})
		if !ok {
			wg.Done()
		}
	}
	wg.Wait()
}

// announceWithRetry tells a newly connected node our subscriptions.
func (ps *PubSub) announceWithRetry(p peer.ID) {
	ps.smu.RLock()
	none := len(ps.subs) == 0
	ps.smu.RUnlock()
	if none {
		return
	}
	ctx, cancel := context.WithTimeout(ps.ctx, 30*time.Second)
	defer cancel()
	ps.announceTo(ctx, p, 6)
}

// announceTo sends the current announcement to p, trying up to tries times
// (the peer may not yet know us as a member right after a join).
func (ps *PubSub) announceTo(ctx context.Context, p peer.ID, tries int) {
	delay := 100 * time.Millisecond
	for i := 0; ; i++ {
		err := ps.sendAnnouncement(ctx, p, ps.announcement())
		if err == nil {
			return
		}
		if i+1 >= tries || ctx.Err() != nil || ps.h.Network().Connectedness(p) != network.Connected {
			ps.opts.Logf("pubsub: telling %s our subscriptions: %v", p.ShortString(), err)
			return
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return
		}
		delay *= 2
	}
}

func (ps *PubSub) sendAnnouncement(ctx context.Context, p peer.ID, a announcement) error {
	s, err := ps.h.NewStream(ctx, p, ProtoSubs)
	if err != nil {
		return err
	}
	defer s.Close()
	if dl, ok := ctx.Deadline(); ok {
		s.SetDeadline(dl)
	}
	if _, err := s.Write(subsFrame(a)); err != nil {
		s.Reset()
		return err
	}
	s.CloseWrite()
	var ack [1]byte
	if _, err := io.ReadFull(s, ack[:]); err != nil {
		s.Reset()
		return fmt.Errorf("no acknowledgement: %w", err)
	}
	return nil
}

// handleSubs applies a node's announcement and answers once a stream to it
// is up (so that what is published after the subscriber's Subscribe returns
// reaches it).
func (ps *PubSub) handleSubs(s network.Stream) {
	p := s.Conn().RemotePeer()
	sender, ok := ps.n.SenderOf(p)
	if !ok || !ps.n.IsMember(p) {
		s.Reset()
		return
	}
	s.SetDeadline(time.Now().Add(15 * time.Second))
	body, _, err := readFrame(bufio.NewReaderSize(s, 4096))
	if err != nil {
		s.Reset()
		return
	}
	a, err := parseSubs(body)
	if err != nil {
		ps.opts.Logf("pubsub: bad announcement from %s: %v", p.ShortString(), err)
		s.Reset()
		return
	}
	ps.mu.Lock()
	if ps.closed {
		ps.mu.Unlock()
		s.Reset()
		return
	}
	r := ps.remotes[p]
	if r == nil {
		r = newRemote(ps, p, sender)
		ps.remotes[p] = r
		ps.storeRemotesLocked()
	}
	var ret []entry
	fresh, applied := r.apply(a)
	for _, sub := range fresh {
		for t, rm := range ps.retained {
			if Match(sub.pattern, t) {
				ret = append(ret, entry{m: rm.m, qos: min(rm.qos, sub.qos), sub: sub.id, retained: true})
			}
		}
	}
	ps.mu.Unlock()
	if applied {
		up := r.start()
		for _, e := range ret {
			if a := ps.opts.Authorize; a != nil && !a(*r.sender.Load(), e.m.topic) {
				continue
			}
			r.enqueue(ps.ctx, e, false)
		}
		if len(a.subs) > 0 {
			select {
			case <-up:
			case <-time.After(5 * time.Second):
			case <-ps.ctx.Done():
			}
		} else {
			r.stop()
		}
	}
	s.Write([]byte{0})
	s.Close()
}

// pubState is what a subscriber node remembers of one publisher: its
// session and the last sequence number delivered, to drop resent duplicates.
// mu is held by the stream from that publisher being read.
type pubState struct {
	mu      sync.Mutex
	session uint64
	last    uint64
}

// track registers an incoming stream so Close and removals can reset it.
func (ps *PubSub) track(s network.Stream) bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.closed {
		return false
	}
	ps.incoming[s] = struct{}{}
	ps.wg.Add(1)
	return true
}

func (ps *PubSub) untrack(s network.Stream) {
	ps.mu.Lock()
	delete(ps.incoming, s)
	ps.mu.Unlock()
	ps.wg.Done()
}

// handleMsg reads one publisher's stream and delivers to the local
// subscriptions.
func (ps *PubSub) handleMsg(s network.Stream) {
	p := s.Conn().RemotePeer()
	from, ok := ps.n.SenderOf(p)
	if !ok || !ps.n.IsMember(p) || !ps.track(s) {
		s.Reset()
		return
	}
	defer ps.untrack(s)
	err := ps.readPublisher(s, p, from)
	if err != nil && err != io.EOF && ps.ctx.Err() == nil {
		ps.opts.Logf("pubsub: stream from %s: %v", p.ShortString(), err)
	}
	s.Reset()
}

func (ps *PubSub) readPublisher(s network.Stream, p peer.ID, from node.Sender) error {
	s.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(helloFrame(ps.session)); err != nil {
		return err
	}
	br := bufio.NewReaderSize(s, 64<<10)
	body, discard, err := readFrame(br)
	if err != nil {
		return err
	}
	session, err := parseHello(body)
	br.Discard(discard)
	if err != nil {
		return err
	}
	ps.mu.Lock()
	st := ps.pubs[p]
	if st == nil {
		st = &pubState{}
		ps.pubs[p] = st
	}
	ps.mu.Unlock()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.session != session {
		st.session, st.last = session, 0
	}
	acked := st.last
	needAck := false
	var lastTopic string
	for {
		body, discard, err := readFrame(br)
		if err != nil {
			return err
		}
		switch body[0] {
		case frameMsg:
			f, err := parseMsg(body, lastTopic)
			if err != nil {
				return err
			}
			if f.flags&flagQoS1 != 0 {
				needAck = true
			}
			if f.seq > st.last {
				st.last = f.seq
				if string(f.topic) != lastTopic {
					lastTopic = string(f.topic)
				}
				if a := ps.opts.AuthorizePublish; a != nil && !a(from, lastTopic) {
					break // acknowledged (QoS 1) but not delivered
				}
				m := Message{Topic: lastTopic, Data: append([]byte(nil), f.data...), From: from,
					Retained: f.flags&flagRetained != 0, Seq: f.seq}
				if m.Data == nil {
					m.Data = []byte{}
				}
				if f.flags&flagQoS1 != 0 {
					m.QoS = QoS1
				}
				ps.deliver(m, f.sub)
			}
		case frameLag:
			lags, err := parseLag(body)
			if err != nil {
				return err
			}
			for _, l := range lags {
				ps.lagPattern(l.pattern, l.n)
			}
		default:
			return fmt.Errorf("unexpected frame type %d from a publisher", body[0])
		}
		br.Discard(discard)
		if needAck && br.Buffered() == 0 && st.last > acked {
			s.SetWriteDeadline(time.Now().Add(30 * time.Second))
			if _, err := s.Write(ackFrame(st.last)); err != nil {
				return err
			}
			acked, needAck = st.last, false
		}
	}
}
