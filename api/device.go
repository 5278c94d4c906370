package api

import "net/http"

// DeviceService is the part of Service for claiming and removing devices.
type DeviceService interface{}

// deviceRoutes adds the routes of DeviceService to mux.
func deviceRoutes(mux *http.ServeMux, svc Service) {}
