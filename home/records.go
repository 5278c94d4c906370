package home

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// Store reads and writes the home model's records in a network's ledger:
// zones, placements, grants and scenes (see doc.go for their encodings).
// Writes are signed by the store's user; the ledger refuses them unless the
// user is an admin or the owner, on this node and on every node that
// receives them.
type Store struct {
	log    *ledger.Log
	append func(ledger.Op) (*ledger.Op, error)
}

// NodeStore is the store of a running node's network, writing as its user.
func NodeStore(n *engine.Engine) *Store { return &Store{log: n.Ledger(), append: n.Append} }

// LogStore is the store of a ledger opened without a node (the daemon's
// offline mode), writing as the user whose key is given.
func LogStore(l *ledger.Log, key ed25519.PrivateKey) *Store {
	return &Store{log: l, append: func(op ledger.Op) (*ledger.Op, error) { return l.Append(key, op) }}
}

func (s *Store) put(table, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = s.append(ledger.Op{Kind: ledger.KindPut, Table: table, Key: key, Value: b})
	return friendly(err)
}

func (s *Store) del(table, key string) error {
	_, err := s.append(ledger.Op{Kind: ledger.KindDelete, Table: table, Key: key})
	return friendly(err)
}

// friendly turns the ledger's refusal of a guest into a sentence.
func friendly(err error) error {
	var r *ledger.Rejection
	if errors.As(err, &r) && errors.Is(err, ledger.ErrUnauthorized) {
		return fmt.Errorf("%s: %w", r.Reason, ErrDenied)
	}
	return err
}

// Zone is a named group of resources, for browsing and for grants.
type Zone struct {
	Name      string   `json:"name"`
	Resources []string `json:"resources,omitempty"` // placed in it, sorted
}

type zoneRecord struct {
	Name string `json:"name"`
}

type placementRecord struct {
	Zone string `json:"zone"`
}

// ValidZone checks a zone name: 1 to 64 printable characters, no '/' or ':'.
func ValidZone(name string) error {
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) || strings.ContainsAny(name, "/:") ||
		strings.TrimSpace(name) != name || strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return fmt.Errorf("zone name %q is not valid: use 1 to 64 printable characters without '/' or ':'", name)
	}
	return nil
}

// CreateZone records a zone.
func (s *Store) CreateZone(name string) (Zone, error) {
	if err := ValidZone(name); err != nil {
		return Zone{}, err
	}
	if z, ok := s.findZone(name); ok {
		return Zone{}, fmt.Errorf("zone %q already exists", z)
	}
	if err := s.put(ledger.TableZone, name, zoneRecord{Name: name}); err != nil {
		return Zone{}, err
	}
	return Zone{Name: name}, nil
}

// DeleteZone removes an empty zone. Grants on it stay but cover nothing.
func (s *Store) DeleteZone(name string) error {
	z, ok := s.findZone(name)
	if !ok {
		return s.noZone(name)
	}
	for _, zz := range s.Zones() {
		if zz.Name == z && len(zz.Resources) > 0 {
			return fmt.Errorf("zone %q still holds %s; remove them from it first", z, strings.Join(zz.Resources, ", "))
		}
	}
	return s.del(ledger.TableZone, z)
}

// findZone resolves a zone name, ignoring case.
func (s *Store) findZone(name string) (string, bool) {
	st := s.log.State()
	if st.Record(ledger.TableZone, name) != nil {
		return name, true
	}
	for _, r := range st.Table(ledger.TableZone) {
		if strings.EqualFold(r.Key, name) {
			return r.Key, true
		}
	}
	return "", false
}

func (s *Store) noZone(name string) error {
	var names []string
	for _, z := range s.Zones() {
		names = append(names, z.Name)
	}
	if len(names) == 0 {
		return fmt.Errorf("no zone %q: %q has no zones yet; create one with `coco zone create`: %w", name, s.log.State().Name, ErrNotFound)
	}
	return fmt.Errorf("no zone %q; the zones are %s: %w", name, strings.Join(names, ", "), ErrNotFound)
}

// Zones lists the zones with the resources placed in each, sorted by name.
func (s *Store) Zones() []Zone {
	st := s.log.State()
	byZone := map[string][]string{}
	for res, z := range placements(st) {
		byZone[z] = append(byZone[z], res)
	}
	var out []Zone
	for _, r := range st.Table(ledger.TableZone) {
		rs := byZone[r.Key]
		slices.Sort(rs)
		out = append(out, Zone{Name: r.Key, Resources: rs})
	}
	return out
}

