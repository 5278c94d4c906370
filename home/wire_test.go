package home

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// TestCompactRoundTrip: requests and replies survive the compact
// encoding, with the values a host and a driver use.
func TestCompactRoundTrip(t *testing.T) {
	actions := []Action{
		{Resource: "bulb-1", Capability: "level", Command: "set", Args: map[string]any{"level": int64(40), "ramp": 1.5, "why": "dusk", "fast": true, "slow": false, "none": nil}},
		{Resource: "lamp", Capability: "on_off", Command: "toggle"},
	}
	got, err := decodeCmdRequest(encodeCmdRequest(nil, actions))
	if err != nil || !reflect.DeepEqual(got, actions) {
		t.Fatalf("decodeCmdRequest(encode(%v)) = %v, %v", actions, got, err)
	}
	now := time.Unix(1767225600, 123456789)
	results := []Result{
		{Device: "hub", OK: true, Took: 1500 * time.Microsecond, Changes: []Change{
			{Resource: "bulb-1", Capability: "level", Attribute: "level", Value: int64(40), Type: Int, Time: now},
			{Resource: "bulb-1", Capability: "on_off", Attribute: "on", Value: true, Type: Bool},
			{Resource: "bulb-1", Capability: "color", Attribute: "xy", Value: []any{0.3, 0.4}, Type: Number, Device: "hub"},
		}},
		{Device: "hub", Code: CodeDenied, Error: "carol (guest) has no grant for on_off.on on lamp"},
	}
	rs, err := decodeCmdReply(encodeCmdReply(nil, results), len(results))
	if err != nil {
		t.Fatal(err)
	}
	if !rs[0].Changes[0].Time.Equal(now) {
		t.Errorf("time = %v, want %v", rs[0].Changes[0].Time, now)
	}
	rs[0].Changes[0].Time = now
	if !reflect.DeepEqual(rs, results) {
		t.Errorf("decodeCmdReply(encode(%+v)) = %+v", results, rs)
	}
	if _, err := decodeCmdReply(encodeCmdReply(nil, results), 1); err == nil {
		t.Error("a reply of 2 results for 1 action was accepted")
	}
}

