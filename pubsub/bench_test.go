package pubsub_test

import (
	"context"
	"testing"
	"time"

	"github.com/coconet/coconet/pubsub"
)

// BenchmarkPublish1KiB is the hot path of bench/pubsub.sh's "1KiB 1→N":
// one publisher node, N subscriber nodes, each op one 1 KiB message
// published and received by every subscriber (allocations of both sides).
func BenchmarkPublish1KiB(b *testing.B) {
	for _, n := range []int{1, 3} {
		b.Run(map[int]string{1: "1to1", 3: "1to3"}[n], func(b *testing.B) {
			names := []string{"pub", "s1", "s2", "s3"}[:n+1]
			ms := cluster(b, names, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan struct{}, n)
			target := b.N
			for _, m := range ms[1:] {
				s, err := m.ps.Subscribe(ctx, "bench/t", pubsub.SubscribeOptions{Buffer: 8192})
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
				go func() {
					got := 0
					for range s.C() {
						if got++; got == target {
							done <- struct{}{}
						}
					}
				}()
			}
			data := make([]byte, 1024)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for range target {
				if err := ms[0].ps.Publish(context.Background(), "bench/t", data, pubsub.PublishOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			for range n {
				select {
				case <-done:
				case <-time.After(30 * time.Second):
					b.Fatal("messages not delivered within 30s")
				}
			}
		})
	}
}

func BenchmarkMatchCases(b *testing.B) {
	for _, c := range []struct{ name, pattern, topic string }{
		{"exact", "home/kitchen/temp", "home/kitchen/temp"},
		{"wildcard", "home/+/temp", "home/kitchen/temp"},
		{"miss", "home/hall/temp", "home/kitchen/temp"},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				pubsub.Match(c.pattern, c.topic)
			}
		})
	}
}
