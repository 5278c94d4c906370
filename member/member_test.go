package member

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

type fixture struct {
	owner, admin, guest ed25519.PrivateKey
	genesis             *ledger.Op
	net                 ledger.NetworkID
	node                [32]byte
	now                 time.Time
}

func keyOf(b byte) ed25519.PrivateKey {
	seed := bytes.Repeat([]byte{b}, 32)
	return ed25519.NewKeyFromSeed(seed)
}

func uid(k ed25519.PrivateKey) identity.UserID {
	return identity.UserIDOf(k.Public().(ed25519.PublicKey))
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{owner: keyOf(1), admin: keyOf(2), guest: keyOf(3), now: time.Unix(1_800_000_000, 0)}
	g := &ledger.Op{V: ledger.Version, Time: f.now.UnixMilli(), Kind: ledger.KindGenesis, SubjectName: "alice",
		Name: "home", NetKind: "user", Nonce: bytes.Repeat([]byte{7}, ledger.NonceSize)}
	g.Sign(f.owner)
	f.genesis = g
	f.net = ledger.NetworkID(g.ID())
	copy(f.node[:], keyOf(9).Public().(ed25519.PublicKey))
	return f
}

func (f *fixture) ownerProof() *Proof {
	return &Proof{Genesis: f.genesis, Cert: IssueCert(f.owner, f.net, f.node, uid(f.guest), ledger.RoleGuest, f.now, 0)}
}

func (f *fixture) adminProof() *Proof {
	d := Delegate(f.owner, f.net, uid(f.admin), f.now, 0)
	return &Proof{Genesis: f.genesis, Delegation: d, Cert: IssueCert(f.admin, f.net, f.node, uid(f.guest), ledger.RoleGuest, f.now, 0)}
}

func roundTrip(t *testing.T, p *Proof) *Proof {
	t.Helper()
	b := p.Marshal()
	q, err := UnmarshalProof(b)
	if err != nil {
		t.Fatalf("UnmarshalProof(Marshal()) = %v", err)
	}
	if !bytes.Equal(q.Marshal(), b) {
		t.Fatalf("UnmarshalProof(b).Marshal() != b")
	}
	return q
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	for _, p := range []*Proof{f.ownerProof(), f.adminProof()} {
		v, err := roundTrip(t, p).Verify(f.node, f.now.Add(time.Minute))
		if err != nil {
			t.Fatalf("Verify = %v, want ok", err)
		}
		if v.Net != f.net || v.Key != RendezvousKey(f.net) || v.Owner != uid(f.owner) || v.Cert.User != uid(f.guest) {
			t.Fatalf("Verify = %+v, want net, key, owner and user of the fixture", v)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	other := newFixture(t)
	other.genesis = other.genesis.Clone()
	other.genesis.Name = "other"
	other.genesis.Sign(other.owner)
	other.net = ledger.NetworkID(other.genesis.ID())

	tests := []struct {
		name string
		mod  func(p *Proof) *Proof
		at   time.Duration
		want error
	}{
		{"expired", func(p *Proof) *Proof { return p }, 2 * time.Hour, ErrExpired},
		{"not yet valid", func(p *Proof) *Proof { return p }, -time.Hour, ErrExpired},
		{"forged cert signature", func(p *Proof) *Proof { p.Cert.Sig[0] ^= 1; return p }, 0, ErrBadSignature},
		{"user swapped after signing", func(p *Proof) *Proof { p.Cert.User = uid(f.owner); return p }, 0, ErrBadSignature},
		{"self-signed by a stranger", func(p *Proof) *Proof {
			p.Cert = IssueCert(f.guest, f.net, f.node, uid(f.guest), ledger.RoleOwner, f.now, 0)
			return p
		}, 0, ErrNotAuthorized},
		{"admin without delegation", func(p *Proof) *Proof {
			p.Cert = IssueCert(f.admin, f.net, f.node, uid(f.guest), ledger.RoleGuest, f.now, 0)
			return p
		}, 0, ErrNotAuthorized},
		{"delegation not by owner", func(p *Proof) *Proof {
			p.Delegation = Delegate(f.admin, f.net, uid(f.admin), f.now, 0)
			p.Cert = IssueCert(f.admin, f.net, f.node, uid(f.guest), ledger.RoleGuest, f.now, 0)
			return p
		}, 0, ErrBadSignature},
		{"cert for another node", func(p *Proof) *Proof {
			p.Cert = IssueCert(f.owner, f.net, [32]byte{1}, uid(f.guest), ledger.RoleGuest, f.now, 0)
			return p
		}, 0, ErrWrongNode},
		{"cert for another network", func(p *Proof) *Proof {
			p.Cert = IssueCert(f.owner, other.net, f.node, uid(f.guest), ledger.RoleGuest, f.now, 0)
			return p
		}, 0, ErrWrongNetwork},
		{"genesis of another network", func(p *Proof) *Proof { p.Genesis = other.genesis; return p }, 0, ErrWrongNetwork},
		{"cert too long", func(p *Proof) *Proof {
			p.Cert = IssueCert(f.owner, f.net, f.node, uid(f.guest), ledger.RoleGuest, f.now, 48*time.Hour)
			return p
		}, 0, ErrExpired},
	}
	// A cache that has seen both genesis operations checked changes none
	// of the refusals.
	gc := NewGenesisCache(4)
	for _, g := range []*ledger.Op{f.genesis, other.genesis} {
		p := f.ownerProof()
		p.Genesis = g
		p.VerifyWith(f.node, f.now, gc)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := roundTrip(t, tt.mod(f.ownerProof()))
			if _, err := p.Verify(f.node, f.now.Add(tt.at)); !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %v, want %v", err, tt.want)
			}
			if _, err := p.VerifyWith(f.node, f.now.Add(tt.at), gc); !errors.Is(err, tt.want) {
				t.Fatalf("VerifyWith (warm cache) = %v, want %v", err, tt.want)
			}
		})
	}
	// An admin's delegation expires and takes the admin's certs with it.
	p := f.adminProof()
	p.Delegation = Delegate(f.owner, f.net, uid(f.admin), f.now.Add(-time.Hour), time.Hour+time.Minute)
	if _, err := p.Verify(f.node, f.now.Add(2*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Fatalf("Verify with expired delegation = %v, want ErrExpired", err)
	}
}

