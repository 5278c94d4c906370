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
	"net/url"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/transfer"
)

// Client talks to a daemon over its unix socket. It implements Service.
type Client struct {
	hc *http.Client
}

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

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://coco"+path, rd)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("talking to the coco daemon: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e Error
		if json.NewDecoder(resp.Body).Decode(&e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("daemon answered %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func p(parts ...string) string {
	s := "/v1"
	for _, x := range parts {
		s += "/" + url.PathEscape(x)
	}
	return s
}

func (c *Client) Status(ctx context.Context) (s Status, err error) {
	err = c.do(ctx, "GET", p("status"), nil, &s)
	return
}

func (c *Client) Networks(ctx context.Context) (n []coconet.NetworkInfo, err error) {
	err = c.do(ctx, "GET", p("networks"), nil, &n)
	return
}

func (c *Client) CreateNetwork(ctx context.Context, req CreateNetworkRequest) (n coconet.NetworkInfo, err error) {
	err = c.do(ctx, "POST", p("networks"), req, &n)
	return
}

func (c *Client) Members(ctx context.Context, network string) (m []MemberInfo, err error) {
	err = c.do(ctx, "GET", p("networks", network, "members"), nil, &m)
	return
}

func (c *Client) Invite(ctx context.Context, network string, req InviteRequest) (r InviteResult, err error) {
	err = c.do(ctx, "POST", p("networks", network, "invites"), req, &r)
	return
}

func (c *Client) Remove(ctx context.Context, network, member string) (r RemoveResult, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "members", member), nil, &r)
	return
}

func (c *Client) Join(ctx context.Context, code string) (n coconet.NetworkInfo, err error) {
	err = c.do(ctx, "POST", p("join"), map[string]string{"code": code}, &n)
	return
}

func (c *Client) Send(ctx context.Context, network string, req SendRequest) error {
	return c.do(ctx, "POST", p("networks", network, "messages"), req, nil)
}

func (c *Client) Peers(ctx context.Context, network string) (ps []coconet.PeerInfo, err error) {
	err = c.do(ctx, "GET", p("networks", network, "peers"), nil, &ps)
	return
}

func (c *Client) Listen(ctx context.Context, network string) (<-chan coconet.Message, error) {
	return streamIn[coconet.Message](ctx, c, "GET", p("networks", network, "messages"), nil)
}

func (c *Client) Usage(ctx context.Context, network string) (u control.Usage, err error) {
	err = c.do(ctx, "GET", p("networks", network, "usage"), nil, &u)
	return
}

func (c *Client) Call(ctx context.Context, network string, req CallRequest) (r CallResult, err error) {
	err = c.do(ctx, "POST", p("networks", network, "call"), req, &r)
	return
}

func (c *Client) Copy(ctx context.Context, network string, req CopyRequest) (<-chan Progress, error) {
	return streamIn[Progress](ctx, c, "POST", p("networks", network, "copy"), req)
}

func (c *Client) Receive(ctx context.Context, network string, req ReceiveRequest) (<-chan transfer.Event, error) {
	return streamIn[transfer.Event](ctx, c, "POST", p("networks", network, "receive"), req)
}

func (c *Client) Expose(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error) {
	return streamIn[TunnelEvent](ctx, c, "POST", p("networks", network, "tunnels", "expose"), req)
}

func (c *Client) OpenTunnel(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error) {
	return streamIn[TunnelEvent](ctx, c, "POST", p("networks", network, "tunnels", "open"), req)
}

func (c *Client) Publish(ctx context.Context, network string, req PublishRequest) error {
	return c.do(ctx, "POST", p("networks", network, "publish"), req, nil)
}

func (c *Client) Subscribe(ctx context.Context, network string, req SubscribeRequest) (<-chan PubMessage, error) {
	return streamIn[PubMessage](ctx, c, "POST", p("networks", network, "subscribe"), req)
}

// streamIn makes a request whose answer is JSON lines and returns them as a
// channel that closes when the answer ends or ctx does.
func streamIn[T any](ctx context.Context, c *Client, method, path string, body any) (<-chan T, error) {
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
