package ota

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/stream"
)

// ioTimeout bounds each read and write of the image protocol: a peer that
// stalls that long is dropped (the device resumes later).
const ioTimeout = 30 * time.Second

// Server sends the images of its store to the devices the ledger
// authorizes them for. It does not re-check the images: each device
// verifies what it receives against its authorization.
type Server struct {
	Engine *engine.Engine
	// Store is the image store (StoreDir of the node's home).
	Store string
	Logf  func(format string, args ...any)
	// OnServe, if set, is called after each image request.
	OnServe func(Served)

	// cut, in tests, makes the n-th transfer (from 1) stop after that many
	// bytes; a negative result never cuts.
	cut func(n int) int64

	mu     sync.Mutex // guards following fields
	l      net.Listener
	conns  map[net.Conn]struct{}
	closed bool
	count  int
	wg     sync.WaitGroup
}

// Served describes one image request a Server answered.
type Served struct {
	From   peer.ID `json:"from"`
	SHA256 string  `json:"sha256"`
	Offset int64   `json:"offset"`
	Sent   int64   `json:"sent"`
	Error  string  `json:"error,omitempty"`
}

// StartServer serves the images of home's store (StoreDir) on n.
func StartServer(n *engine.Engine, home string, logf func(string, ...any)) (*Server, error) {
	s := &Server{Engine: n, Store: StoreDir(home), Logf: logf}
	if err := s.Start(); err != nil {
		return nil, err
	}
	return s, nil
}

// Start listens for image requests on the node.
func (s *Server) Start() error {
	if s.Engine == nil || s.Store == "" {
		return errors.New("ota: Server needs Engine and Store")
	}
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	// Open to every node: the policy below admits only the nodes an
	// authorization names.
	l, err := s.Engine.Listen(ServiceImage, node.Everyone)
	if err != nil {
		return fmt.Errorf("ota: serve images: %w", err)
	}
	// Only a node some authorization names may open an image stream.
	s.Engine.AddPolicy(engine.Policy{Stream: func(from node.Sender, service string) error {
		if service != ServiceImage {
			return nil
		}
		if len(ForDevice(s.Engine.Ledger().State(), from.Node)) == 0 {
			return errors.New("no firmware is authorized for your node")
		}
		return nil
	}})
	s.mu.Lock()
	s.l, s.conns = l, map[net.Conn]struct{}{}
	s.mu.Unlock()
	s.wg.Add(1)
	go s.accept(l)
	return nil
}

// Close stops serving and cuts the transfers under way. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	l := s.l
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if l != nil {
		l.Close()
	}
	s.wg.Wait()
	return nil
}

func (s *Server) accept(l net.Listener) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.count++
		n := s.count
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(c, n)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) serve(c net.Conn, n int) {
	defer c.Close()
	sc, ok := c.(*stream.Conn)
	if !ok {
		return
	}
	from := sc.Sender()
	ev := Served{From: from.Node}
	defer func() {
		if s.OnServe != nil {
			s.OnServe(ev)
		}
	}()
	refuse := func(format string, args ...any) {
		ev.Error = fmt.Sprintf(format, args...)
		s.Logf("ota: refused %s (%s): %s", from.Name, from.Node.ShortString(), ev.Error)
		writeFrame(c, fetchReply{Error: ev.Error})
	}
	c.SetDeadline(time.Now().Add(ioTimeout))
	b, err := readFrame(bufio.NewReaderSize(c, 256))
	if err != nil {
		return
	}
	q, err := decodeRequest(b)
	if err != nil {
		refuse("%v", err)
		return
	}
	ev.SHA256, ev.Offset = q.SHA256, q.Offset
	// The stream service re-checked membership; the ledger decides what
	// this node may have.
	authorized := false
	for _, a := range ForDevice(s.Engine.Ledger().State(), from.Node) {
		if a.SHA256 == q.SHA256 {
			authorized = true
			break
		}
	}
	if !authorized {
		refuse("image %s is not authorized for your node", q.SHA256[:12])
		return
	}
	f, err := os.Open(imagePath(s.Store, q.SHA256))
	if err != nil {
		refuse("this node does not keep image %s", q.SHA256[:12])
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		refuse("this node cannot read image %s", q.SHA256[:12])
		return
	}
	if q.Offset > fi.Size() {
		refuse("offset %d is past the image's %d bytes", q.Offset, fi.Size())
		return
	}
	if err := writeFrame(c, fetchReply{Size: fi.Size()}); err != nil {
		return
	}
	limit := fi.Size() - q.Offset
	if s.cut != nil {
		if k := s.cut(n); k >= 0 && k < limit {
			limit = k
		}
	}
	if _, err := f.Seek(q.Offset, io.SeekStart); err != nil {
		return
	}
	buf := make([]byte, 32<<10)
	r := io.LimitReader(f, limit)
	for {
		k, rerr := r.Read(buf)
		if k > 0 {
			c.SetWriteDeadline(time.Now().Add(ioTimeout))
			if _, err := c.Write(buf[:k]); err != nil {
				ev.Error = err.Error()
				return
			}
			ev.Sent += int64(k)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			ev.Error = rerr.Error()
			return
		}
	}
	if sc, ok := c.(interface{ CloseWrite() error }); ok {
		sc.CloseWrite()
	}
}
