package node

import (
	"bufio"
	"bytes"
	"testing"
	"time"
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
	b.Reset()
	writeBytes(&b, []byte("raw"))
	if got, err := readBytes(bufio.NewReader(&b), 3); err != nil || string(got) != "raw" {
		t.Fatalf("readBytes = %q, %v; want raw", got, err)
	}
	writeBytes(&b, []byte("toolong"))
	if _, err := readBytes(bufio.NewReader(&b), 3); err == nil {
		t.Fatal("readBytes accepted a message over its limit")
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
		if b, err := readBytes(bufio.NewReader(bytes.NewReader(data)), 1<<16); err == nil && len(b) > 1<<16 {
			t.Fatalf("readBytes returned %d bytes over its limit", len(b))
		}
	})
}

func TestInboxBacklogAndBound(t *testing.T) {
	var b inbox
	b.init(2)
	if !b.put(Message{Data: []byte("1")}) || !b.put(Message{Data: []byte("2")}) {
		t.Fatal("put into empty backlog failed")
	}
	if b.put(Message{Data: []byte("3")}) {
		t.Fatal("backlog grew past its bound")
	}
	ch, cancel := b.subscribe()
	defer cancel()
	for _, want := range []string{"1", "2"} {
		select {
		case m := <-ch:
			if string(m.Data) != want {
				t.Fatalf("got %q, want %q", m.Data, want)
			}
		case <-time.After(time.Second):
			t.Fatal("backlog not delivered")
		}
	}
	if !b.put(Message{Data: []byte("4")}) {
		t.Fatal("put with a subscriber failed")
	}
	if m := <-ch; string(m.Data) != "4" {
		t.Fatalf("got %q, want 4", m.Data)
	}
}
