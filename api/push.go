package api

import (
	"context"
	"net/http"
	"net/url"
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

// pushRoutes adds the routes of PushService to mux.
func pushRoutes(mux *http.ServeMux, svc Service) {
	mux.HandleFunc("POST /v1/networks/{net}/push/server", func(w http.ResponseWriter, r *http.Request) {
		var req PushServeRequest
		if decode(w, r, &req) {
			ch, err := svc.PushServe(r.Context(), r.PathValue("net"), req)
			streamOut(w, ch, err)
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/push/keys", func(w http.ResponseWriter, r *http.Request) {
		var req PushKeyRequest
		if decode(w, r, &req) {
			reply(w)(svc.PushKeyCreate(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("GET /v1/networks/{net}/push/keys", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.PushKeys(r.Context(), r.PathValue("net")))
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/push/keys/{key}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.PushKeyRevoke(r.Context(), r.PathValue("net"), r.PathValue("key")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/push/keys/{key}/rotate", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.PushKeyRotate(r.Context(), r.PathValue("net"), r.PathValue("key")))
	})
	mux.HandleFunc("GET /v1/networks/{net}/push/servers", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.PushServers(r.Context(), r.PathValue("net")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/push/servers", func(w http.ResponseWriter, r *http.Request) {
		var req PushServerRequest
		if decode(w, r, &req) {
			reply(w)(svc.PushServerAdd(r.Context(), r.PathValue("net"), req.Node))
		}
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/push/servers/{node}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.PushServerRemove(r.Context(), r.PathValue("net"), r.PathValue("node")))
	})
	mux.HandleFunc("GET /v1/networks/{net}/push/records", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.PushRecords(r.Context(), r.PathValue("net"), r.URL.Query().Get("account")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/push/records", func(w http.ResponseWriter, r *http.Request) {
		var req PushChange
		if decode(w, r, &req) {
			reply(w)(svc.PushChange(r.Context(), r.PathValue("net"), req))
		}
	})
}

func (c *Client) PushServe(ctx context.Context, network string, req PushServeRequest) (<-chan PushServerEvent, error) {
	return streamIn[PushServerEvent](ctx, c, "POST", p("networks", network, "push", "server"), req)
}

func (c *Client) PushKeyCreate(ctx context.Context, network string, req PushKeyRequest) (k PushKey, err error) {
	err = c.do(ctx, "POST", p("networks", network, "push", "keys"), req, &k)
	return
}

func (c *Client) PushKeys(ctx context.Context, network string) (ks []PushKey, err error) {
	err = c.do(ctx, "GET", p("networks", network, "push", "keys"), nil, &ks)
	return
}

func (c *Client) PushKeyRevoke(ctx context.Context, network, key string) (k PushKey, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "push", "keys", key), nil, &k)
	return
}

func (c *Client) PushKeyRotate(ctx context.Context, network, ref string) (ks []PushKey, err error) {
	err = c.do(ctx, "POST", p("networks", network, "push", "keys", ref, "rotate"), nil, &ks)
	return
}

func (c *Client) PushServers(ctx context.Context, network string) (ss []PushServer, err error) {
	err = c.do(ctx, "GET", p("networks", network, "push", "servers"), nil, &ss)
	return
}

func (c *Client) PushServerAdd(ctx context.Context, network, node string) (ss []PushServer, err error) {
	err = c.do(ctx, "POST", p("networks", network, "push", "servers"), PushServerRequest{Node: node}, &ss)
	return
}

func (c *Client) PushServerRemove(ctx context.Context, network, node string) (ss []PushServer, err error) {
	err = c.do(ctx, "DELETE", p("networks", network, "push", "servers", node), nil, &ss)
	return
}

func (c *Client) PushRecords(ctx context.Context, network, account string) (r PushRecords, err error) {
	err = c.do(ctx, "GET", p("networks", network, "push", "records")+"?account="+url.QueryEscape(account), nil, &r)
	return
}

func (c *Client) PushChange(ctx context.Context, network string, req PushChange) (r PushRecords, err error) {
	err = c.do(ctx, "POST", p("networks", network, "push", "records"), req, &r)
	return
}
