package devnet

import (
	"testing"
	"time"
)

func fuzzSeeds(f *testing.F) *world {
	w := newWorld(f)
	k, _ := NewAuthKey(w.enroller, w.enrollOp, w.genesis, AuthKeyOptions{Tags: []string{"a", "b"}, Ephemeral: true}, t0)
	c := k.Enroll(nodeKey("a"), t0)
	f.Add(c.Marshal())
	f.Add((&Proof{V: Version, Genesis: w.genesis.Marshal(), Cred: *c}).Marshal())
	r := &Revocations{Net: w.anchor.Net, Version: 7, Issued: t0.Unix(), Nodes: [][32]byte{nodeKey("a"), nodeKey("b")}, AuthKeys: [][32]byte{k.ID()}}
	r.Sign(w.control, w.controlOp)
	f.Add(r.Marshal())
	p := &Policy{Net: w.anchor.Net, Version: 3, Issued: t0.Unix(), Rules: []Rule{{"a", "b"}, {"*", "c"}}}
	p.Sign(w.owner, nil)
	f.Add(p.Marshal())
	f.Add([]byte(k.String()))
	f.Add((&Hello{V: Version, Cred: c.Marshal(), Rev: 7, Pol: 3}).Marshal())
	f.Add((&Lists{V: Version, Rev: r.Marshal(), Pol: p.Marshal()}).Marshal())
	return w
}

// FuzzDecode feeds bytes to every decoder of network bytes: each either
// refuses them or round-trips them exactly, and verification never panics.
func FuzzDecode(f *testing.F) {
	w := fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		now := t0.Add(time.Minute)
		if c, err := UnmarshalNodeCred(b); err == nil {
			if string(c.Marshal()) != string(b) {
				t.Fatal("NodeCred does not round-trip")
			}
			c.Verify(w.anchor, c.Node, now)
			c.Verify(w.nodeAnchor, c.Node, now)
		}
		if p, err := UnmarshalProof(b); err == nil {
			if string(p.Marshal()) != string(b) {
				t.Fatal("Proof does not round-trip")
			}
			p.Verify(p.Cred.Node, now)
		}
		if r, err := UnmarshalRevocations(b); err == nil {
			if string(r.Marshal()) != string(b) {
				t.Fatal("Revocations does not round-trip")
			}
			r.Verify(w.anchor, now)
		}
		if p, err := UnmarshalPolicy(b); err == nil {
			if string(p.Marshal()) != string(b) {
				t.Fatal("Policy does not round-trip")
			}
			p.Verify(w.anchor, now)
		}
		if h, err := UnmarshalHello(b); err == nil && string(h.Marshal()) != string(b) {
			t.Fatal("Hello does not round-trip")
		}
		if l, err := UnmarshalLists(b); err == nil {
			if string(l.Marshal()) != string(b) {
				t.Fatal("Lists does not round-trip")
			}
			l.Decode()
		}
		ParseAuthKey(string(b), now)
	})
}
