package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/rpc"
	"github.com/coconet/coconet/stream"
)

// RawService is the stream service over which the push servers of a
// network carry the raw channels between their devices (see "Raw channels
// across push servers" in the package documentation).
const RawService = "coco.push.raw"

// rawHeader is what the dialer of a raw channel's stream sends first: one
// length byte, then "<account>:<from>:<to>" (to is the id on the listening
// server that waits for from).
func rawHeader(account, from, to string) []byte {
	s := account + ":" + from + ":" + to
	return append([]byte{byte(len(s))}, s...)
}

// parseRawHeader checks the body of a raw channel's header (after the
// length byte).
func parseRawHeader(b []byte) (account, from, to string, err error) {
	f := bytes.Split(b, []byte{':'})
	if len(f) != 3 || !validID(f[0]) || !validID(f[1]) || !validID(f[2]) {
		return "", "", "", fmt.Errorf("gateway: malformed raw channel header %.40q", b)
	}
	return string(f[0]), string(f[1]), string(f[2]), nil
}

// askRaw implements rawForwarder: it asks every known push server at once
// and waits for them all (ctx bounds it). Where both ids asked for each
// other at the same moment, the server with the lower peer ID opens the
// stream.
func (b *Bridge) askRaw(ctx context.Context, account, from, to string) (found bool, dial string) {
	peers := slices.DeleteFunc(b.Servers(), func(p peer.ID) bool { return !b.named(p) })
	if len(peers) == 0 {
		return false, ""
	}
	msg, _ := json.Marshal(wireMsg{T: "raw", P: []wirePush{{Account: account, From: from, To: []string{to}}}})
	type answer struct {
		p   peer.ID
		raw string
	}
	ch := make(chan answer, len(peers))
	for _, p := range peers {
		go func() { // ends with ctx at the latest; askRaw waits for it
			out, err := b.n.RPC().Request(ctx, p, Service, msg)
			var r wireReply
			if err == nil {
				err = json.Unmarshal(out, &r)
			}
			if err != nil && !errors.Is(err, rpc.ErrUnknownService) && ctx.Err() == nil {
				b.logf("gateway: raw ask to %s: %v", p.ShortString(), err)
			}
			ch <- answer{p, r.Raw}
		}()
	}
	me := b.nd.ID()
	for range peers {
		a := <-ch
		switch a.raw {
		case rawTold:
			found = true
		case rawBoth:
			found = true
			if me < a.p && dial == "" {
				dial = a.p.String()
			}
		}
	}
	return found, dial
}

// dialRaw implements rawForwarder.
func (b *Bridge) dialRaw(ctx context.Context, where, account, from, to string) (rawStream, error) {
	p, err := peer.Decode(where)
	if err != nil {
		return nil, fmt.Errorf("gateway: raw channel to %.60q: %w", where, err)
	}
	st, err := b.n.Streams().Dial(ctx, p, RawService)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { st.Reset() })
	if d, ok := ctx.Deadline(); ok {
		st.SetDeadline(d)
	}
	var v [1]byte
	_, err = st.Write(rawHeader(account, from, to))
	if err == nil {
		_, err = io.ReadFull(st, v[:])
	}
	if !stop() {
		err = ctx.Err()
	}
	switch {
	case err != nil:
		st.Reset()
		return nil, fmt.Errorf("gateway: raw channel to %s: %w", p.ShortString(), err)
	case v[0] != rawAccepted:
		st.Reset()
		return nil, errRawRefused
	}
	st.SetDeadline(time.Time{})
	return st, nil
}

// acceptRaw accepts the raw channels' streams other push servers open.
func (b *Bridge) acceptRaw() {
	defer b.wg.Done()
	for {
		nc, err := b.rawLn.Accept()
		if err != nil {
			return // Close
		}
		b.wg.Add(1)
		go b.serveRaw(nc.(*stream.Conn))
	}
}

// serveRaw reads the header of a raw channel's stream and hands the
// stream to the server (the stream service has checked membership and the
// node's policies).
func (b *Bridge) serveRaw(st *stream.Conn) {
	defer b.wg.Done()
	if !b.named(st.Sender().Node) || !b.named(b.nd.ID()) {
		b.logf("gateway: raw channel from %s: %v", st.Sender().Name, ErrNotPushServer)
		st.Reset()
		return
	}
	st.SetReadDeadline(time.Now().Add(helloTimeout))
	var l [1]byte
	if _, err := io.ReadFull(st, l[:]); err != nil {
		st.Reset()
		return
	}
	hdr := make([]byte, l[0])
	if _, err := io.ReadFull(st, hdr); err != nil {
		st.Reset()
		return
	}
	account, from, to, err := parseRawHeader(hdr)
	if err != nil {
		b.logf("%v from %s", err, st.Sender().Name)
		st.Reset()
		return
	}
	st.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(b.ctx, forwardTimeout)
	err = b.s.acceptRaw(ctx, account, from, to, st)
	cancel()
	if err != nil {
		st.SetWriteDeadline(time.Now().Add(helloTimeout))
		st.Write([]byte{rawRefused})
		st.Close()
	}
}
