package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
)

// TestOpenAPI: the document lists every route of the table with its method,
// and every path and method it lists is in the table.
func TestOpenAPI(t *testing.T) {
	doc := map[string]bool{}
	path := ""
	sc := bufio.NewScanner(bytes.NewReader(openAPI))
	inPaths := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && line != "" && !strings.HasPrefix(line, " "):
			inPaths = false
		case inPaths && strings.HasPrefix(line, "  /") && strings.HasSuffix(line, ":"):
			path = strings.TrimSuffix(strings.TrimSpace(line), ":")
		case inPaths && strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     "):
			method, _, ok := strings.Cut(strings.TrimSpace(line), ":")
			if ok && slices.Contains([]string{"get", "post", "put", "delete", "patch"}, method) {
				doc[strings.ToUpper(method)+" "+path] = true
			}
		}
	}
	table := map[string]bool{"GET " + openAPIPath: true}
	for _, r := range routes {
		if table[r.pattern()] {
			t.Errorf("the table has %s twice", r.pattern())
		}
		table[r.pattern()] = true
	}
	for p := range table {
		if !doc[p] {
			t.Errorf("openapi.yaml lacks %s, which the table serves", p)
		}
	}
	for p := range doc {
		if !table[p] {
			t.Errorf("openapi.yaml has %s, which the table does not serve", p)
		}
	}
	if len(doc) < 40 {
		t.Errorf("read %d operations from openapi.yaml; is the parser lost?", len(doc))
	}
}

// fake is a Service that records each call (its method and arguments) and
// answers with zero values: a stream sends one zero event and ends. A
// network called "missing" is not found.
type fake struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	method string
	args   []any
}

func (f *fake) record(method string, args ...any) error {
	f.mu.Lock()
	f.calls = append(f.calls, call{method, args})
	f.mu.Unlock()
	if len(args) > 0 && args[0] == "missing" {
		return NotFound{fmt.Errorf("no network called %q here", "missing")}
	}
	return nil
}

func (f *fake) last() call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return call{}
	}
	return f.calls[len(f.calls)-1]
}

func ret[T any](f *fake, method string, args ...any) (T, error) {
	var v T
	return v, f.record(method, args...)
}

func events[T any](f *fake, method string, args ...any) (<-chan T, error) {
	if err := f.record(method, args...); err != nil {
		return nil, err
	}
	ch := make(chan T, 1)
	var v T
	ch <- v
	close(ch)
	return ch, nil
}

type ctx = context.Context

// samplePeer is a node ID (of an Ed25519 key).
const samplePeer = "12D3KooWGzh3T6mYCJVGTxLRvCeN2r7Bk1BzjNDqKQzR3jEMWKPz"

