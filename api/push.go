package api

import "net/http"

// PushService is the part of Service for the push server for tiny devices.
type PushService interface{}

// pushRoutes adds the routes of PushService to mux.
func pushRoutes(mux *http.ServeMux, svc Service) {}
