package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/coconet/coconet"
)

//go:embed openapi.yaml
var openAPI []byte

// Error is the body of every failed response.
type Error struct {
	Error string `json:"error"`
}

// NotFound marks errors that should be answered with 404.
type NotFound struct{ Err error }

func (e NotFound) Error() string { return e.Err.Error() }
func (e NotFound) Unwrap() error { return e.Err }

// Handler serves svc under /v1/.
func Handler(svc Service) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPI)
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Status(r.Context()))
	})
	mux.HandleFunc("GET /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Networks(r.Context()))
	})
	mux.HandleFunc("POST /v1/networks", func(w http.ResponseWriter, r *http.Request) {
		var req CreateNetworkRequest
		if !decode(w, r, &req) {
			return
		}
		reply(w)(svc.CreateNetwork(r.Context(), req))
	})
	mux.HandleFunc("GET /v1/networks/{net}/members", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Members(r.Context(), r.PathValue("net")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/invites", func(w http.ResponseWriter, r *http.Request) {
		var req InviteRequest
		if !decode(w, r, &req) {
			return
		}
		reply(w)(svc.Invite(r.Context(), r.PathValue("net"), req))
	})
	mux.HandleFunc("DELETE /v1/networks/{net}/members/{member}", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Remove(r.Context(), r.PathValue("net"), r.PathValue("member")))
	})
	mux.HandleFunc("POST /v1/join", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Code string `json:"code"`
		}
		if !decode(w, r, &req) {
			return
		}
		reply(w)(svc.Join(r.Context(), req.Code))
	})
	mux.HandleFunc("POST /v1/networks/{net}/messages", func(w http.ResponseWriter, r *http.Request) {
		var req SendRequest
		if !decode(w, r, &req) {
			return
		}
		err := svc.Send(r.Context(), r.PathValue("net"), req)
		reply(w)(struct {
			Delivered bool `json:"delivered"`
		}{err == nil}, err)
	})
	mux.HandleFunc("GET /v1/networks/{net}/peers", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Peers(r.Context(), r.PathValue("net")))
	})
	mux.HandleFunc("GET /v1/networks/{net}/messages", func(w http.ResponseWriter, r *http.Request) {
		ch, err := svc.Listen(r.Context(), r.PathValue("net"))
		streamOut(w, ch, err)
	})
	mux.HandleFunc("GET /v1/networks/{net}/usage", func(w http.ResponseWriter, r *http.Request) {
		reply(w)(svc.Usage(r.Context(), r.PathValue("net")))
	})
	mux.HandleFunc("POST /v1/networks/{net}/call", func(w http.ResponseWriter, r *http.Request) {
		var req CallRequest
		if decode(w, r, &req) {
			reply(w)(svc.Call(r.Context(), r.PathValue("net"), req))
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/copy", func(w http.ResponseWriter, r *http.Request) {
		var req CopyRequest
		if decode(w, r, &req) {
			ch, err := svc.Copy(r.Context(), r.PathValue("net"), req)
			streamOut(w, ch, err)
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/receive", func(w http.ResponseWriter, r *http.Request) {
		var req ReceiveRequest
		if decode(w, r, &req) {
			ch, err := svc.Receive(r.Context(), r.PathValue("net"), req)
			streamOut(w, ch, err)
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/tunnels/expose", func(w http.ResponseWriter, r *http.Request) {
		var req TunnelRequest
		if decode(w, r, &req) {
			ch, err := svc.Expose(r.Context(), r.PathValue("net"), req)
			streamOut(w, ch, err)
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/tunnels/open", func(w http.ResponseWriter, r *http.Request) {
		var req TunnelRequest
		if decode(w, r, &req) {
			ch, err := svc.OpenTunnel(r.Context(), r.PathValue("net"), req)
			streamOut(w, ch, err)
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/publish", func(w http.ResponseWriter, r *http.Request) {
		var req PublishRequest
		if decode(w, r, &req) {
			err := svc.Publish(r.Context(), r.PathValue("net"), req)
			reply(w)(struct {
				Published bool `json:"published"`
			}{err == nil}, err)
		}
	})
	mux.HandleFunc("POST /v1/networks/{net}/subscribe", func(w http.ResponseWriter, r *http.Request) {
		var req SubscribeRequest
		if decode(w, r, &req) {
			ch, err := svc.Subscribe(r.Context(), r.PathValue("net"), req)
			streamOut(w, ch, err)
		}
	})
	homeRoutes(mux, svc)
	deviceRoutes(mux, svc)
	otaRoutes(mux, svc)
	pushRoutes(mux, svc)
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<20)
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(Error{"bad request body: " + err.Error()})
		return false
	}
	return true
}

func reply(w http.ResponseWriter) func(any, error) {
	return func(v any, err error) {
		if err != nil {
			writeErr(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusUnprocessableEntity
	var nf NotFound
	switch {
	case errors.As(err, &nf):
		code = http.StatusNotFound
	case errors.Is(err, coconet.ErrNoIdentity):
		code = http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(Error{err.Error()})
}

// streamOut writes each value of ch as one JSON line, flushing as it goes,
// until ch closes or the client goes away.
func streamOut[T any](w http.ResponseWriter, ch <-chan T, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	for v := range ch {
		if enc.Encode(v) != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}