func (f *fake) Status(c ctx) (Status, error) { return ret[Status](f, "Status") }
func (f *fake) Networks(c ctx) ([]NetworkInfo, error) {
	return ret[[]NetworkInfo](f, "Networks")
}
func (f *fake) CreateNetwork(c ctx, r CreateNetworkRequest) (NetworkInfo, error) {
	return ret[NetworkInfo](f, "CreateNetwork", r)
}
func (f *fake) Members(c ctx, n string) ([]MemberInfo, error) {
	return ret[[]MemberInfo](f, "Members", n)
}
func (f *fake) Invite(c ctx, n string, r InviteRequest) (InviteResult, error) {
	return ret[InviteResult](f, "Invite", n, r)
}
func (f *fake) Remove(c ctx, n, m string) (RemoveResult, error) {
	return ret[RemoveResult](f, "Remove", n, m)
}
func (f *fake) Join(c ctx, code string) (NetworkInfo, error) {
	return ret[NetworkInfo](f, "Join", code)
}
func (f *fake) Send(c ctx, n string, r SendRequest) error { return f.record("Send", n, r) }
func (f *fake) Peers(c ctx, n string) ([]PeerInfo, error) {
	return ret[[]PeerInfo](f, "Peers", n)
}
func (f *fake) Listen(c ctx, n string) (<-chan Message, error) {
	if err := f.record("Listen", n); err != nil {
		return nil, err
	}
	from, err := peer.Decode(samplePeer) // a zero ID does not decode
	ch := make(chan Message, 1)
	ch <- Message{FromNode: from, Data: []byte("hi")}
	close(ch)
	return ch, err
}
func (f *fake) Call(c ctx, n string, r CallRequest) (CallResult, error) {
	return ret[CallResult](f, "Call", n, r)
}
func (f *fake) Copy(c ctx, n string, r CopyRequest) (<-chan Progress, error) {
	return events[Progress](f, "Copy", n, r)
}
func (f *fake) Receive(c ctx, n string, r ReceiveRequest) (<-chan ReceiveEvent, error) {
	return events[ReceiveEvent](f, "Receive", n, r)
}
func (f *fake) Expose(c ctx, n string, r TunnelRequest) (<-chan TunnelEvent, error) {
	return events[TunnelEvent](f, "Expose", n, r)
}
func (f *fake) OpenTunnel(c ctx, n string, r TunnelRequest) (<-chan TunnelEvent, error) {
	return events[TunnelEvent](f, "OpenTunnel", n, r)
}
func (f *fake) Publish(c ctx, n string, r PublishRequest) error { return f.record("Publish", n, r) }
func (f *fake) Usage(c ctx, n string) (Usage, error) {
	return ret[Usage](f, "Usage", n)
}
func (f *fake) Subscribe(c ctx, n string, r SubscribeRequest) (<-chan PubMessage, error) {
	return events[PubMessage](f, "Subscribe", n, r)
}
func (f *fake) Resources(c ctx, n, z string) (Listing, error) {
	return ret[Listing](f, "Resources", n, z)
}
func (f *fake) HomeCommand(c ctx, n string, r Action) (ActionResult, error) {
	return ActionResult{OK: true}, f.record("HomeCommand", n, r)
}
func (f *fake) HomeWatch(c ctx, n, r string) (<-chan Change, error) {
	return events[Change](f, "HomeWatch", n, r)
}
func (f *fake) Grants(c ctx, n string) ([]Grant, error) {
	return ret[[]Grant](f, "Grants", n)
}
func (f *fake) GrantCreate(c ctx, n string, r GrantRequest) (Grant, error) {
	return ret[Grant](f, "GrantCreate", n, r)
}
func (f *fake) GrantRevoke(c ctx, n, g string) (Grant, error) {
	return ret[Grant](f, "GrantRevoke", n, g)
}
func (f *fake) Zones(c ctx, n string) ([]Zone, error) { return ret[[]Zone](f, "Zones", n) }
func (f *fake) ZoneCreate(c ctx, n, z string) (Zone, error) {
	return ret[Zone](f, "ZoneCreate", n, z)
}
func (f *fake) ZoneDelete(c ctx, n, z string) (Zone, error) {
	return ret[Zone](f, "ZoneDelete", n, z)
}
func (f *fake) ZonePlace(c ctx, n string, r PlaceRequest) (Placement, error) {
	return ret[Placement](f, "ZonePlace", n, r)
}
func (f *fake) ZoneUnplace(c ctx, n, r string) (Placement, error) {
	return ret[Placement](f, "ZoneUnplace", n, r)
}
func (f *fake) Scenes(c ctx, n string) ([]Scene, error) {
	return ret[[]Scene](f, "Scenes", n)
}
func (f *fake) SceneCreate(c ctx, n string, r SceneRequest) (Scene, error) {
	return ret[Scene](f, "SceneCreate", n, r)
}
func (f *fake) SceneDelete(c ctx, n, s string) (Scene, error) {
	return ret[Scene](f, "SceneDelete", n, s)
}
func (f *fake) SceneRun(c ctx, n, s string) (SceneResult, error) {
	return ret[SceneResult](f, "SceneRun", n, s)
}
func (f *fake) DeviceAdd(c ctx, n, code string) (Device, error) {
	return ret[Device](f, "DeviceAdd", n, code)
}
func (f *fake) Devices(c ctx, n string) ([]DeviceInfo, error) {
	return ret[[]DeviceInfo](f, "Devices", n)
}
func (f *fake) ServiceAdd(c ctx, n string, r ServiceAddRequest) (ServiceKeyInfo, error) {
	return ret[ServiceKeyInfo](f, "ServiceAdd", n, r)
}
func (f *fake) ServiceRevoke(c ctx, n, k string) (ServiceKeyInfo, error) {
	return ret[ServiceKeyInfo](f, "ServiceRevoke", n, k)
}
func (f *fake) AuthKeyCreate(c ctx, n string, r AuthKeyRequest) (AuthKeyResult, error) {
	return ret[AuthKeyResult](f, "AuthKeyCreate", n, r)
}
func (f *fake) DeviceRemove(c ctx, n, ref string) (Device, error) {
	return ret[Device](f, "DeviceRemove", n, ref)
}
func (f *fake) OTAAuthorize(c ctx, n string, r OTAAuthorizeRequest) (OTAAuthorization, error) {
	return ret[OTAAuthorization](f, "OTAAuthorize", n, r)
}
func (f *fake) OTAList(c ctx, n string) ([]OTAAuthorization, error) {
	return ret[[]OTAAuthorization](f, "OTAList", n)
}
func (f *fake) OTAStatus(c ctx, n string) ([]OTAStatus, error) {
	return ret[[]OTAStatus](f, "OTAStatus", n)
}
func (f *fake) APIKeySign(c ctx, n string, r APIKeyRequest) (APIKeyGrant, error) {
	return ret[APIKeyGrant](f, "APIKeySign", n, r)
}
func (f *fake) APIKeyRevokeSign(c ctx, n, id string) (APIKeyRevocation, error) {
	return ret[APIKeyRevocation](f, "APIKeyRevokeSign", n, id)
}
func (f *fake) OTAWithdraw(c ctx, n, d, v string) (OTAAuthorization, error) {
	return ret[OTAAuthorization](f, "OTAWithdraw", n, d, v)
}
func (f *fake) PushServe(c ctx, n string, r PushServeRequest) (<-chan PushServerEvent, error) {
	return events[PushServerEvent](f, "PushServe", n, r)
}
func (f *fake) PushKeyCreate(c ctx, n string, r PushKeyRequest) (PushKey, error) {
	return ret[PushKey](f, "PushKeyCreate", n, r)
}
func (f *fake) PushKeys(c ctx, n string) ([]PushKey, error) { return ret[[]PushKey](f, "PushKeys", n) }
func (f *fake) PushKeyRevoke(c ctx, n, k string) (PushKey, error) {
	return ret[PushKey](f, "PushKeyRevoke", n, k)
}
func (f *fake) PushKeyRotate(c ctx, n, r string) ([]PushKey, error) {
	return ret[[]PushKey](f, "PushKeyRotate", n, r)
}
func (f *fake) PushServers(c ctx, n string) ([]PushServer, error) {
	return ret[[]PushServer](f, "PushServers", n)
}
func (f *fake) PushServerAdd(c ctx, n, node string) ([]PushServer, error) {
	return ret[[]PushServer](f, "PushServerAdd", n, node)
}
func (f *fake) PushServerRemove(c ctx, n, node string) ([]PushServer, error) {
	return ret[[]PushServer](f, "PushServerRemove", n, node)
}
func (f *fake) PushRecords(c ctx, n, a string) (PushRecords, error) {
	return ret[PushRecords](f, "PushRecords", n, a)
}
func (f *fake) PushChange(c ctx, n string, r PushChange) (PushRecords, error) {
	return ret[PushRecords](f, "PushChange", n, r)
}

