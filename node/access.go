package node

import (
	"fmt"
	"slices"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Access says which members may use a service a node offers: a stream
// listener, a request handler, a tunnel, a file receiver. The serving node
// decides it on every stream and request, from the Sender its own ledger
// copy gives for the caller's node, so a removal or a change of role
// applies to the next one and nothing the caller claims counts.
//
// The zero Access is the default: the owner and admins. Guests and the
// owner's devices are refused unless an Access names them. The serving
// user's own nodes (not devices) are always admitted.
type Access struct {
	// Roles admits the members holding one of these roles or a higher
	// one (guest < admin < owner): RoleGuest admits every member user,
	// RoleOwner only the owner.
	Roles []ledger.Role
	// Users admits these users' nodes (never the owner's devices) while
	// they are members, whatever their role.
	Users []identity.UserID
	// Devices admits the owner's device nodes (ledger.TableDevice).
	Devices bool
	// What names the service in refusals, e.g. "tunnel ssh"; empty means
	// `service "NAME"`.
	What string
}

// Everyone admits every member and device. It is for the services every
// node serves to all (coco.info, the home model, OTA images, the push
// bridge), whose handlers decide further themselves.
var Everyone = Access{Roles: []ledger.Role{ledger.RoleGuest}, Devices: true}

// defaultRoles is what the zero Access admits.
var defaultRoles = []ledger.Role{ledger.RoleAdmin}

// IsZero reports whether a is the default (owner and admins).
func (a Access) IsZero() bool { return len(a.Roles) == 0 && len(a.Users) == 0 && !a.Devices }

// Admits reports whether from may use a service with this access on a node
// run by user self.
func (a Access) Admits(self identity.UserID, from Sender) bool {
	if from.Role == ledger.RoleNone {
		return false // not a member (any more)
	}
	if from.Device {
		return a.Devices
	}
	if from.User == self {
		return true
	}
	roles := a.Roles
	if a.IsZero() {
		roles = defaultRoles
	}
	for _, r := range roles {
		if r != ledger.RoleNone && from.Role >= r {
			return true
		}
	}
	return slices.Contains(a.Users, from.User)
}

// JoinAccess is the access that admits whoever one of list admits (a zero
// element standing for the default); no element means the default. It is
// how the optional access argument of Listen and Handle is read.
func JoinAccess(list ...Access) Access {
	switch len(list) {
	case 0:
		return Access{}
	case 1:
		return list[0]
	}
	var out Access
	for _, a := range list {
		if a.IsZero() {
			a.Roles = defaultRoles
		}
		out.Roles = append(out.Roles, a.Roles...)
		out.Users = append(out.Users, a.Users...)
		out.Devices = out.Devices || a.Devices
		if out.What == "" {
			out.What = a.What
		}
	}
	return out
}

// AccessError is the refusal of a caller that an Access does not admit;
// its text reaches the caller.
type AccessError struct {
	Owner string // the serving node's user (or device) name
	What  string // "tunnel ssh", `service "door.open"`
	Whom  string // "guests", "devices", "admins", "you"
}

func (e *AccessError) Error() string {
	return fmt.Sprintf("%s's %s is not open to %s; ask %s to allow you", e.Owner, e.What, e.Whom, e.Owner)
}

// CheckAccess decides, from this node's ledger copy, whether from may use
// service under a; the error says why not in words the caller can act on.
func (n *Node) CheckAccess(a Access, service string, from Sender) error {
	if a.Admits(n.User(), from) {
		return nil
	}
	e := &AccessError{What: a.What, Owner: n.cfg.UserName}
	if e.What == "" {
		e.What = fmt.Sprintf("service %q", service)
	}
	st := n.log.State()
	if m, ok := st.Members[n.User()]; ok && m.Name != "" {
		e.Owner = m.Name
	} else if ni := st.Nodes[n.self]; ni != nil && ni.Name != "" {
		e.Owner = ni.Name // a device: its owner's ledger names it
	}
	if e.Owner == "" {
		e.Owner = "this node's user"
	}
	switch {
	case from.Device:
		e.Whom = "devices"
	case from.Role == ledger.RoleGuest:
		e.Whom = "guests"
	case from.Role == ledger.RoleAdmin:
		e.Whom = "admins"
	default:
		e.Whom = "you"
	}
	return e
}
