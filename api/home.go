package api

import "net/http"

// HomeService is the part of Service for resources, commands, watches, grants, zones and scenes.
type HomeService interface{}

// homeRoutes adds the routes of HomeService to mux.
func homeRoutes(mux *http.ServeMux, svc Service) {}
