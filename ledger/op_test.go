package ledger

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// pinnedOp is a fixed op signed with a fixed key. Its encoding must never
// change: every ID in every ledger depends on it.
func pinnedOp() *Op {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	var net NetworkID
	net[0] = 0xaa
	o := &Op{
		V:           1,
		Net:         net,
		Parents:     []ID{{1}, {2}},
		Time:        1795000000000,
		Kind:        KindAddUser,
		Subject:     uid(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32))),
		SubjectName: "bob",
		Role:        RoleAdmin,
		Ref:         ID{3},
		Expires:     -1,
	}
	o.Sign(key)
	return o
}

func TestPinnedEncoding(t *testing.T) {
	o := pinnedOp()
	const wantHex = "ac0101025820aa00000000000000000000000000000000000000000000000000000000000000038258200100000000000000000000000000000000000000000000000000000000000000582002000000000000000000000000000000000000000000000000000000000000000458208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c051b000001a1ee565e0006686164645f757365720758208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940863626f6209020b582003000000000000000000000000000000000000000000000000000000000000000d20125840d9926a614d3a7385fe8549ffa2e9c4a124e2efb90674435525d6f162044fb04a73cc81529e61bf56beac42839d1e60eb7dad32e4fd558963bf2216a4cc75f606"
	const wantID = "2243d87e2368d96d0302205f1f2cda44d6fdfa41240d4ccd4d19123925951276"
	if got := hex.EncodeToString(o.Marshal()); got != wantHex {
		t.Errorf("Marshal(pinned op) =\n%s\nwant\n%s", got, wantHex)
	}
	if got := o.ID().String(); got != wantID {
		t.Errorf("ID(pinned op) = %s, want %s", got, wantID)
	}
	if err := o.VerifySignature(); err != nil {
		t.Errorf("VerifySignature(pinned op) = %v", err)
	}
	sb := o.SigningBytes()
	if !bytes.HasPrefix(sb, []byte("coconet/ledger/op/v1\x00")) {
		t.Errorf("SigningBytes() = %q..., want the domain prefix", sb[:24])
	}
	if bytes.Contains(sb, o.Sig) {
		t.Error("SigningBytes() contains the signature")
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	g := testGenesis(testKey("alice"), "alice")
	ops := []*Op{g, pinnedOp(),
		build(NetworkID(g.ID()), testKey("alice"), 1, []*Op{g}, Op{Kind: KindInvite, InviteKey: nodeKey("i"), Role: RoleGuest, Expires: 1 << 40, Uses: 300}),
		build(NetworkID(g.ID()), testKey("alice"), -5, []*Op{g}, Op{Kind: KindRemoveNode, Node: nodeKey("n")}),
	}
	for _, o := range ops {
		b := o.Marshal()
		back, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%s)) error: %v", o.Kind, err)
		}
		if !bytes.Equal(back.Marshal(), b) || back.ID() != o.ID() {
			t.Errorf("Unmarshal(Marshal(%s)) does not round-trip", o.Kind)
		}
		if back.Describe() == "" {
			t.Errorf("Describe(%s) is empty", o.Kind)
		}
	}
}

func TestUnmarshalStrict(t *testing.T) {
	good := pinnedOp().Marshal()
	v2 := pinnedOp()
	v2.V = 2
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, "unexpected end"},
		{"trailing", append(append([]byte(nil), good...), 0), "trailing"},
		{"truncated", good[:len(good)-3], "unexpected end"},
		{"not a map", []byte{0x80}, "want a map"},
		{"version 2", v2.Marshal(), "unknown wire version 2"},
		{"oversize", make([]byte, MaxOpSize+1), "more than"},
		// {1: 1, 1: 1}
		{"duplicate key", []byte{0xa2, 0x01, 0x01, 0x01, 0x01}, "duplicated or out of order"},
		// {6: "", 1: 1}
		{"out of order", []byte{0xa2, 0x06, 0x60, 0x01, 0x01}, "duplicated or out of order"},
		// {1: 1} with 1 written in two bytes
		{"long int", []byte{0xa1, 0x01, 0x18, 0x01}, "canonical"},
		{"indefinite map", []byte{0xbf, 0x01, 0x01, 0xff}, "indefinite"},
		{"unknown key", []byte{0xa1, 0x18, 0x63, 0x01}, "unknown field"},
		{"bad utf8", []byte{0xa2, 0x01, 0x01, 0x06, 0x61, 0xff}, "UTF-8"},
		{"huge bytes", []byte{0xa1, 0x02, 0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, "unexpected end"},
	}
	for _, tt := range tests {
		_, err := Unmarshal(tt.in)
		if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%s) = %v, want ErrMalformed mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestIDText(t *testing.T) {
	o := pinnedOp()
	id := o.ID()
	if back, err := ParseID(id.String()); err != nil || back != id {
		t.Errorf("ParseID(%s) = %v, %v", id, back, err)
	}
	if len(id.Short()) != 12 {
		t.Errorf("Short() = %q, want 12 characters", id.Short())
	}
	n := NetworkID(id)
	if back, err := ParseNetworkID(n.String()); err != nil || back != n {
		t.Errorf("ParseNetworkID(%s) = %v, %v", n, back, err)
	}
	if !strings.HasPrefix(n.String(), "n") || n.String() != strings.ToLower(n.String()) || len(n.Short()) != 12 {
		t.Errorf("NetworkID.String() = %q, want lowercase with prefix n", n)
	}
	js, _ := json.Marshal(struct {
		I ID
		N NetworkID
	}{id, n})
	var back struct {
		I ID
		N NetworkID
	}
	if err := json.Unmarshal(js, &back); err != nil || back.I != id || back.N != n {
		t.Errorf("JSON round trip of %s = %+v, %v", js, back, err)
	}
	for _, bad := range []string{"", "zz", id.String()[1:]} {
		if _, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) accepted", bad)
		}
	}
	for _, bad := range []string{"", "x", n.String()[1:], "n0"} {
		if _, err := ParseNetworkID(bad); err == nil {
			t.Errorf("ParseNetworkID(%q) accepted", bad)
		}
	}
}

func TestRoles(t *testing.T) {
	for _, r := range []Role{RoleNone, RoleGuest, RoleAdmin, RoleOwner} {
		if back, err := ParseRole(strings.ToUpper(r.String())); err != nil || back != r {
			t.Errorf("ParseRole(%s) = %v, %v", r, back, err)
		}
	}
	if _, err := ParseRole("king"); err == nil {
		t.Error("ParseRole(king) accepted")
	}
}

func TestSignature(t *testing.T) {
	o := pinnedOp()
	o.Time++
	if err := o.VerifySignature(); !errors.Is(err, ErrBadSignature) {
		t.Errorf("VerifySignature(changed op) = %v, want ErrBadSignature", err)
	}
}

func FuzzUnmarshal(f *testing.F) {
	g := testGenesis(testKey("alice"), "alice")
	f.Add(g.Marshal())
	f.Add(pinnedOp().Marshal())
	f.Add(build(NetworkID(g.ID()), testKey("alice"), 1, []*Op{g}, Op{Kind: KindInvite, InviteKey: nodeKey("i"), Role: RoleGuest, Expires: 99, Uses: 1}).Marshal())
	f.Add([]byte{0xa1, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Unmarshal(b)
		if err != nil {
			return
		}
		if got := o.Marshal(); !bytes.Equal(got, b) {
			t.Fatalf("Unmarshal accepted %x but Marshal gives %x", b, got)
		}
		_ = o.Describe()
		_ = o.VerifySignature()
		_ = newState(nil, nil).Check(o)
	})
}
