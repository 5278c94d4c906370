package api

import (
	"context"
	"time"

	"github.com/coconet/coconet/gateway"
)

// PushService is the part of Service for the push server for tiny devices
// (package gateway): running one on a network's node, and the account keys,
// groups, routers and aliases admins keep in the network's ledger.
type PushService interface {
	// PushServe runs a push server on the network's node while ctx lasts:
	// the first event says where it listens, then one every few seconds
	// has its counters; Error ends it.
	PushServe(ctx context.Context, network string, req PushServeRequest) (<-chan PushServerEvent, error)
	// PushKeyCreate adds an account key; the result holds the key, shown
	// only this once.
	PushKeyCreate(ctx context.Context, network string, req PushKeyRequest) (PushKey, error)
	// PushKeys lists the account keys (without the keys themselves).
	PushKeys(ctx context.Context, network string) ([]PushKey, error)
	// PushKeyRevoke revokes a key named by ID, ID prefix, name or the key.
	PushKeyRevoke(ctx context.Context, network, key string) (PushKey, error)
	// PushKeyRotate gives every key of an account (or the one key ref
	// names) a new value; the result holds the new keys, shown only this
	// once. Push servers refuse the old values from then on.
	PushKeyRotate(ctx context.Context, network, ref string) ([]PushKey, error)
	// PushServers lists the nodes an admin named push servers: the only
	// nodes that read the account keys and run push servers.
	PushServers(ctx context.Context, network string) ([]PushServer, error)
	// PushServerAdd names a node (peer ID or node name) a push server and
	// seals the keys to it; PushServerRemove takes the name back (the keys
	// it could read are then marked to rotate). Both return the list.
	PushServerAdd(ctx context.Context, network, node string) ([]PushServer, error)
	PushServerRemove(ctx context.Context, network, node string) ([]PushServer, error)
	// PushRecords lists the groups, routers and aliases of an account
	// ("" every account).
	PushRecords(ctx context.Context, network, account string) (PushRecords, error)
	// PushChange edits the groups, routers or aliases of an account and
	// returns that account's records.
	PushChange(ctx context.Context, network string, req PushChange) (PushRecords, error)
}

// PushServeRequest starts a push server. Zero fields take the gateway's
// defaults.
type PushServeRequest struct {
	Listen      string        `json:"listen"` // HOST:PORT
	MaxLine     int           `json:"max_line,omitempty"`
	IdleTimeout time.Duration `json:"idle_timeout_ns,omitempty"`
	// AuthTimeout, MaxConns and MaxConnsPerIP bound what strangers can
	// hold open (see gateway.Server).
	AuthTimeout   time.Duration `json:"auth_timeout_ns,omitempty"`
	MaxConns      int           `json:"max_conns,omitempty"`
	MaxConnsPerIP int           `json:"max_conns_per_ip,omitempty"`
	// Dialect is the wire protocol devices speak: "p2pcluster" (the
	// original server's; "" is it) or "coconet" (newline-framed).
	Dialect string `json:"dialect,omitempty"`
	// ReadPause (p2pcluster) is how long bytes without a terminator wait
	// for more before they are one command; 0 is the default.
	ReadPause time.Duration `json:"read_pause_ns,omitempty"`
	// SMTP (p2pcluster's TCP:EMAIL) is the mail server, "" for none.
	SMTP         string `json:"smtp,omitempty"`
	SMTPUser     string `json:"smtp_user,omitempty"`
	SMTPPassword string `json:"smtp_password,omitempty"`
	SMTPFrom     string `json:"smtp_from,omitempty"`
}

// PushServerEvent reports a running push server: the first has Addr.
type PushServerEvent struct {
	Addr    string        `json:"addr,omitempty"`
	Network string        `json:"network,omitempty"`
	Stats   gateway.Stats `json:"stats"`
	Peers   int           `json:"peers"` // other push servers of the network it knows
	Error   string        `json:"error,omitempty"`
}

// PushKeyRequest creates an account key. Account "" is
// gateway.DefaultAccount; Key "" makes a random one.
type PushKeyRequest struct {
	Account string `json:"account,omitempty"`
	Name    string `json:"name,omitempty"`
	Key     string `json:"key,omitempty"`
}

// PushKey is an account key.
type PushKey = gateway.KeyInfo

// PushServer is a node named a push server.
type PushServer = gateway.ServerInfo

// PushServerRequest names a node a push server.
type PushServerRequest struct {
	Node string `json:"node"` // peer ID or node name
}

