package api

import (
	"encoding"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/wire.golden")

// TestWire pins the JSON the local API speaks: every field name, its kind
// and omitempty, of every request and answer of the route table. They are
// api's own types (the daemon converts engine structs into them,
// daemon/wire*.go), so this changes only when api's types do. A change
// here is a change of the API: new fields are optional, and none is
// renamed or removed. Run `go test ./api -run TestWire -update` to accept
// one.
func TestWire(t *testing.T) {
	var lines []string
	for _, r := range routes {
		req, resp := r.types()
		if req != reflect.TypeFor[none]() {
			lines = append(lines, wireLines(r.pattern()+" request", req)...)
		}
		lines = append(lines, wireLines(r.pattern()+" answer", resp)...)
	}
	slices.Sort(lines)
	got := strings.Join(lines, "\n") + "\n"
	const golden = "testdata/wire.golden"
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		wl := strings.Split(string(want), "\n")
		gl := strings.Split(got, "\n")
		for _, l := range gl {
			if !slices.Contains(wl, l) {
				t.Errorf("new in the API: %s", l)
			}
		}
		for _, l := range wl {
			if !slices.Contains(gl, l) {
				t.Errorf("gone from the API: %s", l)
			}
		}
	}
}

var (
	marshaler     = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// wireLines lists the JSON paths of t, one line each: "prefix .a.b[] kind".
func wireLines(prefix string, t reflect.Type) []string {
	var out []string
	var walk func(path string, t reflect.Type, seen map[reflect.Type]bool)
	walk = func(path string, t reflect.Type, seen map[reflect.Type]bool) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch {
		case t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) ||
			t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
			out = append(out, fmt.Sprintf("%s %s custom(%s)", prefix, path, t))
			return
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
			out = append(out, fmt.Sprintf("%s %s bytes", prefix, path))
			return
		case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
			walk(path+"[]", t.Elem(), seen)
			return
		case t.Kind() == reflect.Map:
			walk(path+"{}", t.Elem(), seen)
			return
		case t.Kind() != reflect.Struct:
			out = append(out, fmt.Sprintf("%s %s %s", prefix, path, t.Kind()))
			return
		}
		if seen[t] {
			out = append(out, fmt.Sprintf("%s %s recursive(%s)", prefix, path, t))
			return
		}
		seen = maps(seen, t)
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" || (!f.IsExported() && !f.Anonymous) {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(path, f.Type, seen) // inlined
				continue
			}
			if name == "" {
				name = f.Name
			}
			p := path + "." + name
			if strings.Contains(opts, "omitempty") {
				p += "?"
			}
			walk(p, f.Type, seen)
		}
	}
	walk("", t, map[reflect.Type]bool{})
	return out
}

func maps(m map[reflect.Type]bool, t reflect.Type) map[reflect.Type]bool {
	n := map[reflect.Type]bool{t: true}
	for k := range m {
		n[k] = true
	}
	return n
}