// TestCompactRejects: what a host refuses before running anything.
func TestCompactRejects(t *testing.T) {
	one := encodeCmdRequest(nil, []Action{{Resource: "lamp", Capability: "on_off", Command: "on"}})
	many := make([]Action, maxActions+1)
	for i := range many {
		many[i] = Action{Resource: "lamp", Capability: "on_off", Command: "on"}
	}
	for name, b := range map[string][]byte{
		"empty":          {wireV1},
		"no actions":     {wireV1, 0},
		"truncated":      one[:len(one)-1],
		"trailing bytes": append(bytes.Clone(one), 0),
		"huge count":     {wireV1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 1, 1, 1},
		"huge string":    {wireV1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a', 'b', 'c'},
		"bad value tag":  {wireV1, 1, 1, 'a', 1, 'b', 1, 'c', 1, 1, 'k', 9},
		"too many":       encodeCmdRequest(nil, many),
	} {
		if _, err := parseCmdRequest(b); err == nil {
			t.Errorf("parseCmdRequest(%s) accepted", name)
		}
	}
}

// FuzzCompactRequest: the host's parser of compact requests never panics,
// and what it accepts encodes back to what decodes the same.
func FuzzCompactRequest(f *testing.F) {
	f.Add(encodeCmdRequest(nil, []Action{{Resource: "bulb-1", Capability: "level", Command: "set", Args: map[string]any{"level": 40, "ramp": 1.5, "why": "dusk", "on": true}}}))
	f.Add(encodeCmdRequest(nil, []Action{{Resource: "lamp", Capability: "on_off", Command: "toggle"}, {Resource: "x", Capability: "y", Command: "z", Args: map[string]any{"n": nil}}}))
	f.Add([]byte{wireV1, 1, 1, 'a', 1, 'b', 1, 'c', 1, 1, 'k', tagJSON, 2, '[', ']'})
	f.Fuzz(func(t *testing.T, b []byte) {
		actions, err := decodeCmdRequest(b)
		if err != nil {
			return
		}
		again, err := decodeCmdRequest(encodeCmdRequest(nil, actions))
		if err != nil {
			t.Fatalf("re-encoded request does not decode: %v", err)
		}
		j1, _ := json.Marshal(actions)
		j2, _ := json.Marshal(again)
		if !bytes.Equal(j1, j2) {
			t.Fatalf("round trip changed %s into %s", j1, j2)
		}
		for _, a := range actions {
			a.check() // must not panic on anything decoded
		}
	})
}

// FuzzCompactReply: the client's parser of compact replies never panics.
func FuzzCompactReply(f *testing.F) {
	f.Add(encodeCmdReply(nil, []Result{{Device: "hub", OK: true, Took: 42, Changes: []Change{{Resource: "a", Capability: "level", Attribute: "level", Value: int64(3), Type: Int, Time: time.Unix(1, 2)}}}}), 1)
	f.Add(encodeCmdReply(nil, []Result{{Code: CodeDenied, Error: "no"}, {OK: true}}), 2)
	f.Fuzz(func(t *testing.T, b []byte, n int) {
		rs, err := decodeCmdReply(b, n)
		if err != nil {
			return
		}
		if len(rs) != n {
			t.Fatalf("decoded %d results, want %d", len(rs), n)
		}
		if _, err := decodeCmdReply(encodeCmdReply(nil, rs), n); err != nil {
			t.Fatalf("re-encoded reply does not decode: %v", err)
		}
	})
}

// TestValidNamesReference: the hand-written checks of IDs and names agree
// with the regular expressions they replace.
func TestValidNamesReference(t *testing.T) {
	idRE := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	nameRE := regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	var gen func(prefix string, depth int)
	check := func(s string) {
		if validID(s) != idRE.MatchString(s) {
			t.Errorf("validID(%q) = %v, the regexp says %v", s, validID(s), !validID(s))
		}
		if validNameString(s) != nameRE.MatchString(s) {
			t.Errorf("validNameString(%q) = %v, the regexp says %v", s, validNameString(s), !validNameString(s))
		}
	}
	gen = func(prefix string, depth int) {
		check(prefix)
		if depth == 0 {
			return
		}
		for _, c := range []string{"a", "Z", "0", "9", ".", "_", "-", "/", " ", "é", "\x00", "A", "z"} {
			gen(prefix+c, depth-1)
		}
	}
	gen("", 3)
	for _, n := range []int{31, 32, 33, 63, 64, 65} {
		for _, c := range []string{"a", "A", "0", "_"} {
			s := "a"
			for len(s) < n {
				s += c
			}
			check(s)
		}
	}
}

// TestChangeJSONReference: the hand-written encoding of a published
// change is byte for byte json.Marshal's.
func TestChangeJSONReference(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 14, 5, 6, 789000000, time.FixedZone("CET", 3600))
	for _, c := range []Change{
		{Resource: "bulb-1", Capability: "level", Attribute: "level", Value: int64(40), Type: Int, Device: "hub", Time: t0},
		{Resource: "lamp", Capability: "on_off", Attribute: "on", Value: true, Time: t0.UTC()},
		{Resource: "lamp", Capability: "on_off", Attribute: "on", Value: false, Retained: true},
		{Resource: "door", Capability: "lock", Attribute: "state", Value: "unlocked", Type: Enum, Device: `alice's "hub" <1> & é\n`, Time: time.Unix(0, 1)},
		{Resource: "t", Capability: "temp", Attribute: "c", Value: 21.5, Type: Number, Time: t0},
		{Resource: "t", Capability: "temp", Attribute: "c", Value: 1e21, Time: t0},
		{Resource: "t", Capability: "temp", Attribute: "c", Value: nil},
		{Resource: "t", Capability: "x", Attribute: "y", Value: 7, Type: Int},
		{Resource: "t", Capability: "x", Attribute: "y", Value: []any{1.0, "a"}},
		{Resource: "t", Capability: "x", Attribute: "y", Value: "\u2028\x7f", Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		want, _ := json.Marshal(c)
		if got := appendChangeJSON(nil, c); !bytes.Equal(got, want) {
			t.Errorf("appendChangeJSON(%+v) =\n%s\nwant\n%s", c, got, want)
		}
	}
}

// TestOldHostGetsJSON: a device running a version that reads only JSON
// (it refuses the compact encoding as a bad request) still runs the
// client's commands: the client falls back to JSON for it.
func TestOldHostGetsJSON(t *testing.T) {
	alice, an := network(t)
	old := device(t, alice, an, "old")
	mesh(t, an, old)
	var compact, plain atomic.Int32
	old.Handle(ServiceList, func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		return json.Marshal(listReply{Device: "old", Resources: []Resource{{ID: "lamp", Capabilities: Caps("on_off")}}})
	}, node.Everyone)
	old.Handle(ServiceCommand, func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		var cr cmdRequest
		if err := json.Unmarshal(req.Payload, &cr); err != nil {
			compact.Add(1)
			return nil, fmt.Errorf("home: bad command request: %w", err) // as an older host says it
		}
		plain.Add(1)
		return json.Marshal(cmdReply{Results: []Result{{OK: true, Device: "old"}}})
	}, node.Everyone)
	c := NewClient(an)
	for range 2 {
		if r, err := c.Command(ctxT(t), act("lamp:on_off:on")); err != nil || r.Device != "old" {
			t.Fatalf("Command on an old host = %+v, %v", r, err)
		}
	}
	if compact.Load() != 1 || plain.Load() != 2 {
		t.Errorf("requests: %d compact, %d JSON; want 1 compact, then JSON only", compact.Load(), plain.Load())
	}
}
