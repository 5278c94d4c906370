package gateway

import (
	"fmt"
	"sync"
	"syscall"
)

// poller waits for bytes on parked connections with one epoll set and
// one goroutine.
type poller struct {
	epfd  int
	pipe  [2]int // a byte on pipe[1] stops run
	done  chan struct{}
	mu    sync.Mutex
	conns map[uint64]*conn // by parking.tok
	next  uint64
}

func newPoller() (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("gateway: epoll_create1: %w", err)
	}
	p := &poller{epfd: epfd, done: make(chan struct{}), conns: make(map[uint64]*conn)}
	if err := syscall.Pipe2(p.pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		syscall.Close(epfd)
		return nil, fmt.Errorf("gateway: pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // token 0
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.pipe[0], &ev); err != nil {
		p.closeFDs()
		return nil, fmt.Errorf("gateway: epoll_ctl: %w", err)
	}
	go p.run()
	return p, nil
}

func (p *poller) closeFDs() {
	syscall.Close(p.pipe[0])
	syscall.Close(p.pipe[1])
	syscall.Close(p.epfd)
}

func (p *poller) run() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if tok == 0 {
				return
			}
			p.mu.Lock()
			c := p.conns[tok]
			p.mu.Unlock()
			if c != nil {
				c.wake()
			}
		}
	}
}

// stop ends run; parked connections are to be closed by then.
func (p *poller) stop() {
	syscall.Write(p.pipe[1], []byte{0})
	<-p.done
	p.closeFDs()
}

// watch arms the poller for c's next bytes or hang-up (once). Only c's
// reader calls it.
func (p *poller) watch(c *conn) bool {
	p.mu.Lock()
	if c.pk.tok == 0 {
		p.next++
		c.pk.tok = p.next
		p.conns[c.pk.tok] = c
	}
	tok := c.pk.tok
	p.mu.Unlock()
	if c.closing.Load() { // close may have missed the token
		p.forget(c)
		return false
	}
	op := syscall.EPOLL_CTL_MOD
	if !c.pk.added {
		op = syscall.EPOLL_CTL_ADD
	}
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT,
		Fd:     int32(uint32(tok)),
		Pad:    int32(uint32(tok >> 32)),
	}
	var cerr error
	if err := c.rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	}); err != nil || cerr != nil {
		return false
	}
	c.pk.added = true
	return true
}

// forget drops c, which is closing (its socket leaves the epoll set when
// it is closed).
func (p *poller) forget(c *conn) {
	p.mu.Lock()
	if c.pk.tok != 0 {
		delete(p.conns, c.pk.tok)
	}
	p.mu.Unlock()
}
