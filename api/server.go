package api

import (
	_ "embed"
	"encoding/json"
	"errors"
	"net/http"
)

//go:embed openapi.yaml
var openAPI []byte

// openAPIPath is where the document is served; it is the one path of the
// API that no Service method answers.
const openAPIPath = "/v1/openapi.yaml"

// Error is the body of every failed response.
type Error struct {
	Error string `json:"error"`
}

// NotFound marks errors that should be answered with 404.
type NotFound struct{ Err error }

func (e NotFound) Error() string { return e.Err.Error() }
func (e NotFound) Unwrap() error { return e.Err }

// Conflict marks errors that should be answered with 409: the home is not
// in a state to do it (it has no identity, say).
type Conflict struct{ Err error }

func (e Conflict) Error() string { return e.Err.Error() }
func (e Conflict) Unwrap() error { return e.Err }

// Handler serves svc under /v1/: every route of the table, and the OpenAPI
// document.
func Handler(svc Service) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+openAPIPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openAPI)
	})
	for _, r := range routes {
		mux.HandleFunc(r.pattern(), r.serve(svc))
	}
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
	var cf Conflict
	switch {
	case errors.As(err, &nf):
		code = http.StatusNotFound
	case errors.As(err, &cf):
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
