package api

import "net/http"

// OTAService is the part of Service for firmware authorization and status.
type OTAService interface{}

// otaRoutes adds the routes of OTAService to mux.
func otaRoutes(mux *http.ServeMux, svc Service) {}
