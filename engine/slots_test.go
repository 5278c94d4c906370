package engine_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
)

// closeLog records the order in which services close.
type closeLog struct {
	mu    sync.Mutex
	names []string
}

func (l *closeLog) add(name string) {
	l.mu.Lock()
	l.names = append(l.names, name)
	l.mu.Unlock()
}

func (l *closeLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.names)
}

// Two service types, each with its own slot.
type svcA struct {
	name   string
	log    *closeLog
	closed atomic.Int32
	err    error
}

func (s *svcA) Close() error {
	s.closed.Add(1)
	if s.log != nil {
		s.log.add(s.name)
	}
	return s.err
}

type svcB struct{ svcA }

func startA(s *svcA) func(*engine.Engine) (*svcA, error) {
	return func(*engine.Engine) (*svcA, error) { return s, nil }
}

func oneEngine(t *testing.T) *engine.Engine {
	return enginetest.New(t, "alice").Start("alice", enginetest.Options{})
}

// One service per type: a second Attach of a type is refused without
// starting it, another type has its own slot, and Lookup finds each.
func TestSlotsOnePerType(t *testing.T) {
	e := oneEngine(t)
	a := &svcA{name: "a"}
	if got, err := engine.Attach(e, startA(a)); err != nil || got != a {
		t.Fatalf("Attach = %v, %v", got, err)
	}
	started := false
	_, err := engine.Attach(e, func(*engine.Engine) (*svcA, error) { started = true; return &svcA{}, nil })
	if err == nil {
		t.Fatal("a second service of one type was attached")
	}
	if started {
		t.Error("the second service was started though its slot is taken")
	}
	b := &svcB{svcA{name: "b"}}
	if _, err := engine.Attach(e, func(*engine.Engine) (*svcB, error) { return b, nil }); err != nil {
		t.Fatalf("Attach of another type: %v", err)
	}
	if got, ok := engine.Lookup[*svcA](e); !ok || got != a {
		t.Errorf("Lookup[*svcA] = %v, %v", got, ok)
	}
	if got, ok := engine.Lookup[*svcB](e); !ok || got != b {
		t.Errorf("Lookup[*svcB] = %v, %v", got, ok)
	}
	if a.closed.Load() != 0 {
		t.Error("the attached service was closed by a refused Attach")
	}
}

// A start that fails attaches nothing: the next Use starts again.
func TestSlotsStartError(t *testing.T) {
	e := oneEngine(t)
	errStart := errors.New("no radio")
	if _, err := engine.Use(e, func(*engine.Engine) (*svcA, error) { return nil, errStart }); !errors.Is(err, errStart) {
		t.Fatalf("Use = %v, want the start's error", err)
	}
	if _, ok := engine.Lookup[*svcA](e); ok {
		t.Fatal("a failed start left a service in the slot")
	}
	a := &svcA{}
	if got, err := engine.Use(e, startA(a)); err != nil || got != a {
		t.Fatalf("Use after a failed start = %v, %v", got, err)
	}
}

// Concurrent Use calls start the service once and all get it.
func TestSlotsUseStartsOnce(t *testing.T) {
	e := oneEngine(t)
	var starts atomic.Int32
	const callers = 16
	got := make([]*svcA, callers)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			s, err := engine.Use(e, func(*engine.Engine) (*svcA, error) {
				starts.Add(1)
				time.Sleep(20 * time.Millisecond) // a slow start: the others call Use meanwhile
				return &svcA{}, nil
			})
			if err != nil {
				t.Errorf("Use: %v", err)
			}
			got[i] = s
		}()
	}
	close(gate)
	wg.Wait()
	if n := starts.Load(); n != 1 {
		t.Fatalf("the service started %d times, want once", n)
	}
	for _, s := range got {
		if s != got[0] || s == nil {
			t.Fatalf("callers got different services: %v", got)
		}
	}
}

// Closing the engine closes its services last attached first, once each;
// a detached one is not closed, and the close errors are returned.
func TestSlotsClosedWithEngine(t *testing.T) {
	e := oneEngine(t)
	var l closeLog
	errB := errors.New("b would not close")
	a := &svcA{name: "a", log: &l}
	b := &svcB{svcA{name: "b", log: &l, err: errB}}
	type svcC struct{ svcA }
	c := &svcC{svcA{name: "c", log: &l}}
	engine.Attach(e, startA(a))
	engine.Attach(e, func(*engine.Engine) (*svcB, error) { return b, nil })
	engine.Attach(e, func(*engine.Engine) (*svcC, error) { return c, nil })

	engine.Detach(e, &svcC{}) // not what the slot holds: no effect
	if got, ok := engine.Lookup[*svcC](e); !ok || got != c {
		t.Fatal("Detach of another value emptied the slot")
	}
	engine.Detach(e, c)
	if _, ok := engine.Lookup[*svcC](e); ok {
		t.Fatal("Detach left the service in its slot")
	}

	if err := e.Close(); !errors.Is(err, errB) {
		t.Errorf("Close = %v, want the service's close error", err)
	}
	if got := l.list(); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("services closed in order %v, want [b a] (last attached first, the detached one not)", got)
	}
	e.Close()
	if a.closed.Load() != 1 || b.closed.Load() != 1 || c.closed.Load() != 0 {
		t.Errorf("closed a %d, b %d, c %d times; want 1, 1, 0", a.closed.Load(), b.closed.Load(), c.closed.Load())
	}
	if _, ok := engine.Lookup[*svcA](e); ok {
		t.Error("Lookup finds a service after Close")
	}
}

// A service attached after the engine closed is closed at once and
// ErrClosed returned: nothing outlives the engine.
func TestSlotsAttachAfterClose(t *testing.T) {
	e := oneEngine(t)
	e.Close()
	a := &svcA{}
	if _, err := engine.Attach(e, startA(a)); !errors.Is(err, engine.ErrClosed) {
		t.Fatalf("Attach after Close = %v, want ErrClosed", err)
	}
	if a.closed.Load() != 1 {
		t.Fatalf("the service attached after Close was closed %d times, want 1", a.closed.Load())
	}
	b := &svcA{}
	if _, err := engine.Use(e, startA(b)); !errors.Is(err, engine.ErrClosed) || b.closed.Load() != 1 {
		t.Fatalf("Use after Close = %v (closed %d), want ErrClosed and the service closed", err, b.closed.Load())
	}
}

// Close is idempotent; the engine's fixed facts still answer after it,
// and its context has ended.
func TestCloseAndAccessors(t *testing.T) {
	n := enginetest.New(t, "alice")
	e := n.Start("alice", enginetest.Options{App: "chat"})
	peerID, user, netID := e.PeerID(), e.User(), e.NetworkID()
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case <-e.Context().Done():
	default:
		t.Error("the engine's context did not end with Close")
	}
	if e.PeerID() != peerID || e.User() != user || e.NetworkID() != netID || e.App() != "chat" {
		t.Error("fixed facts changed after Close")
	}
	if e.User() != n.Owner().ID() || e.Ledger() != n.Log() || e.Identity() != n.Owner() {
		t.Error("User, Ledger or Identity do not answer after Close")
	}
	if e.Ledger().State().Name != "home" || e.String() == "" {
		t.Error("the ledger is not readable after Close")
	}
	if err := e.Send(context.Background(), "alice", []byte("x")); err == nil {
		t.Error("Send succeeded after Close")
	}
}
