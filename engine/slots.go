package engine

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
)

// A Service is a value attached to an engine (the home model's device host,
// the push bridge, OTA, the daemon's handles): the engine keeps one per
// type and closes it when the engine closes, last attached first.
type Service interface {
	Close() error
}

// ErrClosed means the engine closed before a service could attach.
var ErrClosed = errors.New("engine: closed")

// slots keeps the services attached to an engine, one per type.
type slots struct {
	useMu  sync.Mutex // serializes Use
	mu     sync.Mutex
	closed bool
	byType map[reflect.Type]Service
	order  []Service
}

// Attach starts a service of type S on e with start and keeps it in e's
// slot for S. There is one slot per type: attaching a second S fails. If
// e closes while start runs, the new service is closed and ErrClosed
// returned.
func Attach[S Service](e *Engine, start func(*Engine) (S, error)) (S, error) {
	var zero S
	t := reflect.TypeFor[S]()
	if _, ok := Lookup[S](e); ok {
		return zero, fmt.Errorf("engine: a %v is already attached", t)
	}
	s, err := start(e)
	if err != nil {
		return zero, err
	}
	if err := e.slots.put(t, s); err != nil {
		s.Close()
		return zero, err
	}
	return s, nil
}

// Lookup returns the service of type S attached to e.
func Lookup[S Service](e *Engine) (S, bool) {
	e.slots.mu.Lock()
	defer e.slots.mu.Unlock()
	s, ok := e.slots.byType[reflect.TypeFor[S]()].(S)
	return s, ok
}

// Use returns the service of type S attached to e, attaching it with start
// if there is none yet. Concurrent calls of Use start it once; an Attach
// racing with Use may start a second one, which is then closed and its
// Attach (or Use) fails.
func Use[S Service](e *Engine, start func(*Engine) (S, error)) (S, error) {
	e.slots.useMu.Lock()
	defer e.slots.useMu.Unlock()
	if s, ok := Lookup[S](e); ok {
		return s, nil
	}
	return Attach(e, start)
}

func (s *slots) put(t reflect.Type, svc Service) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if _, ok := s.byType[t]; ok {
		return fmt.Errorf("engine: a %v is already attached", t)
	}
	if s.byType == nil {
		s.byType = map[reflect.Type]Service{}
	}
	s.byType[t] = svc
	s.order = append(s.order, svc)
	return nil
}

// close closes every attached service, last attached first.
func (s *slots) close() error {
	s.mu.Lock()
	s.closed = true
	order := s.order
	s.order, s.byType = nil, nil
	s.mu.Unlock()
	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		errs = append(errs, order[i].Close())
	}
	return errors.Join(errs...)
}

// Detach removes s from e's slot for S if s is what it holds (a service
// that closed on its own); e then no longer closes it.
func Detach[S Service](e *Engine, s S) {
	t := reflect.TypeFor[S]()
	sl := &e.slots
	sl.mu.Lock()
	defer sl.mu.Unlock()
	cur, ok := sl.byType[t]
	if !ok || !t.Comparable() || any(cur) != any(s) {
		return
	}
	delete(sl.byType, t)
	for i, o := range sl.order {
		if o == Service(cur) {
			sl.order = append(sl.order[:i], sl.order[i+1:]...)
			break
		}
	}
}
