package daemon

import (
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/ota"
)

// The conversions of api/ota.go's types (see wire.go).

func otaRequest(r api.OTAAuthorizeRequest) ota.Request {
	return ota.Request{Device: r.Device, Image: r.Image, Version: r.Version, Model: r.Model}
}

func wireAuthorization(a ota.Authorization) api.OTAAuthorization {
	return api.OTAAuthorization{V: a.V, Device: a.Device, Name: a.Name, Model: a.Model,
		Version: a.Version, Size: a.Size, SHA256: a.SHA256, Source: a.Source, AuthorizedAt: a.AuthorizedAt}
}

func wireOTAStatus(s ota.Status) api.OTAStatus {
	return api.OTAStatus{Device: s.Device, Name: s.Name, Model: s.Model, Version: s.Version,
		State: s.State, Target: s.Target, Done: s.Done, Total: s.Total, Error: s.Error, Since: s.Since}
}
