//go:build !linux

package gateway

import "time"

// poller is Linux's epoll; elsewhere readers never park.
type poller struct{}

func newPoller() (*poller, error) { return nil, nil }

func (p *poller) stop()                            {}
func (p *poller) watch(c *conn, dl time.Time) bool { return false }
func (p *poller) forget(c *conn)                   {}
