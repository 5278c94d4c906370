package node

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"
)

func TestDialRankerPrefersTCPOnPrivate(t *testing.T) {
	addrs := []ma.Multiaddr{
		ma.StringCast("/ip4/127.0.0.1/udp/4001/quic-v1"),
		ma.StringCast("/ip4/127.0.0.1/tcp/4001"),
		ma.StringCast("/ip4/11.0.0.5/udp/4001/quic-v1"),
		ma.StringCast("/ip4/11.0.0.5/tcp/4001"),
	}
	got := dialRanker(addrs)
	if len(got) != len(addrs) {
		t.Fatalf("dialRanker kept %d of %d addresses", len(got), len(addrs))
	}
	delay := map[string]int64{}
	for _, d := range got {
		delay[d.Addr.String()] = int64(d.Delay)
	}
	if delay["/ip4/127.0.0.1/tcp/4001"] != 0 || delay["/ip4/127.0.0.1/udp/4001/quic-v1"] == 0 {
		t.Errorf("private: tcp delay %d, quic delay %d; want tcp first", delay["/ip4/127.0.0.1/tcp/4001"], delay["/ip4/127.0.0.1/udp/4001/quic-v1"])
	}
	if delay["/ip4/11.0.0.5/udp/4001/quic-v1"] > delay["/ip4/11.0.0.5/tcp/4001"] {
		t.Errorf("public: quic after tcp; want go-libp2p's default (QUIC first)")
	}
}

func TestIsRelayAddr(t *testing.T) {
	relay := "/ip4/192.0.2.1/udp/4001/quic-v1/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK/p2p-circuit"
	tests := []struct {
		in   string
		want bool
	}{
		{relay, true},
		{relay + "/p2p/12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK", true},
		{"/ip4/192.0.2.1/udp/4001/quic-v1", false},
		{"/dns4/p2p-circuit.example/tcp/4001", false}, // the word in a name is not a circuit
	}
	for _, tt := range tests {
		if got := isRelayAddr(ma.StringCast(tt.in)); got != tt.want {
			t.Errorf("isRelayAddr(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
