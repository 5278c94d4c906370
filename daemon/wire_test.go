package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/control/controlproto"
	"github.com/coconet/coconet/device"
	"github.com/coconet/coconet/gateway"
	"github.com/coconet/coconet/home"
	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/ota"
	"github.com/coconet/coconet/transfer"
	"github.com/coconet/coconet/tunnel"
)

// TestWireJSON: each conversion between an engine struct and its api type
// keeps every field. The value converted has every field set (lists of
// two, a map of one, pointers to values); both sides must encode to the
// same JSON, byte for byte. A field added to an engine struct fails here
// until its api type and conversion carry it (or the test says why not).
func TestWireJSON(t *testing.T) {
	same(t, "wireNetwork", wireNetwork, nil)
	same(t, "wireControl", wireControl, nil)
	same(t, "wirePeer", wirePeer, nil)
	same(t, "wireMessage", wireMessage, nil)
	same(t, "wireUsage", wireUsage, nil)
	same(t, "wireCopyResult", wireCopyResult, nil)
	same(t, "wireReceiveEvent", wireReceiveEvent, nil)
	same(t, "wireTunnelStats", wireTunnelStats, nil)

	same(t, "wireListing", wireListing, nil)
	same(t, "wireResult", wireResult, nil)
	same(t, "wireSceneResult", wireSceneResult, nil)
	same(t, "wireChange", wireChange, nil)
	same(t, "wireGrant", wireGrant, nil)
	// What the ledger fills in is not asked for.
	same(t, "homeGrant", homeGrant, func(g *api.Grant) { g.UserName, g.GrantedBy, g.Created = "", "", time.Time{} })
	same(t, "wireZone", wireZone, nil)
	same(t, "wirePlacement", wirePlacement, nil)
	same(t, "wireScene", wireScene, nil)
	same(t, "homeScene", homeScene, nil)
	same(t, "homeAction", homeAction, nil)

	same(t, "wireDevice", wireDevice, nil)

	same(t, "otaRequest", otaRequest, nil)
	same(t, "wireAuthorization", wireAuthorization, nil)
	same(t, "wireOTAStatus", wireOTAStatus, nil)

	same(t, "wirePushStats", wirePushStats, nil)
	same(t, "wirePushKey", wirePushKey, nil)
	same(t, "wirePushServer", wirePushServer, nil)
	same(t, "wirePushRecords", wirePushRecords, nil)
	same(t, "gatewayChange", gatewayChange, nil)

	// The types the conversions take are the ones the engine hands out.
	var (
		_ func(homedir.NetworkInfo) api.NetworkInfo  = wireNetwork
		_ func(node.ControlStatus) api.ControlStatus = wireControl
		_ func(coconet.PeerInfo) api.PeerInfo        = wirePeer
		_ func(controlproto.Usage) api.Usage         = wireUsage
		_ func(transfer.Event) api.ReceiveEvent      = wireReceiveEvent
		_ func(tunnel.Stats) api.TunnelStats         = wireTunnelStats
		_ func(home.Change) api.Change               = wireChange
		_ func(device.Info) api.Device               = wireDevice
		_ func(ota.Status) api.OTAStatus             = wireOTAStatus
		_ func(gateway.Records) api.PushRecords      = wirePushRecords
	)
}

// TestPushOps: api's names of the push record edits are gateway's.
func TestPushOps(t *testing.T) {
	for _, p := range [][2]string{
		{api.PushOpSetParent, gateway.ChangeSetParent},
		{api.PushOpUngroup, gateway.ChangeUngroup},
		{api.PushOpAddRouter, gateway.ChangeAddRouter},
		{api.PushOpRemoveRouter, gateway.ChangeRemoveRouter},
		{api.PushOpAttach, gateway.ChangeAttach},
		{api.PushOpDetach, gateway.ChangeDetach},
		{api.PushOpSetAlias, gateway.ChangeSetAlias},
		{api.PushOpRemoveAlias, gateway.ChangeRemoveAlias},
	} {
		if p[0] != p[1] {
			t.Errorf("api's push op %q is gateway's %q", p[0], p[1])
		}
	}
}

// TestActionCodes: api's failure codes are the home model's, and a failed
// result's error matches the sentinel of its code.
func TestActionCodes(t *testing.T) {
	for _, c := range []struct {
		home home.Code
		api  api.Code
		err  error
	}{
		{home.CodeDenied, api.CodeDenied, api.ErrDenied},
		{home.CodeInvalid, api.CodeInvalid, api.ErrInvalid},
		{home.CodeNotFound, api.CodeNotFound, api.ErrNotFound},
		{home.CodeOffline, api.CodeOffline, api.ErrOffline},
		{home.CodeTimeout, api.CodeTimeout, api.ErrTimeout},
		{home.CodeFailed, api.CodeFailed, api.ErrFailed},
	} {
		r := wireResult(home.Result{Code: c.home, Error: "no"})
		if r.Code != c.api {
			t.Errorf("home's code %q is api's %q, want %q", c.home, r.Code, c.api)
		}
		if err := r.Err(); !errors.Is(err, c.err) {
			t.Errorf("a result of code %q: Err() = %v, want it to match %v", r.Code, err, c.err)
		}
	}
}

// same fills an In, converts it with f and compares the JSON of both
// (after clear, if not nil, clears on the In what f leaves out on purpose);
// then the same for a zero In, which checks what is left out when empty
// (omitempty, omitzero, null lists).
func same[In, Out any](t *testing.T, name string, f func(In) Out, clear func(*In)) {
	t.Helper()
	var zero In
	sameJSON(t, name+"(zero)", zero, f(zero))
	var in In
	n := 0
	fill(reflect.ValueOf(&in).Elem(), &n)
	out := f(in)
	if clear != nil {
		clear(&in)
	}
	sameJSON(t, name, in, out)
}

func sameJSON(t *testing.T, name string, in, out any) {
	t.Helper()
	a, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if string(a) != string(b) {
		t.Errorf("%s changes the JSON:\n in  %s\n out %s", name, a, b)
	}
}

// fill sets every settable field of v to a value of its own: n counts so
// that no two are alike.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(*n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(*n) + 0.5)
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), n)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, n)
		fill(e, n)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Interface:
		v.Set(reflect.ValueOf(fmt.Sprintf("any%d", *n)))
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 12, 3, 14, 0, *n, 0, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(v.Field(i), n)
			}
		}
	}
}
