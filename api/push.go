package api

import (
	"context"
	"time"
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
	// hold open.
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
	Addr    string    `json:"addr,omitempty"`
	Network string    `json:"network,omitempty"`
	Stats   PushStats `json:"stats"`
	Peers   int       `json:"peers"` // other push servers of the network it knows
	Error   string    `json:"error,omitempty"`
}

// PushStats are a push server's counters.
type PushStats struct {
	Conns     int   `json:"conns"`     // device connections open
	IDs       int   `json:"ids"`       // registered ids
	Pushes    int64 `json:"pushes"`    // PUSH commands accepted
	Delivered int64 `json:"delivered"` // pushes handed to a device here (from here or afar)
	Forwarded int64 `json:"forwarded"` // pushes from here that other push servers delivered
	Refused   int64 `json:"refused"`   // connections refused over a cap
	Evicted   int64 `json:"evicted"`   // connections without a valid key yet, closed to make room
}

// PushKeyRequest creates an account key. Account "" is the default
// account ("main"); Key "" makes a random one.
type PushKeyRequest struct {
	Account string `json:"account,omitempty"`
	Name    string `json:"name,omitempty"`
	Key     string `json:"key,omitempty"`
}

// PushKey is an account key; Key is set only when it is created or
// rotated.
type PushKey struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	Name    string    `json:"name,omitempty"`
	Key     string    `json:"key,omitempty"`
	By      string    `json:"by,omitempty"` // the member who created it
	Created time.Time `json:"created"`
	// Rotate, if set, says why the key should rotate: someone who could
	// read it no longer may.
	Rotate string `json:"rotate,omitempty"`
}

// PushServer is a node named a push server.
type PushServer struct {
	Node    string    `json:"node"` // peer ID
	Name    string    `json:"name"` // the node's name
	Owner   string    `json:"owner"`
	By      string    `json:"by"` // the admin who named it
	Created time.Time `json:"created"`
}

// PushServerRequest names a node a push server.
type PushServerRequest struct {
	Node string `json:"node"` // peer ID or node name
}

// PushRecords are the groups, routers and aliases.
type PushRecords struct {
	Groups  []PushGroup  `json:"groups"`
	Routers []PushRouter `json:"routers"`
	Aliases []PushAlias  `json:"aliases"`
}

// PushGroup is an id and the group it is in (Parent; "" a root).
type PushGroup struct {
	Account string `json:"account"`
	ID      string `json:"id"`
	Parent  string `json:"parent,omitempty"`
}

// PushRouter is a mesh router and the ids attached to it.
type PushRouter struct {
	Account string   `json:"account"`
	Name    string   `json:"name"`
	IDs     []string `json:"ids"`
}

// PushAlias is an alias and the id it names.
type PushAlias struct {
	Account string `json:"account"`
	Alias   string `json:"alias"`
	ID      string `json:"id"`
}

// PushChange is one edit of the groups, routers or aliases.
type PushChange struct {
	Op      string `json:"op"`                // one of the PushOp… constants
	Account string `json:"account,omitempty"` // "" is the default account
	ID      string `json:"id,omitempty"`      // the id the change is about
	Name    string `json:"name,omitempty"`    // the router or alias
	Parent  string `json:"parent,omitempty"`  // PushOpSetParent: "" makes ID a root
}

// The ops of a PushChange.
const (
	PushOpSetParent    = "set-parent"    // ID, Parent: put ID in the tree under Parent ("" a root)
	PushOpUngroup      = "ungroup"       // ID: take ID out of the tree (its children keep it as parent)
	PushOpAddRouter    = "add-router"    // Name
	PushOpRemoveRouter = "remove-router" // Name: the router and its attachments
	PushOpAttach       = "attach"        // Name, ID: attach ID to router Name
	PushOpDetach       = "detach"        // Name, ID
	PushOpSetAlias     = "set-alias"     // Name, ID: Name names ID (also re-points it)
	PushOpRemoveAlias  = "remove-alias"  // Name
)

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
