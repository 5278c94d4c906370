package control

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/coconet/coconet/internal/ctlsim"
)

// TestEtcdPoisonedRecordsIgnored: records in etcd that do not agree with
// their key (a registration of network A stored under network B's key), or
// name another owner than their network's, or do not decode, reach no
// network's lookups at a replica.
func TestEtcdPoisonedRecordsIgnored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := t.TempDir()
	st, err := OpenEtcd(ctx, EtcdConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Dir: dir, Store: st, Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Plans: &Plans{Default: "big", Plans: map[string]Plan{"big": {Networks: 10, Nodes: 100, Bytes: 1 << 40}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b, c := ctlsim.NewNetwork(), ctlsim.NewNetwork(), ctlsim.NewNetwork()
	until := time.Now().Add(time.Hour).UnixNano()
	reg := func(n *ctlsim.Network, nd *ctlsim.Node) *Registration {
		return &Registration{Net: n.Key(), Owner: n.OwnerID(), Peer: nd.ID, Record: nd.Record, Expires: until, Cover: Cover{Until: until}}
	}
	put := func(key [32]byte, r *Registration) {
		t.Helper()
		if _, err := st.cli.Put(ctx, st.regKey(key, r.Peer), string(marshalRegistration(r))); err != nil {
			t.Fatal(err)
		}
	}
	b1 := b.Node(time.Hour)
	put(b.Key(), reg(b, b1)) // network b, owner b's
	put(b.Key(), reg(a, a.Node(time.Hour)))
	other := reg(b, b.Node(time.Hour))
	other.Owner = a.OwnerID()
	put(b.Key(), other)
	junk := b.Node(time.Hour)
	bk := b.Key()
	if _, err := st.cli.Put(ctx, st.prefix+"r/"+hex.EncodeToString(bk[:])+"/"+junk.ID.String(), "junk"); err != nil {
		t.Fatal(err)
	}
	// A marker after them: once it is applied, so are they.
	put(c.Key(), reg(c, c.Node(time.Hour)))
	deadline := time.Now().Add(30 * time.Second)
	for len(s.Registered(c.Key())) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the marker registration never reached the replica")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := s.Registered(b.Key()); len(got) != 1 || got[0].Peer != b1.ID {
		t.Fatalf("network b lists %d registrations, want only its own node's", len(got))
	}
	if got := s.Registered(a.Key()); len(got) != 0 {
		t.Fatalf("network a lists %d registrations stored under b's key", len(got))
	}
}

// FuzzUnmarshalRegistration: any bytes in etcd decode to a bounded
// registration or an error, and what decodes encodes back the same.
func FuzzUnmarshalRegistration(f *testing.F) {
	n := ctlsim.NewNetwork()
	nd := n.Node(time.Hour)
	f.Add(marshalRegistration(&Registration{Net: n.Key(), Owner: n.OwnerID(), Peer: nd.ID, Record: nd.Record, Expires: 1, Cover: Cover{Issued: 2, Until: 3}}))
	f.Add([]byte{regVersion})
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalRegistration(b, nd.ID)
		if err != nil {
			return
		}
		if len(r.Record) > MaxRecord {
			t.Fatalf("record of %d bytes decoded", len(r.Record))
		}
		if got := marshalRegistration(r); string(got) != string(b) {
			t.Fatalf("round trip differs")
		}
	})
}