var _ Service = (*fake)(nil)

// serve serves svc on a unix socket in a test directory and dials it.
func serve(t *testing.T, svc Service) *Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(svc)}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	c, err := Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRoundTrip calls every method of Service through a Client, over a
// real unix socket and in process, and checks that the fake Service behind
// it is called by the same method with the same arguments: strings that
// need escaping in a path, and requests with every string field set.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		conn func(*testing.T, Service) *Client
	}{
		{"socket", serve},
		{"local", func(t *testing.T, s Service) *Client { return Local(s, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fake{}
			c := tc.conn(t, f)
			cv := reflect.ValueOf(c)
			st := reflect.TypeFor[Service]()
			for i := range st.NumMethod() {
				m := st.Method(i)
				fn := cv.MethodByName(m.Name)
				args := []reflect.Value{reflect.ValueOf(context.Background())}
				var want []any
				for j := 1; j < fn.Type().NumIn(); j++ {
					a := sample(fn.Type().In(j), j)
					args = append(args, a)
					want = append(want, a.Interface())
				}
				out := fn.Call(args)
				if err, _ := out[len(out)-1].Interface().(error); err != nil {
					t.Errorf("%s: %v", m.Name, err)
					continue
				}
				if len(out) == 2 && out[0].Kind() == reflect.Chan {
					n := 0
					for {
						if _, ok := out[0].Recv(); !ok {
							break
						}
						n++
					}
					if n != 1 {
						t.Errorf("%s streamed %d events, want 1", m.Name, n)
					}
				}
				got := f.last()
				if got.method != m.Name {
					t.Errorf("client's %s called the service's %s", m.Name, got.method)
					continue
				}
				if !reflect.DeepEqual(got.args, want) {
					t.Errorf("%s(%#v) reached the service as %#v", m.Name, want, got.args)
				}
			}
		})
	}
}

