package api

import (
	"context"
	"time"

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
	Networks(ctx context.Context) ([]coconet.NetworkInfo, error)
	CreateNetwork(ctx context.Context, req CreateNetworkRequest) (coconet.NetworkInfo, error)
	Members(ctx context.Context, network string) ([]MemberInfo, error)
	Invite(ctx context.Context, network string, req InviteRequest) (InviteResult, error)
	Remove(ctx context.Context, network, member string) (RemoveResult, error)
	Join(ctx context.Context, code string) (coconet.NetworkInfo, error)
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
	coconet.NetworkInfo
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
