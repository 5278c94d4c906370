package api

import (
	"context"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/identity"
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
}

// Status describes the daemon.
type Status struct {
	User     identity.UserID `json:"user"`
	Name     string          `json:"name"`
	Running  bool            `json:"running"`
	PID      int             `json:"pid,omitempty"`
	Networks []NetworkStatus `json:"networks"`
}

// NetworkStatus is one running node.
type NetworkStatus struct {
	coconet.NetworkInfo
	Node      string   `json:"node"`
	Addrs     []string `json:"addrs"`
	Connected int      `json:"connected"`
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
