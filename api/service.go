package api

import (
	"context"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/control"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/transfer"
	"github.com/coconet/coconet/tunnel"
)

// Service is what the daemon offers its clients.
type Service interface {
	Status(ctx context.Context) (Status, error)
	Networks(ctx context.Context) ([]homedir.NetworkInfo, error)
	CreateNetwork(ctx context.Context, req CreateNetworkRequest) (homedir.NetworkInfo, error)
	Members(ctx context.Context, network string) ([]MemberInfo, error)
	Invite(ctx context.Context, network string, req InviteRequest) (InviteResult, error)
	Remove(ctx context.Context, network, member string) (RemoveResult, error)
	Join(ctx context.Context, code string) (homedir.NetworkInfo, error)
	Send(ctx context.Context, network string, req SendRequest) error
	Peers(ctx context.Context, network string) ([]coconet.PeerInfo, error)
	// Listen streams incoming messages until ctx ends; the channel closes then.
	Listen(ctx context.Context, network string) (<-chan coconet.Message, error)
	// Call makes a request to a member's service.
	Call(ctx context.Context, network string, req CallRequest) (CallResult, error)
	// Copy sends a file (read by the daemon from Path) to a receiving member.
	Copy(ctx context.Context, network string, req CopyRequest) (<-chan Progress, error)
	// Receive accepts file copies into Dir while ctx lasts.
	Receive(ctx context.Context, network string, req ReceiveRequest) (<-chan transfer.Event, error)
	// Expose publishes a local TCP service while ctx lasts.
	Expose(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error)
	// OpenTunnel forwards a local port to a member's exposed service while ctx lasts.
	OpenTunnel(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error)
	// Publish publishes on a topic.
	Publish(ctx context.Context, network string, req PublishRequest) error
	// Usage reports the network's control-plane usage this month.
	Usage(ctx context.Context, network string) (control.Usage, error)
	// Subscribe streams messages matching a pattern while ctx lasts.
	Subscribe(ctx context.Context, network string, req SubscribeRequest) (<-chan PubMessage, error)

	// The home model, devices, OTA and the push server: each in its own file.
	HomeService
	DeviceService
	OTAService
	PushService
}

// CallRequest calls a service.
type CallRequest struct {
	To      string        `json:"to"`
	Service string        `json:"service"`
	Payload []byte        `json:"payload,omitempty"`
	Timeout time.Duration `json:"timeout_ns,omitempty"`
}

// CallResult is a service's reply.
type CallResult struct {
	Reply []byte        `json:"reply"`
	Took  time.Duration `json:"took_ns"`
}

// CopyRequest sends a file.
type CopyRequest struct {
	To   string `json:"to"`
	Path string `json:"path"`
}

// Progress reports a copy: phases "hash" then "send", then a final event
// with Result or Error.
type Progress struct {
	Phase  string           `json:"phase,omitempty"`
	Done   int64            `json:"done,omitempty"`
	Total  int64            `json:"total,omitempty"`
	Result *transfer.Result `json:"result,omitempty"`
	Error  string           `json:"error,omitempty"`
}

// ReceiveRequest accepts files into Dir from the members Allow admits
// (coconet.ParseAccess: "owner", "admin", "guest", "device" or a member;
// none means the owner and admins), up to MaxSize bytes (0 means
// transfer.DefaultMaxSize, negative no limit).
type ReceiveRequest struct {
	Dir     string   `json:"dir"`
	Allow   []string `json:"allow,omitempty"`
	MaxSize int64    `json:"max_size,omitempty"`
}

// TunnelRequest exposes (Name, Target, Allow) or opens (To, Name, Listen)
// a tunnel. Allow is read as ReceiveRequest's.
type TunnelRequest struct {
	To     string   `json:"to,omitempty"`
	Name   string   `json:"name"`
	Target string   `json:"target,omitempty"`
	Listen string   `json:"listen,omitempty"`
	Allow  []string `json:"allow,omitempty"`
}

