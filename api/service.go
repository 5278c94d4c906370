package api

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Service is what the daemon offers its clients.
type Service interface {
	Status(ctx context.Context) (Status, error)
	Networks(ctx context.Context) ([]NetworkInfo, error)
	CreateNetwork(ctx context.Context, req CreateNetworkRequest) (NetworkInfo, error)
	Members(ctx context.Context, network string) ([]MemberInfo, error)
	Invite(ctx context.Context, network string, req InviteRequest) (InviteResult, error)
	Remove(ctx context.Context, network, member string) (RemoveResult, error)
	Join(ctx context.Context, code string) (NetworkInfo, error)
	Send(ctx context.Context, network string, req SendRequest) error
	Peers(ctx context.Context, network string) ([]PeerInfo, error)
	// Listen streams incoming messages until ctx ends; the channel closes then.
	Listen(ctx context.Context, network string) (<-chan Message, error)
	// Call makes a request to a member's service.
	Call(ctx context.Context, network string, req CallRequest) (CallResult, error)
	// Copy sends a file (read by the daemon from Path) to a receiving member.
	Copy(ctx context.Context, network string, req CopyRequest) (<-chan Progress, error)
	// Receive accepts file copies into Dir while ctx lasts.
	Receive(ctx context.Context, network string, req ReceiveRequest) (<-chan ReceiveEvent, error)
	// Expose publishes a local TCP service while ctx lasts.
	Expose(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error)
	// OpenTunnel forwards a local port to a member's exposed service while ctx lasts.
	OpenTunnel(ctx context.Context, network string, req TunnelRequest) (<-chan TunnelEvent, error)
	// Publish publishes on a topic.
	Publish(ctx context.Context, network string, req PublishRequest) error
	// Usage reports the network's control-plane usage this month.
	Usage(ctx context.Context, network string) (Usage, error)
	// Subscribe streams messages matching a pattern while ctx lasts.
	Subscribe(ctx context.Context, network string, req SubscribeRequest) (<-chan PubMessage, error)

	// The home model, devices, OTA and the push server: each in its own file.
	HomeService
	DeviceService
	OTAService
	PushService
	DriveService
	ConsortiumService
	DevAPIService
	DevNetService
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
	Phase  string      `json:"phase,omitempty"`
	Done   int64       `json:"done,omitempty"`
	Total  int64       `json:"total,omitempty"`
	Result *CopyResult `json:"result,omitempty"`
	Error  string      `json:"error,omitempty"`
}

// CopyResult is a copy's outcome, as the receiver confirmed it.
type CopyResult struct {
	Name    string        `json:"name"`
	Size    int64         `json:"size"`
	SHA256  string        `json:"sha256"`
	Resumed int64         `json:"resumed_from"` // bytes the receiver already had
	Path    string        `json:"path"`         // the name the receiver stored it under (a base name, never its directory)
	Took    time.Duration `json:"took_ns"`
}

// ReceiveRequest accepts files into Dir from the members Allow admits
// ("owner", "admin", "guest", "device" or a member; none means the owner
// and admins), up to MaxSize bytes (0 means the daemon's default, 1 GiB
// today; negative no limit).
type ReceiveRequest struct {
	Dir     string   `json:"dir"`
	Allow   []string `json:"allow,omitempty"`
	MaxSize int64    `json:"max_size,omitempty"`
}

