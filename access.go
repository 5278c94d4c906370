package coconet

import (
	"fmt"
	"slices"
	"strings"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// Access says which members may use a service this node offers (Listen,
// Handle, Expose, ReceiveFiles), decided on every stream and request from
// this node's own ledger copy. The zero Access admits the owner and admins
// only; guests and devices are refused unless it names them. See
// node.Access.
type Access = node.Access

// Everyone admits every member and device, for services whose handlers
// check further themselves.
var Everyone = node.Everyone

// ParseAccess reads the words of `--allow` (each may hold several,
// comma-separated): "owner", "admin", "guest" admit that role and those
// above it, "device" admits the owner's devices, and any other word is a
// member's name or user ID, resolved now against st. No word gives the
// default (the owner and admins).
func ParseAccess(st *ledger.State, words []string) (Access, error) {
	var a Access
	for _, w := range words {
		for _, f := range strings.Split(w, ",") {
			f = strings.TrimSpace(f)
			if f == "" {
				continue
			}
			switch strings.ToLower(f) {
			case "owner", "admin", "guest":
				r, _ := ledger.ParseRole(f)
				a.Roles = append(a.Roles, r)
				continue
			case "admins", "guests":
				r, _ := ledger.ParseRole(strings.TrimSuffix(strings.ToLower(f), "s"))
				a.Roles = append(a.Roles, r)
				continue
			case "device", "devices":
				a.Devices = true
				continue
			}
			m, err := ResolveMember(st, f)
			if err != nil {
				return Access{}, fmt.Errorf("--allow %s: %w (or give a role: owner, admin, guest, device)", f, err)
			}
			if !slices.Contains(a.Users, m.User) {
				a.Users = append(a.Users, m.User)
			}
		}
	}
	return a, nil
}

// DescribeAccess says in words whom a admits, names from st: "the owner
// and admins", "guests and up, bob".
func DescribeAccess(st *ledger.State, a Access) string {
	if a.IsZero() {
		return "the owner and admins"
	}
	var parts []string
	low := ledger.RoleNone
	for _, r := range a.Roles {
		if r != ledger.RoleNone && (low == ledger.RoleNone || r < low) {
			low = r
		}
	}
	switch low {
	case ledger.RoleGuest:
		parts = append(parts, "every member")
	case ledger.RoleAdmin:
		parts = append(parts, "the owner and admins")
	case ledger.RoleOwner:
		parts = append(parts, "the owner")
	}
	if a.Devices {
		parts = append(parts, "devices")
	}
	for _, u := range a.Users {
		parts = append(parts, memberName(st, u))
	}
	return strings.Join(parts, ", ")
}

func memberName(st *ledger.State, u identity.UserID) string {
	if m, ok := st.Members[u]; ok && m.Name != "" {
		return m.Name
	}
	return u.String()
}
