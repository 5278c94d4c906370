package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/coconet/coconet/api"
)

// DefaultAddr is where `coco up` serves the app unless told otherwise.
const DefaultAddr = "127.0.0.1:7777"

//go:embed assets
var assets embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"short":   short,
	"value":   value,
	"attrID":  attrID,
	"hasCap":  hasCap,
	"attrVal": attrVal,
	"bytes":   bytes,
	"ms":      func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) },
}).ParseFS(assets, "assets/*.html"))

// Server serves the app for one home.
type Server struct {
	// Metrics, if set before Start, is served at /metrics: to the
	// logged-in browser, and to scrapers with the home's metrics token
	// (metrics.go).
	Metrics http.Handler

	svc  api.Service
	home string
	auth *auth
	logf func(string, ...any)

	srv *http.Server
	ln  net.Listener
	wg  sync.WaitGroup
}

// New makes the app's server over svc, with the login key of home (made
// if missing).
func New(svc api.Service, home string, logf func(string, ...any)) (*Server, error) {
	key, err := LoadKey(home)
	if err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	return &Server{svc: svc, home: home, auth: newAuth(key, nil), logf: logf}, nil
}

// Start listens on addr and serves until Close; it writes the app's
// address to the home (URLPath) for `coco app`.
func (s *Server) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Handler(ln.Addr()), ReadHeaderTimeout: 10 * time.Second}
	if err := os.WriteFile(URLPath(s.home), []byte(s.URL()+"\n"), 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("web: %w", err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.srv.Serve(ln)
	}()
	return nil
}

// URL is the app's address (without a login token).
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops serving and removes the address from the home.
func (s *Server) Close() error {
	if s.srv == nil {
		return nil
	}
	os.Remove(URLPath(s.home))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s.srv.Shutdown(ctx) // SSE streams end with their requests' contexts
	s.srv.Close()
	s.wg.Wait()
	return nil
}