// Placement says which zone a resource is in.
type Placement struct {
	Resource string `json:"resource"`
	Zone     string `json:"zone"`
	From     string `json:"from,omitempty"` // the zone it was in before, on a move or removal
}

// Place puts a resource in a zone. With move false, a resource already in
// another zone is an error (use move to take it from there).
func (s *Store) Place(resource, zone string, move bool) (Placement, error) {
	if err := ValidID(resource); err != nil {
		return Placement{}, err
	}
	z, ok := s.findZone(zone)
	if !ok {
		return Placement{}, s.noZone(zone)
	}
	p := Placement{Resource: resource, Zone: z, From: placements(s.log.State())[resource]}
	switch {
	case p.From == z:
		return p, nil
	case p.From != "" && !move:
		return Placement{}, fmt.Errorf("%s is already in zone %q; move it with `coco zone move`", resource, p.From)
	case p.From == "" && move:
		return Placement{}, fmt.Errorf("%s is in no zone yet; add it with `coco zone add`", resource)
	}
	return p, s.put(ledger.TablePlacement, resource, placementRecord{Zone: z})
}

// Unplace takes a resource out of its zone.
func (s *Store) Unplace(resource string) (Placement, error) {
	z := placements(s.log.State())[resource]
	if z == "" {
		return Placement{}, fmt.Errorf("%s is in no zone: %w", resource, ErrNotFound)
	}
	return Placement{Resource: resource, From: z}, s.del(ledger.TablePlacement, resource)
}

// placements maps resource → zone from the placement records.
func placements(st *ledger.State) map[string]string {
	out := map[string]string{}
	for _, r := range st.Table(ledger.TablePlacement) {
		var p placementRecord
		if json.Unmarshal(r.Value, &p) == nil && p.Zone != "" {
			out[r.Key] = p.Zone
		}
	}
	return out
}

// Grant records a grant and returns it with its ID. The user must be a
// guest of the network (admins and the owner need no grants); a zone is
// resolved ignoring case.
func (s *Store) Grant(g Grant) (Grant, error) {
	st := s.log.State()
	m := st.Members[g.User]
	switch {
	case m == nil:
		return Grant{}, fmt.Errorf("%s is not a member of %q", g.User.Short(), st.Name)
	case m.Role != ledger.RoleGuest:
		return Grant{}, fmt.Errorf("%s is %s of %q and needs no grant (grants are for guests)", m.Name, article(m.Role), st.Name)
	}
	if g.Zone != "" {
		z, ok := s.findZone(g.Zone)
		if !ok {
			return Grant{}, s.noZone(g.Zone)
		}
		g.Zone = z
	}
	if err := g.Check(); err != nil {
		return Grant{}, err
	}
	if d, ok := Lookup(g.Capability); ok && g.Command != "" && d.Capability.Command(g.Command) == nil {
		return Grant{}, fmt.Errorf("capability %s has no command %s", g.Capability, g.Command)
	}
	if ownerOnly(g.Capability) {
		return Grant{}, fmt.Errorf("capability %s is the owner's alone and cannot be granted", g.Capability)
	}
	var rnd [5]byte
	rand.Read(rnd[:])
	g.ID = "g" + hex.EncodeToString(rnd[:])
	rec := g
	rec.ID, rec.UserName, rec.GrantedBy, rec.Created = "", "", "", time.Time{}
	if err := s.put(ledger.TableGrant, g.ID, rec); err != nil {
		return Grant{}, err
	}
	g.UserName = m.Name
	return g, nil
}

func article(r ledger.Role) string {
	if r == ledger.RoleOwner {
		return "the owner"
	}
	return "an " + r.String()
}

// Grants lists the grants, sorted by user name then ID.
func (s *Store) Grants() []Grant {
	st := s.log.State()
	var out []Grant
	for _, r := range st.Table(ledger.TableGrant) {
		if g, err := decodeGrant(st, r); err == nil {
			out = append(out, g)
		}
	}
	slices.SortStableFunc(out, func(a, b Grant) int { return strings.Compare(a.UserName, b.UserName) })
	return out
}

// Revoke deletes a grant, by ID or a unique prefix of it. Every online host
// stops honouring it as soon as the deletion reaches it.
func (s *Store) Revoke(id string) (Grant, error) {
	var match []Grant
	for _, g := range s.Grants() {
		if g.ID == id {
			match = []Grant{g}
			break
		}
		if len(id) >= 3 && strings.HasPrefix(g.ID, id) {
			match = append(match, g)
		}
	}
	switch len(match) {
	case 0:
		return Grant{}, fmt.Errorf("no grant %q in %q; list them with `coco grant list`: %w", id, s.log.State().Name, ErrNotFound)
	case 1:
	default:
		return Grant{}, fmt.Errorf("%q matches %d grants; give more of the ID", id, len(match))
	}
	return match[0], s.del(ledger.TableGrant, match[0].ID)
}