// sample makes an argument of type t: a string that needs escaping, or a
// value with each string field set.
func sample(t reflect.Type, i int) reflect.Value {
	v := reflect.New(t).Elem()
	switch t.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("a b/c?%d é", i))
	case reflect.Struct:
		for j := range t.NumField() {
			if f := v.Field(j); f.Kind() == reflect.String && t.Field(j).IsExported() {
				f.SetString(fmt.Sprintf("field %d", j))
			}
		}
	}
	return v
}

// TestErrors: a Service's error reaches the client as its sentence, and a
// NotFound one as 404.
func TestErrors(t *testing.T) {
	f := &fake{}
	c := serve(t, f)
	_, err := c.Members(context.Background(), "missing")
	if err == nil || err.Error() != `no network called "missing" here` {
		t.Errorf("Members(missing) = %v, want the service's sentence", err)
	}
	resp, err := c.hc.Get("http://coco/v1/networks/missing/members")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET members of missing: %s, want 404", resp.Status)
	}
	resp, err = c.hc.Post("http://coco/v1/networks/x/messages", "application/json", strings.NewReader("{"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST a bad body: %s, want 400", resp.Status)
	}
	// Empty lists go out as [], as clients of the REST API expect.
	resp, err = c.hc.Get("http://coco/v1/networks/x/grants")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if got := strings.TrimSpace(b.String()); got != "[]" {
		t.Errorf("GET grants = %s, want []", got)
	}
}

