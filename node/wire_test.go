package node

import (
	"bufio"
	"bytes"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := writeFrame(&b, joinDone{Error: "hello"}); err != nil {
		t.Fatal(err)
	}
	var out joinDone
	if err := readFrame(bufio.NewReader(&b), &out, 1<<10); err != nil || out.Error != "hello" {
		t.Fatalf("readFrame = %q, %v; want hello", out.Error, err)
	}
}

func TestFrameLimit(t *testing.T) {
	var b bytes.Buffer
	writeFrame(&b, joinDone{Error: string(make([]byte, 4096))})
	var out joinDone
	if err := readFrame(bufio.NewReader(&b), &out, 1024); err == nil {
		t.Fatal("readFrame accepted a frame over its limit")
	}
}

// FuzzFrames feeds peer bytes to every frame type the node parses.
func FuzzFrames(f *testing.F) {
	for _, v := range []any{
		syncHello{}, syncPlan{Known: true}, syncNext{Push: true},
		opChunk{Ops: [][]byte{{1, 2}}}, idChunk{IDs: make([]byte, 32), Last: true},
		joinRequest{Name: "bob"}, joinRedeem{Sig: []byte{1}}, joinNode{Op: []byte{0xa1}}, joinReply{Error: "no"},
	} {
		var b bytes.Buffer
		writeFrame(&b, v)
		f.Add(b.Bytes())
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		targets := []any{&syncHello{}, &syncPlan{}, &syncNext{}, &opChunk{}, &idChunk{},
			&joinRequest{}, &joinReply{}, &joinRedeem{}, &joinAdded{}, &joinNode{}, &joinDone{}}
		for _, v := range targets {
			readFrame(bufio.NewReader(bytes.NewReader(data)), v, 1<<16)
		}
	})
}
