package ledger

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/coconet/coconet/identity"
)

// Tables lists the application tables a network's ledger holds, and the
// least role that may put or delete their records. The packages that own a
// table encode its values (CBOR or JSON); the ledger only checks who may
// write and folds the writes: in the canonical order, the last put of a key
// wins and a delete removes it. A table not listed here is malformed, so that
// every node of a network folds the same ops to the same state.
//
// The roles follow DESIGN.md: the owner alone adds and removes devices and
// authorizes firmware; admins and the owner define zones, scenes, grants and
// the push server's keys, groups, routers and aliases.
var Tables = map[string]Role{
	TableDevice:     RoleOwner, // device: a claimed device node (key: its peer ID)
	TableOTA:        RoleOwner, // home: a firmware image authorized for a device
	TableZone:       RoleAdmin, // home: a zone (key: zone name)
	TablePlacement:  RoleAdmin, // home: the zone of a resource (key: resource id)
	TableGrant:      RoleAdmin, // home: a guest's access to resources or a zone
	TableScene:      RoleAdmin, // home: a named list of commands
	TablePushKey:    RoleAdmin, // gateway: an account key of the push server
	TablePushGroup:  RoleAdmin, // gateway: a tree group (an id's parent)
	TablePushRouter: RoleAdmin, // gateway: a mesh router and the ids attached to it
	TablePushAlias:  RoleAdmin, // gateway: an alias for an id
	TablePushServer: RoleAdmin, // gateway: a node named a push server (key: its peer ID); it may read the account keys
	TableDriveCert:  RoleAdmin, // drive: a member's writer key in a network drive (key: drive/writer/user, hex)
	TableDriveKeys:  RoleAdmin, // drive: a content key epoch sealed to a drive's writers (key: drive/epoch/user)
}

// Table names.
const (
	TableDevice     = "device"
	TableOTA        = "ota"
	TableZone       = "zone"
	TablePlacement  = "placement"
	TableGrant      = "grant"
	TableScene      = "scene"
	TablePushKey    = "push_key"
	TablePushGroup  = "push_group"
	TablePushRouter = "push_router"
	TablePushAlias  = "push_alias"
	TablePushServer = "push_server"
	TableDriveCert  = "drive_cert"
	TableDriveKeys  = "drive_keys"
)

// MaxKeyLen is the longest record key.
const MaxKeyLen = 256

// Record is the current value of one key of an application table.
type Record struct {
	Table  string
	Key    string
	Value  []byte
	Author identity.UserID
	Op     ID    // the put that set it
	Time   int64 // the put's time, unix milliseconds
}

func recordShapeProblem(o *Op) string {
	switch {
	case o.Table == "":
		return fmt.Sprintf("%s names no table", o.Kind)
	case o.Key == "":
		return fmt.Sprintf("%s on table %s names no key", o.Kind, o.Table)
	case len(o.Key) > MaxKeyLen:
		return fmt.Sprintf("record key is %d bytes, more than %d", len(o.Key), MaxKeyLen)
	case o.Kind == KindPut && len(o.Value) == 0:
		return "put has no value"
	case o.Kind == KindDelete && len(o.Value) != 0:
		return "delete carries a value"
	}
	if _, ok := Tables[o.Table]; !ok {
		return fmt.Sprintf("unknown table %q", o.Table)
	}
	return ""
}

// checkRecord runs the matrix for a put or delete by author.
func (s *State) checkRecord(o *Op, author *Member, id ID) *Rejection {
	need := Tables[o.Table]
	if author.Role < need {
		who := author.Role.String() + " " + s.nameOf(o.Author)
		return &Rejection{Op: id, Reason: fmt.Sprintf("%s cannot change %s records (%s only)", who, o.Table, roleAndAbove(need)), Err: ErrUnauthorized}
	}
	if o.Kind == KindDelete && s.Records[o.Table][o.Key] == nil {
		return &Rejection{Op: id, Reason: fmt.Sprintf("%s %q does not exist", o.Table, o.Key), Err: ErrUnauthorized}
	}
	return nil
}

func roleAndAbove(r Role) string {
	if r == RoleOwner {
		return "the owner"
	}
	return "the owner and admins"
}

func (s *State) applyRecord(o *Op, id ID) {
	t := s.Records[o.Table]
	if o.Kind == KindDelete {
		delete(t, o.Key)
		if len(t) == 0 {
			delete(s.Records, o.Table)
		}
		return
	}
	if t == nil {
		t = make(map[string]*Record)
		s.Records[o.Table] = t
	}
	t[o.Key] = &Record{Table: o.Table, Key: o.Key, Value: o.Value, Author: o.Author, Op: id, Time: o.Time}
}

// Record returns the record of table under key, or nil. Its Value must not
// be modified.
func (s *State) Record(table, key string) *Record { return s.Records[table][key] }

// Table returns the records of a table, sorted by key.
func (s *State) Table(table string) []*Record {
	t := s.Records[table]
	out := make([]*Record, 0, len(t))
	for _, r := range t {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b *Record) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func recordsEqual(a, b map[string]map[string]*Record) bool {
	if len(a) != len(b) {
		return false
	}
	for name, ta := range a {
		tb, ok := b[name]
		if !ok || len(ta) != len(tb) {
			return false
		}
		for k, ra := range ta {
			rb, ok := tb[k]
			if !ok || ra.Op != rb.Op || ra.Author != rb.Author || ra.Time != rb.Time || !bytes.Equal(ra.Value, rb.Value) {
				return false
			}
		}
	}
	return true
}