// A genesis whose signature was forged is refused though the cache holds
// the real one: the cache is keyed by the whole signed operation.
func TestGenesisCacheForgedGenesis(t *testing.T) {
	f := newFixture(t)
	gc := NewGenesisCache(2)
	if _, err := f.ownerProof().VerifyWith(f.node, f.now, gc); err != nil {
		t.Fatalf("VerifyWith = %v, want ok", err)
	}
	p := f.ownerProof()
	p.Genesis = f.genesis.Clone()
	p.Genesis.Sig = append([]byte(nil), p.Genesis.Sig...)
	p.Genesis.Sig[0] ^= 1
	if _, err := roundTrip(t, p).VerifyWith(f.node, f.now, gc); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("VerifyWith forged genesis = %v, want ErrBadSignature", err)
	}
	// Bounded: three networks in a cache of two forget the first.
	for i := 0; i < 3; i++ {
		gc.add(ledger.NetworkID{byte(i + 1)})
	}
	if len(gc.seen) != 2 || len(gc.ring) != 2 || gc.has(ledger.NetworkID{1}) || !gc.has(ledger.NetworkID{3}) {
		t.Fatalf("cache holds %d (ring %d), want the 2 newest", len(gc.seen), len(gc.ring))
	}
}

func BenchmarkProofVerify(b *testing.B) {
	f := newFixture(b)
	raw := f.ownerProof().Marshal()
	for _, c := range []struct {
		name string
		gc   *GenesisCache
	}{{"cold", nil}, {"genesis-cached", NewGenesisCache(16)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := UnmarshalProof(raw)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.VerifyWith(f.node, f.now, c.gc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestRevocation(t *testing.T) {
	f := newFixture(t)
	v := Revoke(f.owner, nil, f.net, RevokeNode, f.node, f.now)
	w, err := UnmarshalRevocation(v.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Verify(f.net, uid(f.owner), f.now); err != nil {
		t.Fatalf("Verify(owner's revocation) = %v", err)
	}
	if !w.Covers(f.verify(t, f.ownerProof())) {
		t.Fatalf("Covers(cert of revoked node) = false")
	}
	d := Delegate(f.owner, f.net, uid(f.admin), f.now, 0)
	byAdmin := Revoke(f.admin, d, f.net, RevokeUser, uid(f.guest), f.now)
	if err := byAdmin.Verify(f.net, uid(f.owner), f.now); err != nil {
		t.Fatalf("Verify(admin's revocation) = %v", err)
	}
	byGuest := Revoke(f.guest, nil, f.net, RevokeNode, f.node, f.now)
	if err := byGuest.Verify(f.net, uid(f.owner), f.now); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("Verify(guest's revocation) = %v, want ErrNotAuthorized", err)
	}
}

func (f *fixture) verify(t *testing.T, p *Proof) *Verified {
	t.Helper()
	v, err := p.Verify(f.node, f.now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRevocationScope: a revocation covers only certificates (and
// delegations) issued before it; an admin can neither revoke the owner nor
// the owner's certificates, and an admin's revocation lives no longer than
// a certificate.
func TestRevocationScope(t *testing.T) {
	f := newFixture(t)
	owner, admin, guest := uid(f.owner), uid(f.admin), uid(f.guest)
	rv := Revoke(f.owner, nil, f.net, RevokeNode, f.node, f.now)
	later := &Proof{Genesis: f.genesis, Cert: IssueCert(f.owner, f.net, f.node, guest, ledger.RoleGuest, f.now.Add(time.Second), 0)}
	if v, _ := later.Verify(f.node, f.now.Add(time.Second)); rv.Covers(v) {
		t.Errorf("Covers(certificate issued after the revocation) = true, want false")
	}
	// RevokeUser(admin) by the owner covers what the admin issued under a
	// delegation given before it, not under a newer one.
	byOwner := Revoke(f.owner, nil, f.net, RevokeUser, [32]byte(admin), f.now)
	if !byOwner.Covers(f.verify(t, f.adminProof())) {
		t.Errorf("Covers(certificate issued by the revoked admin) = false, want true")
	}
	d2 := Delegate(f.owner, f.net, admin, f.now.Add(time.Second), 0)
	p2 := &Proof{Genesis: f.genesis, Delegation: d2, Cert: IssueCert(f.admin, f.net, f.node, guest, ledger.RoleGuest, f.now.Add(time.Second), 0)}
	if v, _ := p2.Verify(f.node, f.now.Add(time.Second)); byOwner.Covers(v) {
		t.Errorf("Covers(certificate under a delegation given after the revocation) = true, want false")
	}
	if got, want := byOwner.MaxUntil(owner), f.now.Add(MaxDelegationValidity+ClockSkew); !got.Equal(want) {
		t.Errorf("MaxUntil(owner's RevokeUser) = %v, want %v", got, want)
	}
	// An admin: not the owner, not the owner's certificates, one
	// certificate's lifetime.
	d := Delegate(f.owner, f.net, admin, f.now, 0)
	if err := Revoke(f.admin, d, f.net, RevokeUser, [32]byte(owner), f.now).Verify(f.net, owner, f.now); !errors.Is(err, ErrNotAuthorized) {
		t.Errorf("Verify(admin's RevokeUser(owner)) = %v, want ErrNotAuthorized", err)
	}
	ownersNode := &Proof{Genesis: f.genesis, Cert: IssueCert(f.owner, f.net, f.node, owner, ledger.RoleOwner, f.now, 0)}
	byAdmin := Revoke(f.admin, d, f.net, RevokeNode, f.node, f.now)
	if byAdmin.Covers(f.verify(t, ownersNode)) {
		t.Errorf("Covers(admin's RevokeNode, owner's node) = true, want false")
	}
	if !byAdmin.Covers(f.verify(t, f.ownerProof())) {
		t.Errorf("Covers(admin's RevokeNode, guest's node) = false, want true")
	}
	adminUser := Revoke(f.admin, d, f.net, RevokeUser, [32]byte(guest), f.now)
	if got, want := adminUser.MaxUntil(owner), f.now.Add(MaxCertValidity+ClockSkew); !got.Equal(want) || time.Unix(adminUser.Until, 0).After(want) {
		t.Errorf("admin's RevokeUser until %v, MaxUntil %v; want at most %v", time.Unix(adminUser.Until, 0), got, want)
	}
	// The owner's revocation of the admin withdraws the admin's own
	// revocations made under the revoked delegation.
	if !byOwner.RevokesIssuer(adminUser) {
		t.Errorf("RevokesIssuer(owner's RevokeUser(admin), admin's revocation) = false, want true")
	}
}

// TestPinnedEncoding pins the version-1 layout of a certificate.
func TestPinnedEncoding(t *testing.T) {
	c := &Cert{Net: ledger.NetworkID{1}, Node: [32]byte{2}, User: identity.UserID{3}, Role: ledger.RoleAdmin,
		Issued: 0x0102, Expires: 0x0304, Issuer: identity.UserID{4}, Sig: bytes.Repeat([]byte{5}, 64)}
	b := c.Marshal()
	if len(b) != certSize {
		t.Fatalf("len(Marshal()) = %d, want %d", len(b), certSize)
	}
	head := hex.EncodeToString(b[:1]) + " " + hex.EncodeToString(b[97:98]) + " " + hex.EncodeToString(b[98:114])
	if want := "01 02 0000000000000102" + "0000000000000304"; head != want {
		t.Fatalf("version/role/times = %s, want %s", head, want)
	}
}

func FuzzUnmarshalProof(f *testing.F) {
	fx := &fixture{owner: keyOf(1), admin: keyOf(2), guest: keyOf(3), now: time.Unix(1_800_000_000, 0)}
	g := &ledger.Op{V: ledger.Version, Time: fx.now.UnixMilli(), Kind: ledger.KindGenesis, Name: "n", NetKind: "user", Nonce: make([]byte, 16)}
	g.Sign(fx.owner)
	fx.genesis, fx.net = g, ledger.NetworkID(g.ID())
	f.Add(fx.ownerProof().Marshal())
	f.Add(fx.adminProof().Marshal())
	f.Add(Revoke(fx.owner, nil, fx.net, RevokeNode, fx.node, fx.now).Marshal())
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := UnmarshalProof(b); err == nil {
			if !bytes.Equal(p.Marshal(), b) {
				t.Fatalf("UnmarshalProof(b).Marshal() != b")
			}
			p.Verify(fx.node, fx.now)
		}
		if v, err := UnmarshalRevocation(b); err == nil {
			if !bytes.Equal(v.Marshal(), b) {
				t.Fatalf("UnmarshalRevocation(b).Marshal() != b")
			}
			v.Verify(fx.net, uid(fx.owner), fx.now)
		}
	})
}
