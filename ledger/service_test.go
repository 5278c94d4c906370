package ledger

import (
	"testing"
	"time"
)

// Service keys: the owner alone delegates and revokes them; the delegation
// folds into State.Services with its scopes and expiry.
func TestServiceDelegationOwnerOnly(t *testing.T) {
	c := &clock{t: t0}
	l := newLog(t, c)
	svc := uid(testKey("service"))
	exp := t0.Add(30 * 24 * time.Hour).Unix()
	bob := testKey("bob")
	mustAppend(t, l, testKey("alice"), Op{Kind: KindAddUser, Subject: uid(bob), Role: RoleAdmin, SubjectName: "bob"})

	// An admin cannot delegate a service key, nor revoke one.
	_, err := l.Append(bob, Op{Kind: KindDelegateService, Subject: svc, Scopes: ScopeAll, Expires: exp})
	wantRejection(t, "admin's delegate_service", err, ErrUnauthorized, "only the owner delegates service keys")

	d := mustAppend(t, l, testKey("alice"), Op{Kind: KindDelegateService, Subject: svc, SubjectName: "control", Scopes: ScopeEnroll | ScopeRevoke, Expires: exp})
	si := l.State().Services[svc]
	if si == nil || si.Scopes != ScopeEnroll|ScopeRevoke || si.Expires != exp || si.Op != d.ID() || si.Revoked {
		t.Fatalf("State.Services[svc] = %+v, want enroll,revoke until %d by %s", si, exp, d.ID().Short())
	}
	if !si.Valid(ScopeEnroll, c.t) || si.Valid(ScopeACL, c.t) || si.Valid(ScopeEnroll, time.Unix(exp, 0)) {
		t.Errorf("ServiceInfo.Valid is wrong for %+v", si)
	}
	_, err = l.Append(bob, Op{Kind: KindRevokeService, Subject: svc})
	wantRejection(t, "admin's revoke_service", err, ErrUnauthorized, "only the owner revokes service keys")

	// The owner needs no delegation; a service key cannot be delegated with
	// no scope or an unknown one.
	_, err = l.Append(testKey("alice"), Op{Kind: KindDelegateService, Subject: uid(testKey("alice")), Scopes: ScopeAll, Expires: exp})
	wantRejection(t, "delegate_service to the owner", err, ErrUnauthorized, "the owner needs no delegation")
	_, err = l.Append(testKey("alice"), Op{Kind: KindDelegateService, Subject: svc, Scopes: 1 << 9, Expires: exp})
	wantRejection(t, "delegate_service with an unknown scope", err, ErrMalformed, "none or unknown")

	mustAppend(t, l, testKey("alice"), Op{Kind: KindRevokeService, Subject: svc})
	if si := l.State().Services[svc]; si == nil || !si.Revoked || si.Valid(ScopeEnroll, c.t) {
		t.Errorf("after revoke_service, State.Services[svc] = %+v, want revoked", si)
	}
	// The fold of the ops agrees with the log's extended state.
	if !Fold(l.Ops()).Equal(l.State()) {
		t.Error("Fold(ops) differs from the log's state after service ops")
	}
}

func TestParseScopes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{{"enroll", ScopeEnroll}, {"enroll,revoke", ScopeEnroll | ScopeRevoke}, {"all", ScopeAll}, {"ACL", ScopeACL}} {
		got, err := ParseScopes(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseScopes(%q) = %#x, %v, want %#x", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseScopes("root"); err == nil {
		t.Error("ParseScopes(root) = nil error, want one")
	}
	if s := ScopeString(ScopeEnroll | ScopeACL); s != "enroll,acl" {
		t.Errorf("ScopeString = %q, want enroll,acl", s)
	}
}
