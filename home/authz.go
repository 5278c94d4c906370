package home

import (
	"fmt"
	"time"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
)

// The roles matrix, as the host that serves a resource applies it from its
// own ledger copy (DESIGN.md, "The ledger: roles and grants"):
//
//	                                  owner  admin  guest
//	list, watch a resource              yes    yes   with a grant on it that has not expired
//	run a command                       yes    yes   with a grant active now
//	run an owner-only command           yes    no    no
//	  (bridge: add/remove bridged resources; firmware)
//	zones, placements, grants, scenes   yes    yes   no   (the ledger refuses)
//	add/remove devices, OTA             yes    no    no   (the ledger refuses)

// view is what a host needs from one ledger state to decide, parsed once
// per state.
type view struct {
	st     *ledger.State
	grants map[identity.UserID][]Grant
	zones  map[string]string // resource → zone, from placement records
	device string            // the host's device name in this state
}

func newView(st *ledger.State) *view {
	return &view{st: st, grants: grantsByUser(st), zones: placements(st)}
}

// access is the role and grants of a caller: a device node (claimed by
// the owner, so its user is the owner) acts as a guest without grants; it
// never carries the owner's authority.
func (v *view) access(from node.Sender) (ledger.Role, []Grant) {
	if from.Device {
		return ledger.RoleGuest, nil
	}
	return v.st.Role(from.User), v.grants[from.User]
}

// zoneOf is a resource's zone: its placement record's, else the zone its
// host declares.
func (v *view) zoneOf(id, declared string) string {
	if z, ok := v.zones[id]; ok {
		return z
	}
	return declared
}

// decide says whether a member with role, whose grants are given, may run
// capability.command on a resource placed in zone at the instant now. who
// names the member in the refusal.
func decide(who string, role ledger.Role, grants []Grant, resource, zone, capability, command string, now time.Time) error {
	switch {
	case role == ledger.RoleNone:
		return fmt.Errorf("%s is not a member of the network", who)
	case ownerOnly(capability) && role != ledger.RoleOwner:
		return fmt.Errorf("%s.%s is the owner's alone; %s is %s", capability, command, who, article(role))
	case role >= ledger.RoleAdmin:
		return nil
	}
	var why string
	for i := range grants {
		g := &grants[i]
		if !g.Covers(resource, zone, capability, command) {
			continue
		}
		ok, reason := g.Active(now)
		if ok {
			return nil
		}
		if why == "" {
			why = reason
		}
	}
	if why == "" {
		return fmt.Errorf("%s (guest) has no grant for %s.%s on %s", who, capability, command, resource)
	}
	return fmt.Errorf("%s (guest) may not use %s.%s on %s now: %s", who, capability, command, resource, why)
}

// visible says whether a member sees a capability of a resource in lists
// and watches: admins and the owner see everything, a guest what a grant
// covers until it expires.
func visible(role ledger.Role, grants []Grant, resource, zone, capability string, now time.Time) bool {
	if role >= ledger.RoleAdmin {
		return true
	}
	if role == ledger.RoleNone {
		return false
	}
	for i := range grants {
		if grants[i].Covers(resource, zone, capability, "") && !grants[i].Expired(now) {
			return true
		}
	}
	return false
}