// Handler is the app for a server listening on addr (whose Host headers
// it accepts), every route behind the login.
func (s *Server) Handler(addr net.Addr) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v1/", api.Handler(s.svc)) // the local API itself, for the page's script
	static, _ := fs.Sub(assets, "assets")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) {
		if f := r.PathValue("file"); !strings.HasSuffix(f, ".js") && !strings.HasSuffix(f, ".css") {
			http.NotFound(w, r) // the templates are not assets
			return
		}
		files.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /qr.png", s.qr)
	mux.HandleFunc("POST /logout", func(w http.ResponseWriter, r *http.Request) {
		s.auth.logout(r)
		http.SetCookie(w, &http.Cookie{Name: cookieName, Path: "/", MaxAge: -1})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /{$}", s.page("networks", s.networks))
	mux.HandleFunc("GET /n/{net}/{$}", s.page("members", s.members))
	mux.HandleFunc("GET /n/{net}/devices", s.page("devices", s.devices))
	mux.HandleFunc("GET /n/{net}/resources", s.page("resources", s.resources))
	mux.HandleFunc("GET /n/{net}/peers", s.page("peers", s.peers))
	mux.HandleFunc("GET /n/{net}/scenes", s.page("scenes", s.scenes))
	mux.HandleFunc("GET /n/{net}/grants", s.page("grants", s.grants))
	mux.HandleFunc("GET /n/{net}/usage", s.page("usage", s.usage))
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
		return secure(s.scrapers(allowedHosts(addr), s.auth.guard(allowedHosts(addr), mux)))
	}
	return secure(s.auth.guard(allowedHosts(addr), mux))
}

// secure sets the headers every answer carries: no framing, no sniffing,
// no referrer (it could carry a path), and a policy allowing this origin's
// own scripts, styles and images only.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

type sessionKey struct{}

func withSession(ctx context.Context, s session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// view is what every page's template gets.
type view struct {
	Title  string
	Page   string
	CSRF   string
	Net    *api.NetworkInfo
	Nets   []api.NetworkInfo
	Status api.Status
	Data   any
	Err    string
}

// page renders the template name with what load returns.
func (s *Server) page(name string, load func(r *http.Request, v *view) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, _ := r.Context().Value(sessionKey{}).(session)
		v := &view{Page: name, CSRF: sess.csrf}
		ctx := r.Context()
		var err error
		if v.Status, err = s.svc.Status(ctx); err == nil {
			v.Nets, err = s.svc.Networks(ctx)
		}
		if err == nil && r.PathValue("net") != "" {
			ref := r.PathValue("net")
			for i, n := range v.Nets {
				if n.ID.String() == ref || n.Name == ref {
					v.Net = &v.Nets[i]
				}
			}
			if v.Net == nil {
				err = fmt.Errorf("no network %q", ref)
			}
		}
		if err == nil {
			err = load(r, v)
		}
		if err != nil {
			v.Err = err.Error()
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := pages.ExecuteTemplate(w, name+".html", v); err != nil {
			s.logf("web: render %s: %v", name, err)
		}
	}
}

func (s *Server) networks(r *http.Request, v *view) error {
	v.Title = "Networks"
	return nil
}

type membersData struct {
	Members []api.MemberInfo
}

func (s *Server) members(r *http.Request, v *view) error {
	v.Title = v.Net.Name
	ms, err := s.svc.Members(r.Context(), v.Net.ID.String())
	v.Data = membersData{Members: ms}
	return err
}

type devicesData struct {
	Devices []api.DeviceInfo
	OTA     []api.OTAStatus
	OTAErr  string
}

func (s *Server) devices(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": devices"
	ds, err := s.svc.Devices(r.Context(), v.Net.ID.String())
	d := devicesData{Devices: ds}
	v.Data = &d
	if err != nil || len(ds) == 0 {
		return err
	}
	// The devices are asked what they run: a slow one must not hold the page.
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if d.OTA, err = s.svc.OTAStatus(ctx, v.Net.ID.String()); err != nil {
		d.OTAErr = err.Error()
	}
	return nil
}

func (s *Server) peers(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": peers"
	ps, err := s.svc.Peers(r.Context(), v.Net.ID.String())
	v.Data = ps
	return err
}

func (s *Server) scenes(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": scenes"
	sc, err := s.svc.Scenes(r.Context(), v.Net.ID.String())
	v.Data = sc
	return err
}

type grantsData struct {
	Grants  []api.Grant
	Members []api.MemberInfo
	Zones   []api.Zone
	Days    []string
}

func (s *Server) grants(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": grants"
	ctx, id := r.Context(), v.Net.ID.String()
	d := grantsData{Days: []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}}
	var err error
	if d.Grants, err = s.svc.Grants(ctx, id); err != nil {
		return err
	}
	if d.Members, err = s.svc.Members(ctx, id); err != nil {
		return err
	}
	d.Zones, err = s.svc.Zones(ctx, id)
	v.Data = d
	return err
}

func (s *Server) usage(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": usage"
	u, err := s.svc.Usage(r.Context(), v.Net.ID.String())
	v.Data = u
	return err
}

// zoneGroup is the resources of one zone ("" for those in none).
type zoneGroup struct {
	Zone      string
	Resources []api.Resource
}

type resourcesData struct {
	Zones   []zoneGroup
	Offline []string
}

func (s *Server) resources(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": resources"
	l, err := s.svc.Resources(r.Context(), v.Net.ID.String(), "")
	if err != nil {
		return err
	}
	by := map[string][]api.Resource{}
	for _, res := range l.Resources {
		by[res.Zone] = append(by[res.Zone], res)
	}
	var d resourcesData
	for z, rs := range by {
		d.Zones = append(d.Zones, zoneGroup{Zone: z, Resources: rs})
	}
	sort.Slice(d.Zones, func(i, j int) bool {
		a, b := d.Zones[i].Zone, d.Zones[j].Zone
		if (a == "") != (b == "") {
			return b == "" // the unzoned last
		}
		return a < b
	})
	d.Offline = l.Offline
	v.Data = d
	return nil
}

// events streams a network's attribute changes (HomeWatch, optionally of
// one resource) as server-sent events, one JSON api.Change each.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	ch, err := s.svc.HomeWatch(r.Context(), q.Get("net"), q.Get("resource"))
	if err != nil {
		status := http.StatusUnprocessableEntity
		if errors.As(err, new(api.NotFound)) {
			status = http.StatusNotFound
		}
		http.Error(w, err.Error(), status)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	fmt.Fprint(w, ": watching\n\n")
	if fl != nil {
		fl.Flush()
	}
	for c := range ch {
		b, _ := json.Marshal(c)
		if _, err := fmt.Fprintf(w, "event: change\ndata: %s\n\n", b); err != nil {
			return
		}
		if fl != nil {
			fl.Flush()
		}
	}
}

// qr answers a QR code of ?text= as a PNG.
func (s *Server) qr(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	if text == "" || len(text) > 2000 {
		http.Error(w, "text: 1 to 2000 bytes", http.StatusBadRequest)
		return
	}
	png, err := qrcode.Encode(text, qrcode.Medium, 320)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

func short(s string) string {
	if len(s) > 14 {
		return s[:6] + "…" + s[len(s)-6:]
	}
	return s
}

func value(v any) string {
	switch x := v.(type) {
	case nil:
		return "—"
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprintf("%.1f", x)
	default:
		return fmt.Sprint(x)
	}
}

// attrID is the DOM id of an attribute's value: what an event updates.
func attrID(res, capability, attr string) string {
	return "v-" + strings.NewReplacer(" ", "_", ".", "_").Replace(res+"-"+capability+"-"+attr)
}

func hasCap(r api.Resource, name string) bool {
	for _, c := range r.Capabilities {
		if c.Name == name {
			return true
		}
	}
	return false
}

func attrVal(r api.Resource, capability, attr string) any {
	for _, c := range r.Capabilities {
		if c.Name == capability {
			for _, a := range c.Attributes {
				if a.Name == attr {
					return a.Value
				}
			}
		}
	}
	return nil
}

// bytes writes n bytes for people.
func bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
