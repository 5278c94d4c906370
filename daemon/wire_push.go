package daemon

import (
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/gateway"
)

// The conversions of api/push.go's types (see wire.go).

func wirePushStats(s gateway.Stats) api.PushStats {
	return api.PushStats{Conns: s.Conns, IDs: s.IDs, Pushes: s.Pushes, Delivered: s.Delivered,
		Forwarded: s.Forwarded, Refused: s.Refused, Evicted: s.Evicted}
}

func wirePushKey(k gateway.KeyInfo) api.PushKey {
	return api.PushKey{ID: k.ID, Account: k.Account, Name: k.Name, Key: k.Key, By: k.By,
		Created: k.Created, Rotate: k.Rotate}
}

func wirePushServer(s gateway.ServerInfo) api.PushServer {
	return api.PushServer{Node: s.Node, Name: s.Name, Owner: s.Owner, By: s.By, Created: s.Created}
}

func wirePushRecords(r gateway.Records) api.PushRecords {
	return api.PushRecords{
		Groups: wireAll(r.Groups, func(g gateway.GroupInfo) api.PushGroup {
			return api.PushGroup{Account: g.Account, ID: g.ID, Parent: g.Parent}
		}),
		Routers: wireAll(r.Routers, func(r gateway.RouterInfo) api.PushRouter {
			return api.PushRouter{Account: r.Account, Name: r.Name, IDs: r.IDs}
		}),
		Aliases: wireAll(r.Aliases, func(a gateway.AliasInfo) api.PushAlias {
			return api.PushAlias{Account: a.Account, Alias: a.Alias, ID: a.ID}
		}),
	}
}

func gatewayChange(c api.PushChange) gateway.Change {
	return gateway.Change{Op: c.Op, Account: c.Account, ID: c.ID, Name: c.Name, Parent: c.Parent}
}
