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

// pinnedProofOps are an add_node with its node proof and a redeem with its
// invite proof, made from fixed keys; like pinnedOp, their encodings must
// never change.
func pinnedProofOps() (addNode, redeem *Op, nodeKey, inviteKey ed25519.PrivateKey) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32))
	nodeKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	inviteKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{5}, 32))
	var net NetworkID
	net[0] = 0xaa
	subj := uid(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{2}, 32)))
	addNode = &Op{V: 1, Net: net, Parents: []ID{{1}}, Time: 1795000000000, Kind: KindAddNode, Subject: subj, SubjectName: "phone",
		Node: [32]byte(nodeKey.Public().(ed25519.PublicKey)), NodeSig: SignNodeProof(nodeKey, net, subj)}
	addNode.Sign(key)
	redeem = &Op{V: 1, Net: net, Parents: []ID{{1}}, Time: 1795000000000, Kind: KindAddUser, Subject: subj, SubjectName: "bob",
		Role: RoleGuest, Ref: ID{3}, InviteSig: SignRedeem(inviteKey, net, ID{3}, subj, RoleGuest)}
	redeem.Sign(key)
	return addNode, redeem, nodeKey, inviteKey
}

func TestPinnedProofs(t *testing.T) {
	addNode, redeem, nk, ik := pinnedProofOps()
	for _, tt := range []struct {
		o          *Op
		hex, id    string
		proof, msg []byte
		key        ed25519.PrivateKey
		domain     string
	}{
		{addNode, "ab0101025820aa000000000000000000000000000000000000000000000000000000000000000381582001000000000000000000000000000000000000000000000000000000000000000458208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c051b000001a1ee565e0006686164645f6e6f64650758208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394086570686f6e650a5820ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c12584032b796af2d75ccf638d7e32f0e92fd424b9593be43e9e4e98d1b0a667b6cfc240792c760a06958bd9d68b0a930e04cd8bbb753b289337437777e76a5eac7be0117584093db7513c8399f08ff527dc2fbbad03f74236fece3127842eaca37fddd1f1b86d86b0b32d32d36dbde4adebd21290333b49f02ab099087973e7fada65a597204",
			"094be1246b3dc9f3353018812802ee0e135f10a6634dbf084e1fc7a395e14ceb",
			addNode.NodeSig, NodeProofBytes(addNode.Net, addNode.Node, addNode.Subject), nk, "coconet/ledger/node/v1\x00"},
		{redeem, "ac0101025820aa000000000000000000000000000000000000000000000000000000000000000381582001000000000000000000000000000000000000000000000000000000000000000458208a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c051b000001a1ee565e0006686164645f757365720758208139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b3940863626f6209010b58200300000000000000000000000000000000000000000000000000000000000000125840e097882a0306d870a5b46db825662f838f89b673b3c9361e9d7262954f86f024343f3a1caea405dfbe2d9a496c3cceb6ef35a551a1d6d7db55a21e63306ecf0e16584053a61253ea902daa2c376f14f9bedfdd72f30f4bc9266f3faa7ff75fe2fb67b663be08b815c9a8c89d9b29635ba39582b76c91c3106e0eaee890f0faa1ba5b0b",
			"688a21aff055d8aff13124059a3c94849806564098a377e57c3b1f3ec714e4d5",
			redeem.InviteSig, RedeemSigningBytes(redeem.Net, redeem.Ref, redeem.Subject, redeem.Role), ik, "coconet/ledger/redeem/v1\x00"},
	} {
		if got := hex.EncodeToString(tt.o.Marshal()); got != tt.hex {
			t.Errorf("Marshal(pinned %s) =\n%s\nwant\n%s", tt.o.Kind, got, tt.hex)
		}
		if got := tt.o.ID().String(); got != tt.id {
			t.Errorf("ID(pinned %s) = %s, want %s", tt.o.Kind, got, tt.id)
		}
		if back, err := Unmarshal(tt.o.Marshal()); err != nil || back.ID() != tt.o.ID() {
			t.Errorf("Unmarshal(pinned %s) = %v", tt.o.Kind, err)
		}
		// The proof covers the domain, then the fixed-size fields.
		if !bytes.HasPrefix(tt.msg, []byte(tt.domain)) || !ed25519.Verify(tt.key.Public().(ed25519.PublicKey), tt.msg, tt.proof) {
			t.Errorf("proof of pinned %s does not verify over %q...", tt.o.Kind, tt.msg[:len(tt.domain)])
		}
		if bytes.Contains(tt.o.SigningBytes(), tt.o.Sig) || !bytes.Contains(tt.o.SigningBytes(), tt.proof) {
			t.Errorf("SigningBytes(pinned %s) must cover the proof and not the signature", tt.o.Kind)
		}
	}
	if n, r := len(NodeProofBytes(NetworkID{}, [32]byte{}, [32]byte{})), len(RedeemSigningBytes(NetworkID{}, ID{}, [32]byte{}, RoleGuest)); n != 23+96 || r != 25+97 {
		t.Errorf("proof message lengths = %d, %d; want %d, %d", n, r, 23+96, 25+97)
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
	pn, pr, _, _ := pinnedProofOps()
	f.Add(pn.Marshal())
	f.Add(pr.Marshal())
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
