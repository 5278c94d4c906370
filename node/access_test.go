package node

import (
	"testing"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// TestAccessAdmits checks Admits against the written rule for every kind
// of caller: the zero Access admits the owner, admins and the serving
// user's own nodes; guests and devices only when named; a non-member
// never, even when listed by user ID.
func TestAccessAdmits(t *testing.T) {
	var self, owner, admin, guest, other identity.UserID
	self[0], owner[0], admin[0], guest[0], other[0] = 1, 2, 3, 4, 5
	callers := map[string]Sender{
		"owner":       {User: owner, Role: ledger.RoleOwner},
		"admin":       {User: admin, Role: ledger.RoleAdmin},
		"guest":       {User: guest, Role: ledger.RoleGuest},
		"device":      {User: owner, Role: ledger.RoleGuest, Device: true},
		"self guest":  {User: self, Role: ledger.RoleGuest},
		"self device": {User: self, Role: ledger.RoleGuest, Device: true},
		"removed":     {User: other, Role: ledger.RoleNone},
	}
	guests := []ledger.Role{ledger.RoleGuest}
	for _, c := range []struct {
		name  string
		a     Access
		admit []string
	}{
		{"default", Access{}, []string{"owner", "admin", "self guest"}},
		{"guest role", Access{Roles: guests}, []string{"owner", "admin", "guest", "self guest"}},
		{"owner role", Access{Roles: []ledger.Role{ledger.RoleOwner}}, []string{"owner", "self guest"}},
		{"by name only", Access{Users: []identity.UserID{guest}}, []string{"guest", "self guest"}},
		{"removed by name", Access{Users: []identity.UserID{other}}, []string{"self guest"}},
		{"owner's ID is not the devices", Access{Users: []identity.UserID{owner}}, []string{"owner", "self guest"}},
		{"devices", Access{Devices: true}, []string{"device", "self device", "self guest"}},
		{"everyone", Everyone, []string{"owner", "admin", "guest", "device", "self guest", "self device"}},
		{"What alone is the default", Access{What: "tunnel ssh"}, []string{"owner", "admin", "self guest"}},
		{"joined", JoinAccess(Access{}, Access{Users: []identity.UserID{guest}}), []string{"owner", "admin", "guest", "self guest"}},
	} {
		for who, s := range callers {
			want := false
			for _, a := range c.admit {
				want = want || a == who
			}
			if got := c.a.Admits(self, s); got != want {
				t.Errorf("%s: Admits(%s) = %v, want %v", c.name, who, got, want)
			}
		}
	}
}

func TestAccessErrorText(t *testing.T) {
	e := &AccessError{Owner: "alice", What: "tunnel ssh", Whom: "guests"}
	if got, want := e.Error(), "alice's tunnel ssh is not open to guests; ask alice to allow you"; got != want {
		t.Errorf("AccessError = %q, want %q", got, want)
	}
}