// TunnelEvent is sent when the tunnel is up (Addr, and for an exposed one
// Allowed: whom it is open to) and then every few seconds with its
// counters; Error ends it. Warning, on an opened tunnel, says why the last
// connection failed (the exposing member refused you, say); it stays open.
type TunnelEvent struct {
	Addr    string       `json:"addr,omitempty"`
	Allowed string       `json:"allowed,omitempty"`
	Stats   tunnel.Stats `json:"stats"`
	Warning string       `json:"warning,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// PublishRequest publishes a message.
type PublishRequest struct {
	Topic  string `json:"topic"`
	Data   []byte `json:"data"`
	Retain bool   `json:"retain,omitempty"`
	QoS    int    `json:"qos,omitempty"`
}

// SubscribeRequest subscribes to a pattern.
type SubscribeRequest struct {
	Pattern string `json:"pattern"`
	QoS     int    `json:"qos,omitempty"`
}

// PubMessage is a message received on a subscription. Lagged, when set,
// says how many messages were dropped because the subscriber fell behind.
type PubMessage struct {
	Topic    string `json:"topic,omitempty"`
	Data     []byte `json:"data,omitempty"`
	From     string `json:"from,omitempty"`
	Retained bool   `json:"retained,omitempty"`
	Lagged   uint64 `json:"lagged,omitempty"`
}

// Status describes the daemon.
type Status struct {
	User     identity.UserID `json:"user"`
	Name     string          `json:"name"`
	Running  bool            `json:"running"`
	PID      int             `json:"pid,omitempty"`
	Networks []NetworkStatus `json:"networks"`
	// Device is set when the daemon runs as a device (`coco up --device`).
	Device *DeviceStatus `json:"device,omitempty"`
}

// DeviceStatus is a device daemon's standing: the network it belongs to,
// or the claim code it shows until the owner claims it.
type DeviceStatus struct {
	Name      string `json:"name"`
	Model     string `json:"model"`
	Network   string `json:"network,omitempty"`
	ClaimCode string `json:"claim_code,omitempty"`
}

// NetworkStatus is one running node.
type NetworkStatus struct {
	homedir.NetworkInfo
	Node      string               `json:"node"`
	Addrs     []string             `json:"addrs"`
	Connected int                  `json:"connected"`
	Control   []node.ControlStatus `json:"control,omitempty"`
}

// CreateNetworkRequest creates a network.
type CreateNetworkRequest struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// MemberInfo is one member of a network.
type MemberInfo struct {
	User    identity.UserID `json:"user"`
	Name    string          `json:"name"`
	Role    string          `json:"role"`
	Nodes   []string        `json:"nodes"`
	Online  int             `json:"online"` // nodes connected to this daemon's node
	You     bool            `json:"you,omitempty"`
	AddedBy string          `json:"added_by,omitempty"`
}

// InviteRequest creates an invite.
type InviteRequest struct {
	Role string        `json:"role"`
	TTL  time.Duration `json:"ttl_ns,omitempty"`
	Uses int           `json:"uses,omitempty"`
}

// InviteResult carries the code to hand over.
type InviteResult struct {
	Code    string    `json:"code"`
	Network string    `json:"network"`
	Role    string    `json:"role"`
	Uses    int       `json:"uses"`
	Expires time.Time `json:"expires"`
}

// RemoveResult reports a removal.
type RemoveResult struct {
	User identity.UserID `json:"user"`
	Name string          `json:"name"`
}

// SendRequest sends a message to a member.
type SendRequest struct {
	To   string `json:"to"`
	Data []byte `json:"data"`
}

// codeRequest carries a code: an invite's (join) or a device's claim code.
type codeRequest struct {
	Code string `json:"code"`
}

// delivered answers a message sent.
type delivered struct {
	Delivered bool `json:"delivered"`
}

// published answers a message published.
type published struct {
	Published bool `json:"published"`
}

// The routes of Service's own methods, each with its Client method.

var rStatus = newRoute("GET", "/v1/status", func(ctx context.Context, s Service, p []string, _ none) (Status, error) {
	return s.Status(ctx)
})

func (c *Client) Status(ctx context.Context) (Status, error) { return rStatus.do(ctx, c, none{}) }

var rNetworks = newRoute("GET", "/v1/networks", func(ctx context.Context, s Service, p []string, _ none) ([]homedir.NetworkInfo, error) {
	return s.Networks(ctx)
})

func (c *Client) Networks(ctx context.Context) ([]homedir.NetworkInfo, error) {
	return rNetworks.do(ctx, c, none{})
}

var rCreateNetwork = newRoute("POST", "/v1/networks", func(ctx context.Context, s Service, p []string, req CreateNetworkRequest) (homedir.NetworkInfo, error) {
	return s.CreateNetwork(ctx, req)
})

func (c *Client) CreateNetwork(ctx context.Context, req CreateNetworkRequest) (homedir.NetworkInfo, error) {
	return rCreateNetwork.do(ctx, c, req)
}

var rMembers = newRoute("GET", "/v1/networks/{net}/members", func(ctx context.Context, s Service, p []string, _ none) ([]MemberInfo, error) {
	return s.Members(ctx, p[0])
})

func (c *Client) Members(ctx context.Context, network string) ([]MemberInfo, error) {
	return rMembers.do(ctx, c, none{}, network)
}

var rInvite = newRoute("POST", "/v1/networks/{net}/invites", func(ctx context.Context, s Service, p []string, req InviteRequest) (InviteResult, error) {
	return s.Invite(ctx, p[0], req)
})

func (c *Client) Invite(ctx context.Context, network string, req InviteRequest) (InviteResult, error) {
	return rInvite.do(ctx, c, req, network)
}

var rRemove = newRoute("DELETE", "/v1/networks/{net}/members/{member}", func(ctx context.Context, s Service, p []string, _ none) (RemoveResult, error) {
	return s.Remove(ctx, p[0], p[1])
})

func (c *Client) Remove(ctx context.Context, network, member string) (RemoveResult, error) {
	return rRemove.do(ctx, c, none{}, network, member)
}

var rJoin = newRoute("POST", "/v1/join", func(ctx context.Context, s Service, p []string, req codeRequest) (homedir.NetworkInfo, error) {
	return s.Join(ctx, req.Code)
})

func (c *Client) Join(ctx context.Context, code string) (homedir.NetworkInfo, error) {
	return rJoin.do(ctx, c, codeRequest{code})
}

var rSend = newRoute("POST", "/v1/networks/{net}/messages", func(ctx context.Context, s Service, p []string, req SendRequest) (delivered, error) {
	err := s.Send(ctx, p[0], req)
	return delivered{err == nil}, err
})

func (c *Client) Send(ctx context.Context, network string, req SendRequest) error {
	_, err := rSend.do(ctx, c, req, network)
	return err
}

var rPeers = newRoute("GET", "/v1/networks/{net}/peers", func(ctx context.Context, s Service, p []string, _ none) ([]coconet.PeerInfo, error) {
	return s.Peers(ctx, p[0])
})

func (c *Client) Peers(ctx context.Context, network string) ([]coconet.PeerInfo, error) {
	return rPeers.do(ctx, c, none{}, network)
}

var rListen = newStream("GET", "/v1/networks/{net}/messages", "", func(ctx context.Context, s Service, p []string, _ none) (<-chan coconet.Message, error) {
	return s.Listen(ctx, p[0])
})

func (c *Client) Listen(ctx context.Context, network string) (<-chan coconet.Message, error) {
	return rListen.do(ctx, c, none{}, network)
}

var rUsage = newRoute("GET", "/v1/networks/{net}/usage", func(ctx context.Context, s Service, p []string, _ none) (control.Usage, error) {
	return s.Usage(ctx, p[0])
})

func (c *Client) Usage(ctx context.Context, network string) (control.Usage, error) {
	return rUsage.do(ctx, c, none{}, network)
}

var rCall = newRoute("POST", "/v1/networks/{net}/call", func(ctx context.Context, s Service, p []string, req CallRequest) (CallResult, error) {
	return s.Call(ctx, p[0], req)
})

func (c *Client) Call(ctx context.Context, network string, req CallRequest) (CallResult, error) {
	return rCall.do(ctx, c, req, network)
}

var rCopy = newStream("POST", "/v1/networks/{net}/copy", "", func(ctx context.Context, s Service, p []string, req CopyRequest) (<-chan Progress, error) {
	return s.Copy(ctx, p[0], req)
})

func (c *Client) Copy(ctx context.Context, network string, req CopyRequest) (<-chan Progress, error) {
	return rCopy.do(ctx, c, req, network)
}

var rReceive = newStream("POST", "/v1/networks/{net}/receive", "", func(ctx context.Context, s Service, p []string, req ReceiveRequest) (<-chan transfer.Event, error) {
	return s.Receive(ctx, p[0], req)
})

func (c *Client) Receive(ctx context.Context, network string, req ReceiveRequest) (<-chan transfer.Event, error) {
	return rReceive.do(ctx, c, req, network)
}

var rExpose = newStream("POST", "/v1/networks/{net}/tunnels/expose", "", func(ctx context.Context, s Service, p []string, req TunnelRequest) (<-chan TunnelEvent, error) {
	return s.Expose(ctx, p[0], req)
})

func (c *Client) Expose(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error) {
	return rExpose.do(ctx, c, req, network)
}

var rOpenTunnel = newStream("POST", "/v1/networks/{net}/tunnels/open", "", func(ctx context.Context, s Service, p []string, req TunnelRequest) (<-chan TunnelEvent, error) {
	return s.OpenTunnel(ctx, p[0], req)
})

func (c *Client) OpenTunnel(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error) {
	return rOpenTunnel.do(ctx, c, req, network)
}

var rPublish = newRoute("POST", "/v1/networks/{net}/publish", func(ctx context.Context, s Service, p []string, req PublishRequest) (published, error) {
	err := s.Publish(ctx, p[0], req)
	return published{err == nil}, err
})

func (c *Client) Publish(ctx context.Context, network string, req PublishRequest) error {
	_, err := rPublish.do(ctx, c, req, network)
	return err
}

var rSubscribe = newStream("POST", "/v1/networks/{net}/subscribe", "", func(ctx context.Context, s Service, p []string, req SubscribeRequest) (<-chan PubMessage, error) {
	return s.Subscribe(ctx, p[0], req)
})

func (c *Client) Subscribe(ctx context.Context, network string, req SubscribeRequest) (<-chan PubMessage, error) {
	return rSubscribe.do(ctx, c, req, network)
}