// decodeGrant reads a grant record and checks it.
func decodeGrant(st *ledger.State, r *ledger.Record) (Grant, error) {
	var g Grant
	if err := json.Unmarshal(r.Value, &g); err != nil {
		return Grant{}, fmt.Errorf("grant %s: %w", r.Key, err)
	}
	g.ID = r.Key
	if err := g.Check(); err != nil {
		return Grant{}, fmt.Errorf("grant %s: %w", r.Key, err)
	}
	if m := st.Members[g.User]; m != nil {
		g.UserName = m.Name
	} else {
		g.UserName = g.User.Short()
	}
	if m := st.Members[r.Author]; m != nil {
		g.GrantedBy = m.Name
	}
	g.Created = time.UnixMilli(r.Time).UTC()
	return g, nil
}

// grantsByUser parses every valid grant record, by subject.
func grantsByUser(st *ledger.State) map[identity.UserID][]Grant {
	out := map[identity.UserID][]Grant{}
	for _, r := range st.Table(ledger.TableGrant) {
		if g, err := decodeGrant(st, r); err == nil {
			out[g.User] = append(out[g.User], g)
		}
	}
	return out
}

// Scene is a named list of actions run together.
type Scene struct {
	Name    string   `json:"name"`
	Actions []Action `json:"actions"`
}

type sceneRecord struct {
	Actions []Action `json:"actions"`
}

// MaxSceneActions bounds a scene.
const MaxSceneActions = 500

// CreateScene records a scene (replacing one of the same name when replace
// is set).
func (s *Store) CreateScene(sc Scene, replace bool) (Scene, error) {
	if err := ValidZone(sc.Name); err != nil {
		return Scene{}, fmt.Errorf("scene name: %w", err)
	}
	if len(sc.Actions) == 0 {
		return Scene{}, fmt.Errorf("scene %q has no actions; add some with --action RESOURCE:CAPABILITY:COMMAND[:k=v…]", sc.Name)
	}
	if len(sc.Actions) > MaxSceneActions {
		return Scene{}, fmt.Errorf("scene %q has %d actions, more than %d", sc.Name, len(sc.Actions), MaxSceneActions)
	}
	for i, a := range sc.Actions {
		if err := a.check(); err != nil {
			return Scene{}, fmt.Errorf("action %d: %w", i+1, err)
		}
	}
	if !replace && s.log.State().Record(ledger.TableScene, sc.Name) != nil {
		return Scene{}, fmt.Errorf("scene %q already exists", sc.Name)
	}
	return sc, s.put(ledger.TableScene, sc.Name, sceneRecord{Actions: sc.Actions})
}

// Scenes lists the scenes, sorted by name.
func (s *Store) Scenes() []Scene {
	var out []Scene
	for _, r := range s.log.State().Table(ledger.TableScene) {
		if sc, err := decodeScene(r); err == nil {
			out = append(out, sc)
		}
	}
	return out
}

// Scene returns a scene by name (ignoring case).
func (s *Store) Scene(name string) (Scene, error) {
	var names []string
	for _, sc := range s.Scenes() {
		if strings.EqualFold(sc.Name, name) {
			return sc, nil
		}
		names = append(names, sc.Name)
	}
	if len(names) == 0 {
		return Scene{}, fmt.Errorf("no scene %q: %q has no scenes yet; create one with `coco scene create`: %w", name, s.log.State().Name, ErrNotFound)
	}
	return Scene{}, fmt.Errorf("no scene %q; the scenes are %s: %w", name, strings.Join(names, ", "), ErrNotFound)
}

// DeleteScene removes a scene.
func (s *Store) DeleteScene(name string) error {
	sc, err := s.Scene(name)
	if err != nil {
		return err
	}
	return s.del(ledger.TableScene, sc.Name)
}

func decodeScene(r *ledger.Record) (Scene, error) {
	var rec sceneRecord
	if err := json.Unmarshal(r.Value, &rec); err != nil {
		return Scene{}, err
	}
	for _, a := range rec.Actions {
		if err := a.check(); err != nil {
			return Scene{}, err
		}
	}
	return Scene{Name: r.Key, Actions: rec.Actions}, nil
}
