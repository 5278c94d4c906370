package ota

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"1.0", "1.0", 0},
		{"1.0", "1.0.0", 0},
		{"v1.2", "1.2", 0},
		{"1.2+build7", "1.2", 0},
		{"1.1", "1.0", 1},
		{"1.10", "1.9", 1},
		{"2", "1.99.99", 1},
		{"0.9", "1.0", -1},
		{"1.0-rc1", "1.0", -1},
		{"1.0-rc2", "1.0-rc1", 1},
		{"1.0-rc.2", "1.0-rc.10", -1},
		{"1.0-alpha", "1.0-alpha.1", -1},
		{"1.0-1", "1.0-alpha", -1},
		{"1.0a", "1.0", 1},
	}
	for _, tt := range tests {
		if got := CompareVersions(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareVersions(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

const (
	testDevice = "12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp"
	testSum    = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

// TestRecordGolden pins the ledger record's encoding.
func TestRecordGolden(t *testing.T) {
	a := Authorization{Device: testDevice, Name: "Front door", Model: "lock-a", Version: "1.2.0", Size: 4,
		SHA256: testSum, Source: testDevice, AuthorizedAt: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	const want = `{"v":1,"device":"12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp","name":"Front door","model":"lock-a","version":"1.2.0","size":4,"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","source":"12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp","authorized_at":"2026-11-22T10:00:00Z"}`
	if got := string(a.Marshal()); got != want {
		t.Fatalf("Marshal =\n%s\nwant\n%s", got, want)
	}
	if a.Key() != testDevice+"/1.2.0" {
		t.Fatalf("Key = %q", a.Key())
	}
	b, err := ParseAuthorization([]byte(want))
	a.V = 1
	if err != nil || b != a {
		t.Fatalf("ParseAuthorization = %+v, %v; want %+v", b, err, a)
	}
}

func TestParseAuthorizationRefuses(t *testing.T) {
	good := Authorization{V: 1, Device: testDevice, Version: "1.0", Size: 4, SHA256: testSum}
	tests := []struct {
		name string
		edit func(*Authorization)
		want string
	}{
		{"future format", func(a *Authorization) { a.V = 2 }, "format v2"},
		{"bad device", func(a *Authorization) { a.Device = "front-door" }, "not a node ID"},
		{"no version", func(a *Authorization) { a.Version = "" }, "version is required"},
		{"slash in version", func(a *Authorization) { a.Version = "1/2" }, "only letters"},
		{"long model", func(a *Authorization) { a.Model = strings.Repeat("m", 65) }, "longer than"},
		{"empty image", func(a *Authorization) { a.Size = 0 }, "out of range"},
		{"short hash", func(a *Authorization) { a.SHA256 = "abcd" }, "64 lowercase hex"},
		{"upper hash", func(a *Authorization) { a.SHA256 = strings.ToUpper(testSum) }, "64 lowercase hex"},
	}
	if err := good.Validate(); err != nil {
		t.Fatalf("good.Validate() = %v", err)
	}
	for _, tt := range tests {
		a := good
		tt.edit(&a)
		b, _ := jsonMarshal(a)
		if _, err := ParseAuthorization(b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ParseAuthorization = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func FuzzParseAuthorization(f *testing.F) {
	a := Authorization{Device: testDevice, Model: "m", Version: "1.0", Size: 4, SHA256: testSum}
	f.Add(a.Marshal())
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseAuthorization(b)
		if err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("parsed a record that does not validate: %v", err)
		}
		if len(a.Key()) > 256 {
			t.Fatalf("key of %d bytes is longer than the ledger allows", len(a.Key()))
		}
		CompareVersions(a.Version, "1.0")
	})
}

func FuzzFrames(f *testing.F) {
	var buf bytes.Buffer
	writeFrame(&buf, fetchRequest{SHA256: testSum, Offset: 10})
	f.Add(buf.Bytes())
	buf.Reset()
	writeFrame(&buf, fetchReply{Size: 100})
	f.Add(buf.Bytes())
	buf.Reset()
	writeFrame(&buf, fetchReply{Error: "no"})
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := readFrame(bufio.NewReader(bytes.NewReader(b)))
		if err != nil {
			return
		}
		if len(fr) > maxFrame {
			t.Fatalf("frame of %d bytes accepted", len(fr))
		}
		if q, err := decodeRequest(fr); err == nil && (q.Offset < 0 || !isSHA256(q.SHA256)) {
			t.Fatalf("bad request accepted: %+v", q)
		}
		if r, err := decodeReply(fr); err == nil && r.Error == "" && (r.Size <= 0 || r.Size > MaxImageSize) {
			t.Fatalf("bad reply accepted: %+v", r)
		}
	})
}

func TestStatusString(t *testing.T) {
	tests := []struct {
		s    Status
		want string
	}{
		{Status{State: StateIdle}, "idle"},
		{Status{State: StateDownloading, Target: "1.2", Done: 10, Total: 100}, "downloading v1.2: 10/100 bytes"},
		{Status{State: StateVerifying, Target: "1.2"}, "verifying v1.2"},
		{Status{State: StateApplying, Target: "1.2"}, "applying v1.2"},
		{Status{State: StateApplied, Target: "1.2"}, "applied v1.2"},
		{Status{State: StateFailed, Target: "1.2", Error: "refused v1.2: bad"}, "failed: refused v1.2: bad"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.s, got, tt.want)
		}
	}
}

func jsonMarshal(a Authorization) ([]byte, error) { return json.Marshal(a) }
