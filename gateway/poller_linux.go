package gateway

import (
	"container/heap"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// poller waits for bytes on parked connections and for their read
// deadlines with one epoll set, one heap of deadlines and one goroutine.
type poller struct {
	epfd  int
	pipe  [2]int // a byte on pipe[1] wakes run: to stop, or for an earlier deadline
	done  chan struct{}
	mu    sync.Mutex
	conns map[uint64]*conn // by parking.tok
	next  uint64
	dls   deadlines // parked connections by parking.when
	until int64     // run sleeps until then at most (Unix ns; 0: no deadline)
	stopd bool
}

// deadlines is a heap of connections by parking.when (poller.mu).
type deadlines []*conn

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].pk.when < h[j].pk.when }
func (h deadlines) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].pk.hidx, h[j].pk.hidx = int32(i), int32(j)
}
func (h *deadlines) Push(x any) {
	c := x.(*conn)
	c.pk.hidx = int32(len(*h))
	*h = append(*h, c)
}
func (h *deadlines) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.pk.hidx = -1
	return c
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
	var due []*conn
	var drain [64]byte
	for {
		timeout := -1
		p.mu.Lock()
		p.until = 0
		if len(p.dls) > 0 {
			p.until = p.dls[0].pk.when
			timeout = int(max(0, (p.until-time.Now().UnixNano()+int64(time.Millisecond)-1)/int64(time.Millisecond)))
		}
		p.mu.Unlock()
		n, err := syscall.EpollWait(p.epfd, events, timeout)
		if err != nil && err != syscall.EINTR {
			return
		}
		p.mu.Lock()
		if p.stopd {
			p.mu.Unlock()
			return
		}
		for _, ev := range events[:max(n, 0)] {
			tok := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if tok == 0 {
				for {
					if m, _ := syscall.Read(p.pipe[0], drain[:]); m <= 0 {
						break
					}
				}
			} else if c := p.conns[tok]; c != nil {
				due = append(due, c)
			}
		}
		now := time.Now().UnixNano()
		for len(p.dls) > 0 && p.dls[0].pk.when <= now {
			due = append(due, heap.Pop(&p.dls).(*conn))
		}
		p.mu.Unlock()
		for i, c := range due {
			c.wake()
			due[i] = nil
		}
		due = due[:0]
	}
}

// stop ends run; parked connections are to be closed by then.
func (p *poller) stop() {
	p.mu.Lock()
	p.stopd = true
	p.mu.Unlock()
	syscall.Write(p.pipe[1], []byte{0})
	<-p.done
	p.closeFDs()
}

// watch arms the poller for c's next bytes or hang-up (once), and for its
// deadline dl. Only c's reader calls it.
func (p *poller) watch(c *conn, dl time.Time) bool {
	p.mu.Lock()
	if c.pk.tok == 0 {
		p.next++
		c.pk.tok = p.next
		c.pk.hidx = -1
		p.conns[c.pk.tok] = c
	}
	tok := c.pk.tok
	c.pk.when = dl.UnixNano()
	if c.pk.hidx < 0 {
		heap.Push(&p.dls, c)
	} else {
		heap.Fix(&p.dls, int(c.pk.hidx))
	}
	nudge := p.until == 0 || c.pk.when < p.until
	p.mu.Unlock()
	if nudge { // run sleeps past dl
		syscall.Write(p.pipe[1], []byte{0})
	}
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
		if c.pk.hidx >= 0 {
			heap.Remove(&p.dls, int(c.pk.hidx))
		}
	}
	p.mu.Unlock()
}
