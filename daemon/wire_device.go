package daemon

import (
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/device"
)

// The conversions of api/device.go's types (see wire.go).

func wireDevice(i device.Info) api.Device {
	return api.Device{Name: i.Name, Node: i.Node, Model: i.Model, Added: i.Added, AddedBy: i.AddedBy}
}