// TestLazy: a Lazy client opens on its first request, not before, and its
// opener's error is the request's; Close closes what it opened.
func TestLazy(t *testing.T) {
	opened, closed := 0, 0
	c := Lazy(func() (*Client, error) {
		opened++
		return Local(&fake{}, func() { closed++ }), nil
	})
	if opened != 0 {
		t.Fatal("Lazy opened before a request")
	}
	for range 2 {
		if _, err := c.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if opened != 1 || closed != 1 {
		t.Errorf("opened %d, closed %d times, want 1 and 1", opened, closed)
	}
	errBusy := errors.New("the home is busy")
	c = Lazy(func() (*Client, error) { return nil, errBusy })
	if _, err := c.Networks(context.Background()); err != errBusy {
		t.Errorf("Networks = %v, want the opener's error", err)
	}
	c.Close()
	never := Lazy(func() (*Client, error) { t.Error("opened by Close"); return nil, nil })
	never.Close()
}

// failing is a fake whose commands fail: the device is offline.
type failing struct{ *fake }

func (f failing) HomeCommand(c ctx, n string, a Action) (ActionResult, error) {
	if err := f.record("HomeCommand", n, a); err != nil {
		return ActionResult{}, err
	}
	r := ActionResult{Action: a, Device: "hub", Code: CodeOffline, Error: "hub is offline"}
	return r, r.Err()
}

// TestHomeCommandFailed: a failed action reaches a Go client as its result
// and an *ActionError of its code, over the socket and in process; on the
// wire it is an answer (200, the result), not a failed request.
func TestHomeCommandFailed(t *testing.T) {
	a := Action{Resource: "bulb", Capability: "on_off", Command: "on"}
	for _, tc := range []struct {
		name string
		conn func(*testing.T, Service) *Client
	}{
		{"socket", serve},
		{"local", func(t *testing.T, s Service) *Client { return Local(s, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.conn(t, failing{&fake{}})
			r, err := c.HomeCommand(context.Background(), "home", a)
			var ae *ActionError
			if !errors.As(err, &ae) || ae.Code != CodeOffline || ae.Msg != "hub is offline" {
				t.Fatalf("HomeCommand = %v, want an *ActionError of code offline", err)
			}
			if !errors.Is(err, ErrOffline) || errors.Is(err, ErrDenied) {
				t.Errorf("HomeCommand's error %v: matches ErrOffline %v, ErrDenied %v; want only ErrOffline",
					err, errors.Is(err, ErrOffline), errors.Is(err, ErrDenied))
			}
			if r.OK || r.Code != CodeOffline || r.Device != "hub" || r.Action.Resource != "bulb" {
				t.Errorf("HomeCommand's result = %+v, want the failed result", r)
			}
			if got, want := err.Error(), "bulb:on_off:on: hub is offline"; got != want {
				t.Errorf("HomeCommand's error says %q, want %q", got, want)
			}
			// Any other failure stays what it was.
			_, err = c.HomeCommand(context.Background(), "missing", a)
			if err == nil || errors.As(err, &ae) {
				t.Errorf("HomeCommand(missing) = %v, want the service's error, not an action's", err)
			}
		})
	}
	c := serve(t, failing{&fake{}})
	resp, err := c.hc.Post("http://coco/v1/networks/home/commands", "application/json",
		strings.NewReader(`{"resource":"bulb","capability":"on_off","command":"on"}`))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(b.String(), `"code":"offline"`) {
		t.Errorf("POST a failing command: %s %s, want 200 and the result", resp.Status, b.String())
	}
}

func (f *fake) Drives(c ctx, n string) ([]DriveInfo, error) { return ret[[]DriveInfo](f, "Drives", n) }
func (f *fake) DriveCreate(c ctx, n string, r DriveCreateRequest) (DriveInfo, error) {
	return ret[DriveInfo](f, "DriveCreate", n, r)
}
func (f *fake) DriveReplicate(c ctx, n, d string) (DriveInfo, error) {
	return ret[DriveInfo](f, "DriveReplicate", n, d)
}
func (f *fake) DriveList(c ctx, n, d, p string) ([]DriveFile, error) {
	return ret[[]DriveFile](f, "DriveList", n, d, p)
}
func (f *fake) DrivePut(c ctx, n, d string, r DrivePutRequest) (DriveFile, error) {
	return ret[DriveFile](f, "DrivePut", n, d, r)
}
func (f *fake) DriveGet(c ctx, n, d string, r DriveGetRequest) (DriveContent, error) {
	return ret[DriveContent](f, "DriveGet", n, d, r)
}
func (f *fake) DriveRemove(c ctx, n, d, p string) (DriveFile, error) {
	return ret[DriveFile](f, "DriveRemove", n, d, p)
}
func (f *fake) DriveMove(c ctx, n, d string, r DriveMoveRequest) (DriveFile, error) {
	return ret[DriveFile](f, "DriveMove", n, d, r)
}
func (f *fake) DriveHistory(c ctx, n, d, p string) ([]DriveFile, error) {
	return ret[[]DriveFile](f, "DriveHistory", n, d, p)
}
func (f *fake) DriveConflicts(c ctx, n, d string) ([]DriveFile, error) {
	return ret[[]DriveFile](f, "DriveConflicts", n, d)
}
func (f *fake) DriveStatus(c ctx, n, d string, copies int) (DriveHealth, error) {
	return ret[DriveHealth](f, "DriveStatus", n, d, copies)
}
func (f *fake) DriveSync(c ctx, n, d string) (DriveSyncResult, error) {
	return ret[DriveSyncResult](f, "DriveSync", n, d)
}
func (f *fake) DriveBandwidth(c ctx, n, d string) (DriveBandwidth, error) {
	return ret[DriveBandwidth](f, "DriveBandwidth", n, d)
}
func (f *fake) DriveSetBandwidth(c ctx, n, d string, r DriveBandwidth) (DriveBandwidth, error) {
	return ret[DriveBandwidth](f, "DriveSetBandwidth", n, d, r)
}
