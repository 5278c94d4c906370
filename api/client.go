package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Client calls a Service through the route table: a daemon's over its unix
// socket (Dial), one in this process (Local), or whichever a function finds
// on the first call (Lazy). It implements Service.
type Client struct {
	hc    *http.Client // over a daemon's socket
	local Service      // in this process: routes call it directly
	done  func()       // Close calls it

	open    func() (*Client, error) // Lazy: finds the client to use
	once    sync.Once
	opened  *Client
	openErr error
}

var _ Service = (*Client)(nil)

// ErrNotRunning means no daemon answers on the socket.
var ErrNotRunning = errors.New("coco is not running for this home; start it with `coco up`")

// Dial connects to the daemon's socket, failing with ErrNotRunning when
// nothing listens there.
func Dial(socket string) (*Client, error) {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return nil, ErrNotRunning
	}
	c.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &Client{hc: &http.Client{Transport: tr}}, nil
}

// Local is a Client that calls svc in this process, without encoding
// anything; Close calls done (if not nil).
func Local(svc Service, done func()) *Client {
	return &Client{local: svc, done: done}
}

// Lazy is a Client that calls open on its first request and then uses the
// client open returned; open's error is every request's. Close closes that
// client, if open was called.
func Lazy(open func() (*Client, error)) *Client {
	return &Client{open: open}
}

// Close releases what the client holds (for Local, what done releases).
func (c *Client) Close() error {
	if c.open != nil {
		c.once.Do(func() { c.openErr = errors.New("api: client closed") })
		if c.opened != nil {
			return c.opened.Close()
		}
		return nil
	}
	if c.done != nil {
		c.done()
		c.done = nil
	}
	if c.hc != nil {
		c.hc.CloseIdleConnections()
	}
	return nil
}

// backend is the client that does the requests.
func (c *Client) backend() (*Client, error) {
	if c.open == nil {
		return c, nil
	}
	c.once.Do(func() { c.opened, c.openErr = c.open() })
	if c.openErr != nil {
		return nil, c.openErr
	}
	return c.opened.backend()
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// send makes a request and returns a successful answer.
func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://coco"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("talking to the coco daemon: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return nil, errors.New(e.Error)
		}
		return nil, fmt.Errorf("daemon answered %s", resp.Status)
	}
	return resp, nil
}

// streamIn makes a request whose answer is JSON lines and returns them as a
// channel that closes when the answer ends or ctx does.
func streamIn[T any](ctx context.Context, c *Client, method, path string, body any) (<-chan T, error) {
	resp, err := c.send(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	ch := make(chan T, 16)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var v T
			if json.Unmarshal(sc.Bytes(), &v) != nil {
				continue
			}
			select {
			case ch <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}
