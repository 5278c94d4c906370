package msg

import "sync"

// inbox fans incoming messages out to subscribers and keeps a bounded
// backlog while there are none, so an acknowledged message is not dropped
// just because no listener was attached yet.
type inbox struct {
	max int

	mu      sync.Mutex // guards following fields
	backlog []Message
	subs    map[chan Message]struct{}
	closed  bool
}

func newInbox(max int) *inbox {
	return &inbox{max: max, subs: map[chan Message]struct{}{}}
}

// put queues m and returns the status to acknowledge it with: statusOK
// when every subscriber (or the backlog) took it.
func (b *inbox) put(m Message) byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return statusClosed
	}
	if len(b.subs) == 0 {
		if len(b.backlog) >= b.max {
			return statusFull
		}
		b.backlog = append(b.backlog, m)
		return statusOK
	}
	st := byte(statusOK)
	for ch := range b.subs {
		select {
		case ch <- m:
		default:
			st = statusFull // a subscriber that does not read loses messages, and the sender hears it
		}
	}
	return st
}

func (b *inbox) subscribe() (<-chan Message, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := make(chan Message, b.max+len(b.backlog))
	if b.closed {
		close(ch)
		return ch, func() {}
	}
	for _, m := range b.backlog {
		ch <- m
	}
	b.backlog = nil
	b.subs[ch] = struct{}{}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.subs[ch]; ok {
				delete(b.subs, ch)
				close(ch)
			}
		})
	}
}

// close ends every subscription and refuses what comes after.
func (b *inbox) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for ch := range b.subs {
		close(ch)
	}
	b.subs = map[chan Message]struct{}{}
	b.backlog = nil
}
