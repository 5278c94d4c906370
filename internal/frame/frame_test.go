package frame

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// TestWireBytes pins the two prefixes: a uvarint, and 4 bytes big-endian.
func TestWireBytes(t *testing.T) {
	var b bytes.Buffer
	Write(&b, bytes.Repeat([]byte{'x'}, 300))
	if got := b.Bytes()[:3]; !bytes.Equal(got, []byte{0xac, 0x02, 'x'}) {
		t.Errorf("Write(300 bytes) starts % x, want ac 02 78", got)
	}
	b.Reset()
	Write32(&b, []byte("hi"))
	if got := b.Bytes(); !bytes.Equal(got, []byte{0, 0, 0, 2, 'h', 'i'}) {
		t.Errorf("Write32(hi) = % x, want 00 00 00 02 68 69", got)
	}
}

func TestRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		max  int
		want string
		err  error
	}{
		{"ok", Append(nil, []byte("abc")), 3, "abc", nil},
		{"empty", []byte{0}, 3, "", nil},
		{"too large", Append(nil, []byte("abcd")), 3, "", ErrTooLarge},
		{"cut", []byte{5, 'a'}, 10, "", io.ErrUnexpectedEOF},
		{"no length", nil, 10, "", io.EOF},
	} {
		got, err := Read(bufio.NewReader(bytes.NewReader(tc.in)), tc.max)
		if !errors.Is(err, tc.err) || string(got) != tc.want {
			t.Errorf("%s: Read(% x, %d) = %q, %v; want %q, %v", tc.name, tc.in, tc.max, got, err, tc.want, tc.err)
		}
	}
	var b bytes.Buffer
	Write32(&b, []byte("abcd"))
	if _, err := Read32(bytes.NewReader(b.Bytes()), 3); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read32 over the limit = %v, want ErrTooLarge", err)
	}
	if got, err := Read32(&b, 4); err != nil || string(got) != "abcd" {
		t.Errorf("Read32 = %q, %v; want abcd", got, err)
	}
}

// FuzzRead: whatever a peer sends, Read returns at most max bytes, and what
// it returns round-trips through Append.
func FuzzRead(f *testing.F) {
	// Real frames: a node sync hello, a control-plane request, an OTA fetch,
	// a message body; a 4 GiB declared length; a truncated varint.
	for _, body := range []string{
		`{"v":1,"network":"home"}`,
		`{"v":1,"op":"lookup","network":"n1"}`,
		`{"sha256":"` + string(bytes.Repeat([]byte{'a'}, 64)) + `","offset":0}`,
		"hello",
		"",
	} {
		f.Add(Append(nil, []byte(body)))
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 1 << 16
		b, err := Read(bufio.NewReader(bytes.NewReader(data)), max)
		if err != nil {
			return
		}
		if len(b) > max {
			t.Fatalf("Read returned %d bytes over its limit %d", len(b), max)
		}
		l, k := binary.Uvarint(data)
		if k <= 0 || uint64(len(b)) != l || !bytes.Equal(data[k:k+len(b)], b) {
			t.Fatalf("Read(% x) = % x, not the body its length prefix declares", data, b)
		}
		b32, err := Read32(bytes.NewReader(data), max)
		if err == nil && len(b32) > max {
			t.Fatalf("Read32 returned %d bytes over its limit %d", len(b32), max)
		}
	})
}

// TestReadAllocs: a frame of up to 4 KiB costs one allocation, its body.
func TestReadAllocs(t *testing.T) {
	data := Append(nil, make([]byte, 1<<10))
	br := bufio.NewReader(bytes.NewReader(nil))
	r := bytes.NewReader(data)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(data)
		br.Reset(r)
		if _, err := Read(br, 1<<20); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 {
		t.Errorf("Read of a 1 KiB frame made %v allocations, want 1", allocs)
	}
}

// TestReadLarge: a frame longer than the growth steps reads whole.
func TestReadLarge(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789"), 100<<10)
	got, err := Read(bufio.NewReader(bytes.NewReader(Append(nil, body))), len(body))
	if err != nil || !bytes.Equal(got, body) {
		t.Errorf("Read(1 MB frame) = %d bytes, %v; want %d bytes", len(got), err, len(body))
	}
}
