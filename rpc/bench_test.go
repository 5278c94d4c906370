package rpc

import (
	"bufio"
	"bytes"
	"strconv"
	"testing"
)

// BenchmarkReadFrame reads reply frames of 1 KiB and 256 KiB from a buffer.
func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{1 << 10, 256 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			data := appendFrame(nil, &frame{kind: kindReply, id: 7, data: make([]byte, size)})
			r := bytes.NewReader(data)
			br := bufio.NewReaderSize(r, 16<<10)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(data)
				br.Reset(r)
				if _, err := readFrame(br); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string { return strconv.Itoa(n>>10) + "KiB" }
