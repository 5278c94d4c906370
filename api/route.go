package api

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
)

// The local API is one table of routes. Each route names its method and
// path, its request and response types, and how it calls the Service; the
// server (Handler) serves every route of the table, and each Client method
// is one line that calls its route, over the daemon's socket or, for a
// Service in the same process, directly. TestOpenAPI holds openapi.yaml to
// the table.
//
// Adding an endpoint: a method on Service (or one of its parts), its route
// and its Client method beside it, its path in openapi.yaml; then the
// daemon's implementation and the CLI command.

// none is the request of a route without a body.
type none struct{}

// endpoint is a route of the table, whatever its types.
type endpoint interface {
	pattern() string // "METHOD /path", as http.ServeMux takes it
	serve(svc Service) http.HandlerFunc
	// types are the request's type and the answer's (a stream's event).
	types() (req, resp reflect.Type)
}

// routes is the table, filled as the route variables are initialized.
var routes []endpoint

// route is an endpoint with one JSON answer. Its path holds the parameters
// ({net}, …) the caller gives in order, then the query parameter, if query
// names one ("" leaves it out).
type route[Req, Resp any] struct {
	method, path, query string
	call                func(ctx context.Context, s Service, p []string, req Req) (Resp, error)
	// list makes a nil list go out as [] rather than null.
	list bool
}

// stream is an endpoint whose answer is JSON lines, one an event, while
// the request lasts.
type stream[Req, Ev any] struct {
	method, path, query string
	call                func(ctx context.Context, s Service, p []string, req Req) (<-chan Ev, error)
}

// newRoute adds r to the table.
func newRoute[Req, Resp any](method, path string, call func(context.Context, Service, []string, Req) (Resp, error)) *route[Req, Resp] {
	r := &route[Req, Resp]{method: method, path: path, call: call}
	routes = append(routes, r)
	return r
}

// newList adds r, whose answer is a list, to the table.
func newList[Req, Resp any](method, path string, call func(context.Context, Service, []string, Req) (Resp, error)) *route[Req, Resp] {
	r := newRoute(method, path, call)
	r.list = true
	return r
}

// newQuery adds r, which takes the query parameter q, to the table.
func newQuery[Req, Resp any](method, path, q string, call func(context.Context, Service, []string, Req) (Resp, error)) *route[Req, Resp] {
	r := newRoute(method, path, call)
	r.query = q
	return r
}

// newStream adds s to the table.
func newStream[Req, Ev any](method, path, query string, call func(context.Context, Service, []string, Req) (<-chan Ev, error)) *stream[Req, Ev] {
	s := &stream[Req, Ev]{method: method, path: path, query: query, call: call}
	routes = append(routes, s)
	return s
}

func (r *route[Req, Resp]) pattern() string { return r.method + " " + r.path }
func (s *stream[Req, Ev]) pattern() string  { return s.method + " " + s.path }
func (r *route[Req, Resp]) types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[Req](), reflect.TypeFor[Resp]()
}

func (s *stream[Req, Ev]) types() (reflect.Type, reflect.Type) {
	return reflect.TypeFor[Req](), reflect.TypeFor[Ev]()
}

func (r *route[Req, Resp]) serve(svc Service) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		var req Req
		if !readBody(w, hr, &req) {
			return
		}
		v, err := r.call(hr.Context(), svc, params(hr, r.path, r.query), req)
		if r.list && err == nil {
			emptyList(&v)
		}
		reply(w)(v, err)
	}
}

func (s *stream[Req, Ev]) serve(svc Service) http.HandlerFunc {
	return func(w http.ResponseWriter, hr *http.Request) {
		var req Req
		if !readBody(w, hr, &req) {
			return
		}
		ch, err := s.call(hr.Context(), svc, params(hr, s.path, s.query), req)
		streamOut(w, ch, err)
	}
}

// do calls the route through c with the path (then query) parameters p.
func (r *route[Req, Resp]) do(ctx context.Context, c *Client, req Req, p ...string) (Resp, error) {
	var out Resp
	b, err := c.backend()
	if err != nil {
		return out, err
	}
	if b.local != nil {
		// The Service's own answer, not the wire's: a nil list stays nil
		// (the CLI's --json printed null for it without a daemon before).
		return r.call(ctx, b.local, p, req)
	}
	err = b.do(ctx, r.method, target(r.path, r.query, p), body(req), &out)
	return out, err
}

// do calls the stream through c with the path (then query) parameters p.
func (s *stream[Req, Ev]) do(ctx context.Context, c *Client, req Req, p ...string) (<-chan Ev, error) {
	b, err := c.backend()
	if err != nil {
		return nil, err
	}
	if b.local != nil {
		return s.call(ctx, b.local, p, req)
	}
	return streamIn[Ev](ctx, b, s.method, target(s.path, s.query, p), body(req))
}

// params reads a request's path parameters in the order of path, then the
// query parameter q (if any).
func params(r *http.Request, path, q string) []string {
	var p []string
	for _, name := range paramNames(path) {
		p = append(p, r.PathValue(name))
	}
	if q != "" {
		p = append(p, r.URL.Query().Get(q))
	}
	return p
}

// paramNames lists the {names} of path in order.
func paramNames(path string) []string {
	var names []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			names = append(names, seg[1:len(seg)-1])
		}
	}
	return names
}

// target fills path's parameters with p, escaped, and adds the query
// parameter q when its value (the one after the path's) is not "".
func target(path, q string, p []string) string {
	segs := strings.Split(path, "/")
	i := 0
	for j, seg := range segs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			segs[j] = url.PathEscape(p[i])
			i++
		}
	}
	s := strings.Join(segs, "/")
	if q != "" && i < len(p) && p[i] != "" {
		s += "?" + q + "=" + url.QueryEscape(p[i])
	}
	return s
}

// readBody decodes the request's body into req, unless the route takes
// none; it answers 400 and returns false when the body is bad.
func readBody[Req any](w http.ResponseWriter, r *http.Request, req *Req) bool {
	if _, ok := any(*req).(none); ok {
		return true
	}
	return decode(w, r, req)
}

// body is what a request sends: nothing for none.
func body[Req any](req Req) any {
	if _, ok := any(req).(none); ok {
		return nil
	}
	return req
}

// emptyList makes *v, a nil slice, an empty one.
func emptyList[T any](v *T) {
	rv := reflect.ValueOf(v).Elem()
	if rv.Kind() == reflect.Slice && rv.IsNil() {
		rv.Set(reflect.MakeSlice(rv.Type(), 0, 0))
	}
}