// PushRecords are the groups, routers and aliases.
type PushRecords = gateway.Records

// PushChange is one edit of the groups, routers or aliases.
type PushChange = gateway.Change

// The routes of PushService, each with its Client method.

var rPushServe = newStream("POST", "/v1/networks/{net}/push/server", "", func(ctx context.Context, s Service, p []string, req PushServeRequest) (<-chan PushServerEvent, error) {
	return s.PushServe(ctx, p[0], req)
})

func (c *Client) PushServe(ctx context.Context, network string, req PushServeRequest) (<-chan PushServerEvent, error) {
	return rPushServe.do(ctx, c, req, network)
}

var rPushKeyCreate = newRoute("POST", "/v1/networks/{net}/push/keys", func(ctx context.Context, s Service, p []string, req PushKeyRequest) (PushKey, error) {
	return s.PushKeyCreate(ctx, p[0], req)
})

func (c *Client) PushKeyCreate(ctx context.Context, network string, req PushKeyRequest) (PushKey, error) {
	return rPushKeyCreate.do(ctx, c, req, network)
}

var rPushKeys = newRoute("GET", "/v1/networks/{net}/push/keys", func(ctx context.Context, s Service, p []string, _ none) ([]PushKey, error) {
	return s.PushKeys(ctx, p[0])
})

func (c *Client) PushKeys(ctx context.Context, network string) ([]PushKey, error) {
	return rPushKeys.do(ctx, c, none{}, network)
}

var rPushKeyRevoke = newRoute("DELETE", "/v1/networks/{net}/push/keys/{key}", func(ctx context.Context, s Service, p []string, _ none) (PushKey, error) {
	return s.PushKeyRevoke(ctx, p[0], p[1])
})

func (c *Client) PushKeyRevoke(ctx context.Context, network, key string) (PushKey, error) {
	return rPushKeyRevoke.do(ctx, c, none{}, network, key)
}

var rPushKeyRotate = newRoute("POST", "/v1/networks/{net}/push/keys/{key}/rotate", func(ctx context.Context, s Service, p []string, _ none) ([]PushKey, error) {
	return s.PushKeyRotate(ctx, p[0], p[1])
})

func (c *Client) PushKeyRotate(ctx context.Context, network, ref string) ([]PushKey, error) {
	return rPushKeyRotate.do(ctx, c, none{}, network, ref)
}

var rPushServers = newRoute("GET", "/v1/networks/{net}/push/servers", func(ctx context.Context, s Service, p []string, _ none) ([]PushServer, error) {
	return s.PushServers(ctx, p[0])
})

func (c *Client) PushServers(ctx context.Context, network string) ([]PushServer, error) {
	return rPushServers.do(ctx, c, none{}, network)
}

var rPushServerAdd = newRoute("POST", "/v1/networks/{net}/push/servers", func(ctx context.Context, s Service, p []string, req PushServerRequest) ([]PushServer, error) {
	return s.PushServerAdd(ctx, p[0], req.Node)
})

func (c *Client) PushServerAdd(ctx context.Context, network, node string) ([]PushServer, error) {
	return rPushServerAdd.do(ctx, c, PushServerRequest{Node: node}, network)
}

var rPushServerRemove = newRoute("DELETE", "/v1/networks/{net}/push/servers/{node}", func(ctx context.Context, s Service, p []string, _ none) ([]PushServer, error) {
	return s.PushServerRemove(ctx, p[0], p[1])
})

func (c *Client) PushServerRemove(ctx context.Context, network, node string) ([]PushServer, error) {
	return rPushServerRemove.do(ctx, c, none{}, network, node)
}

var rPushRecords = newQuery("GET", "/v1/networks/{net}/push/records", "account", func(ctx context.Context, s Service, p []string, _ none) (PushRecords, error) {
	return s.PushRecords(ctx, p[0], p[1])
})

func (c *Client) PushRecords(ctx context.Context, network, account string) (PushRecords, error) {
	return rPushRecords.do(ctx, c, none{}, network, account)
}

var rPushChange = newRoute("POST", "/v1/networks/{net}/push/records", func(ctx context.Context, s Service, p []string, req PushChange) (PushRecords, error) {
	return s.PushChange(ctx, p[0], req)
})

func (c *Client) PushChange(ctx context.Context, network string, req PushChange) (PushRecords, error) {
	return rPushChange.do(ctx, c, req, network)
}