// ReceiveEvent is a file received, or a copy refused or failed (Error).
type ReceiveEvent struct {
	From    string `json:"from"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Resumed int64  `json:"resumed_from,omitempty"`
	Path    string `json:"path,omitempty"` // where it was stored
	Error   string `json:"error,omitempty"`
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
	Addr    string      `json:"addr,omitempty"`
	Allowed string      `json:"allowed,omitempty"`
	Stats   TunnelStats `json:"stats"`
	Warning string      `json:"warning,omitempty"`
	Error   string      `json:"error,omitempty"`
}

// TunnelStats are a tunnel's counters: connections (all, open now) and
// bytes each way. Their JSON names are the Go names (no tags), as before.
type TunnelStats struct {
	Conns, Active     int64
	BytesIn, BytesOut int64
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
	NetworkInfo
	Node      string          `json:"node"`
	Addrs     []string        `json:"addrs"`
	Connected int             `json:"connected"`
	Control   []ControlStatus `json:"control,omitempty"`
}

// NetworkInfo describes a network of the home.
type NetworkInfo struct {
	ID      ledger.NetworkID `json:"id"`
	Name    string           `json:"name"`
	Kind    string           `json:"kind"`
	Role    string           `json:"role"`
	Members int              `json:"members"`
	Nodes   int              `json:"nodes"`
	Ops     int              `json:"ops"`
}

// ControlStatus is a node's standing with one control plane.
type ControlStatus struct {
	Addr       string  `json:"addr"`
	ID         peer.ID `json:"id"`
	Connected  bool    `json:"connected"`
	Registered bool    `json:"registered"`
	Relay      bool    `json:"relay"`              // holds a relay reservation
	Observed   string  `json:"observed,omitempty"` // this node's address as the control plane sees it
	Error      string  `json:"error,omitempty"`    // the last problem, a sentence
}

// PeerInfo is another member's node as this daemon's node sees it.
type PeerInfo struct {
	Node      peer.ID         `json:"node"`
	User      identity.UserID `json:"user"`
	UserName  string          `json:"user_name"`
	Role      string          `json:"role"`
	App       string          `json:"app"`
	Connected bool            `json:"connected"`
	Path      string          `json:"path,omitempty"` // "direct" or "relayed"
	Addr      string          `json:"addr,omitempty"`
	RTT       time.Duration   `json:"rtt_ns,omitempty"`
}

// Message is a message received from a member.
type Message struct {
	From     identity.UserID `json:"from"`
	FromName string          `json:"from_name"`
	FromNode peer.ID         `json:"from_node"`
	Data     []byte          `json:"data"`
	Received time.Time       `json:"received"`
}

// Usage is a network's use of its control plane in one month.
type Usage struct {
	Month           string `json:"month"` // "2026-07", UTC
	Plan            string `json:"plan"`
	RelayBytes      int64  `json:"relay_bytes"`
	ControlBytes    int64  `json:"control_bytes"`
	ControlMessages int64  `json:"control_messages"`
	Bytes           int64  `json:"bytes"` // RelayBytes + ControlBytes: what the plan limits
	LimitBytes      int64  `json:"limit_bytes"`
	Nodes           int    `json:"nodes"` // registered now
	LimitNodes      int    `json:"limit_nodes"`
	Networks        int    `json:"networks"` // the owner's networks registered now
	LimitNetworks   int    `json:"limit_networks"`
	// Exceeded, if set, says which limit is reached and what to do.
	Exceeded string `json:"exceeded,omitempty"`
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

var rNetworks = newRoute("GET", "/v1/networks", func(ctx context.Context, s Service, p []string, _ none) ([]NetworkInfo, error) {
	return s.Networks(ctx)
})

func (c *Client) Networks(ctx context.Context) ([]NetworkInfo, error) {
	return rNetworks.do(ctx, c, none{})
}

var rCreateNetwork = newRoute("POST", "/v1/networks", func(ctx context.Context, s Service, p []string, req CreateNetworkRequest) (NetworkInfo, error) {
	return s.CreateNetwork(ctx, req)
})

func (c *Client) CreateNetwork(ctx context.Context, req CreateNetworkRequest) (NetworkInfo, error) {
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

var rJoin = newRoute("POST", "/v1/join", func(ctx context.Context, s Service, p []string, req codeRequest) (NetworkInfo, error) {
	return s.Join(ctx, req.Code)
})

func (c *Client) Join(ctx context.Context, code string) (NetworkInfo, error) {
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

var rPeers = newRoute("GET", "/v1/networks/{net}/peers", func(ctx context.Context, s Service, p []string, _ none) ([]PeerInfo, error) {
	return s.Peers(ctx, p[0])
})

func (c *Client) Peers(ctx context.Context, network string) ([]PeerInfo, error) {
	return rPeers.do(ctx, c, none{}, network)
}

var rListen = newStream("GET", "/v1/networks/{net}/messages", "", func(ctx context.Context, s Service, p []string, _ none) (<-chan Message, error) {
	return s.Listen(ctx, p[0])
})

func (c *Client) Listen(ctx context.Context, network string) (<-chan Message, error) {
	return rListen.do(ctx, c, none{}, network)
}

var rUsage = newRoute("GET", "/v1/networks/{net}/usage", func(ctx context.Context, s Service, p []string, _ none) (Usage, error) {
	return s.Usage(ctx, p[0])
})

func (c *Client) Usage(ctx context.Context, network string) (Usage, error) {
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

var rReceive = newStream("POST", "/v1/networks/{net}/receive", "", func(ctx context.Context, s Service, p []string, req ReceiveRequest) (<-chan ReceiveEvent, error) {
	return s.Receive(ctx, p[0], req)
})

func (c *Client) Receive(ctx context.Context, network string, req ReceiveRequest) (<-chan ReceiveEvent, error) {
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
