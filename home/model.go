package home

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Type is the type of an attribute or a command parameter.
type Type string

// The types of attributes and parameters. Values are carried as Go bool,
// int64, float64 and string (enum values are strings).
const (
	Bool   Type = "bool"
	Int    Type = "int"
	Number Type = "number"
	String Type = "string"
	Enum   Type = "enum"
)

// Spec types a value: an attribute's or a parameter's. Min and Max bound
// int and number values (nil: unbounded) and the length of strings; Enum
// lists the values of an enum.
type Spec struct {
	Type Type     `json:"type"`
	Min  *float64 `json:"min,omitempty"`
	Max  *float64 `json:"max,omitempty"`
	Unit string   `json:"unit,omitempty"`
	Enum []string `json:"enum,omitempty"`
}

// Attribute is a typed value of a capability, with its current value.
type Attribute struct {
	Name string `json:"name"`
	Spec
	Value any `json:"value"`
}

// Param is a typed parameter of a command.
type Param struct {
	Name string `json:"name"`
	Spec
	Optional bool `json:"optional,omitempty"`
}

// Command is something a capability can be told to do.
type Command struct {
	Name   string  `json:"name"`
	Params []Param `json:"params,omitempty"`
}

// Capability is one thing a resource can do or report: its attributes and
// commands. The standard ones are in the registry (see Register, Cap).
type Capability struct {
	Name       string      `json:"name"`
	Attributes []Attribute `json:"attributes,omitempty"`
	Commands   []Command   `json:"commands,omitempty"`
}

// Resource is one thing a device or gateway serves: a bulb, a lock, a
// sensor. ID is unique in a network; Device (the serving node's name) and
// Node (its peer ID) are filled in by the host that serves it. Zone is the
// zone it is placed in (a placement record in the ledger wins over the zone
// the host declares).
type Resource struct {
	ID           string            `json:"id"`
	Name         string            `json:"name,omitempty"`
	Device       string            `json:"device,omitempty"`
	Node         string            `json:"node,omitempty"`
	Zone         string            `json:"zone,omitempty"`
	Capabilities []Capability      `json:"capabilities"`
	Metadata     map[string]string `json:"metadata,omitempty"`
}

// Capability returns the resource's capability called name, or nil.
func (r *Resource) Capability(name string) *Capability {
	for i := range r.Capabilities {
		if r.Capabilities[i].Name == name {
			return &r.Capabilities[i]
		}
	}
	return nil
}

// Value returns the current value of capability.attribute, and whether the
// resource has it.
func (r *Resource) Value(capability, attribute string) (any, bool) {
	c := r.Capability(capability)
	if c == nil {
		return nil, false
	}
	a := c.Attribute(attribute)
	if a == nil {
		return nil, false
	}
	return a.Value, true
}

// Attribute returns the capability's attribute called name, or nil.
func (c *Capability) Attribute(name string) *Attribute {
	for i := range c.Attributes {
		if c.Attributes[i].Name == name {
			return &c.Attributes[i]
		}
	}
	return nil
}

// Command returns the capability's command called name, or nil.
func (c *Capability) Command(name string) *Command {
	for i := range c.Commands {
		if c.Commands[i].Name == name {
			return &c.Commands[i]
		}
	}
	return nil
}

// clone copies r deeply enough that the copy's values can be changed.
func (r Resource) clone() Resource {
	r.Capabilities = slices.Clone(r.Capabilities)
	for i := range r.Capabilities {
		r.Capabilities[i] = r.Capabilities[i].clone()
	}
	if r.Metadata != nil {
		m := make(map[string]string, len(r.Metadata))
		for k, v := range r.Metadata {
			m[k] = v
		}
		r.Metadata = m
	}
	return r
}

// shallow copies what a host needs to run a command of capability on a
// simulated resource: the resource's names and that capability with its
// current values (the other capabilities without their attributes).
// Commands and parameters are not copied: nothing changes them once the
// resource is served.
func (r Resource) shallow(capability string) Resource {
	caps := make([]Capability, len(r.Capabilities))
	for i, c := range r.Capabilities {
		caps[i].Name = c.Name
		if c.Name == capability {
			caps[i] = c
			caps[i].Attributes = slices.Clone(c.Attributes)
		}
	}
	r.Capabilities, r.Metadata = caps, nil
	return r
}

func (c Capability) clone() Capability {
	c.Attributes = slices.Clone(c.Attributes)
	c.Commands = slices.Clone(c.Commands)
	return c
}

// isIDByte and isNameByte are the characters of IDs and names.
func isIDByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

func isNameByte(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' }

// validID is ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ (without a regexp: it is
// checked for every action of every command).
func validID(id string) bool {
	if len(id) == 0 || len(id) > 64 || id[0] == '.' || id[0] == '_' || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return false
		}
	}
	return true
}

// validNameString is ^[a-z][a-z0-9_]{0,31}$.
func validNameString(s string) bool {
	if len(s) == 0 || len(s) > 32 || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidID checks a resource ID: 1 to 64 letters, digits, '.', '_' or '-',
// starting with a letter or digit (it is a segment of pub-sub topics).
func ValidID(id string) error {
	if !validID(id) {
		return fmt.Errorf("resource ID %q is not valid: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", id)
	}
	return nil
}

func validName(what, s string) error {
	if !validNameString(s) {
		return fmt.Errorf("%s name %q is not valid: use 1 to 32 lowercase letters, digits or '_', starting with a letter", what, s)
	}
	return nil
}

// Validate checks the resource's ID, capability, attribute, command and
// parameter names and types, and that every current value fits its
// attribute (setting it to the attribute's zero value when unset).
func (r *Resource) Validate() error {
	if err := ValidID(r.ID); err != nil {
		return err
	}
	if len(r.Capabilities) == 0 {
		return fmt.Errorf("resource %s has no capabilities", r.ID)
	}
	seen := map[string]bool{}
	for i := range r.Capabilities {
		c := &r.Capabilities[i]
		if err := validName("capability", c.Name); err != nil {
			return fmt.Errorf("resource %s: %w", r.ID, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("resource %s lists capability %s twice", r.ID, c.Name)
		}
		seen[c.Name] = true
		if err := c.validate(); err != nil {
			return fmt.Errorf("resource %s: %w", r.ID, err)
		}
	}
	return nil
}

func (c *Capability) validate() error {
	seen := map[string]bool{}
	for i := range c.Attributes {
		a := &c.Attributes[i]
		if err := validName("attribute", a.Name); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		if seen[a.Name] {
			return fmt.Errorf("%s lists attribute %s twice", c.Name, a.Name)
		}
		seen[a.Name] = true
		if err := a.Spec.validate(); err != nil {
			return fmt.Errorf("%s.%s: %w", c.Name, a.Name, err)
		}
		if a.Value == nil {
			a.Value = a.Spec.zero()
		}
		v, err := a.Spec.Coerce(a.Name, a.Value)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		a.Value = v
	}
	seen = map[string]bool{}
	for _, cmd := range c.Commands {
		if err := validName("command", cmd.Name); err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		if seen[cmd.Name] {
			return fmt.Errorf("%s lists command %s twice", c.Name, cmd.Name)
		}
		seen[cmd.Name] = true
		ps := map[string]bool{}
		for _, p := range cmd.Params {
			if err := validName("parameter", p.Name); err != nil {
				return fmt.Errorf("%s.%s: %w", c.Name, cmd.Name, err)
			}
			if ps[p.Name] {
				return fmt.Errorf("%s.%s lists parameter %s twice", c.Name, cmd.Name, p.Name)
			}
			ps[p.Name] = true
			if err := p.Spec.validate(); err != nil {
				return fmt.Errorf("%s.%s %s: %w", c.Name, cmd.Name, p.Name, err)
			}
		}
	}
	return nil
}

func (s Spec) validate() error {
	switch s.Type {
	case Bool, Int, Number, String:
	case Enum:
		if len(s.Enum) == 0 {
			return fmt.Errorf("an enum needs its values")
		}
	default:
		return fmt.Errorf("type %q is not one of bool, int, number, string, enum", s.Type)
	}
	if s.Min != nil && s.Max != nil && *s.Min > *s.Max {
		return fmt.Errorf("minimum %s is above maximum %s", num(*s.Min), num(*s.Max))
	}
	return nil
}

func (s Spec) zero() any {
	switch s.Type {
	case Bool:
		return false
	case Int:
		if s.Min != nil && *s.Min > 0 {
			return int64(math.Ceil(*s.Min))
		}
		return int64(0)
	case Number:
		if s.Min != nil && *s.Min > 0 {
			return *s.Min
		}
		return 0.0
	case Enum:
		return s.Enum[0]
	}
	return ""
}

// Describe says what values the spec takes, e.g. "int 0–100 %".
func (s Spec) Describe() string {
	var b strings.Builder
	b.WriteString(string(s.Type))
	switch {
	case s.Type == Enum:
		b.WriteString(" " + strings.Join(s.Enum, "|"))
	case s.Min != nil && s.Max != nil:
		fmt.Fprintf(&b, " %s–%s", num(*s.Min), num(*s.Max))
	case s.Min != nil:
		fmt.Fprintf(&b, " ≥ %s", num(*s.Min))
	case s.Max != nil:
		fmt.Fprintf(&b, " ≤ %s", num(*s.Max))
	}
	if s.Unit != "" {
		b.WriteString(" " + s.Unit)
	}
	return b.String()
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Coerce converts v to the spec's Go type (bool, int64, float64 or string),
// accepting the forms a command line or JSON gives (the string "140", the
// float64 140), and checks it against the bounds. name names the value in
// errors: "level 140 is above the maximum 100".
func (s Spec) Coerce(name string, v any) (any, error) {
	switch s.Type {
	case Bool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case string:
			switch strings.ToLower(x) {
			case "true", "on", "yes", "1":
				return true, nil
			case "false", "off", "no", "0":
				return false, nil
			}
		}
		return nil, fmt.Errorf("%s %s is not a bool (true or false)", name, show(v))
	case Int:
		var i int64
		switch x := v.(type) {
		case int:
			i = int64(x)
		case int64:
			i = x
		case float64:
			if x != math.Trunc(x) || math.IsInf(x, 0) || math.Abs(x) > 1<<53 {
				return nil, fmt.Errorf("%s %s is not a whole number", name, show(v))
			}
			i = int64(x)
		case json.Number:
			n, err := x.Int64()
			if err != nil {
				return nil, fmt.Errorf("%s %s is not a whole number", name, show(v))
			}
			i = n
		case string:
			n, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s %s is not a whole number", name, show(v))
			}
			i = n
		default:
			return nil, fmt.Errorf("%s %s is not a whole number", name, show(v))
		}
		if err := s.bounds(name, float64(i)); err != nil {
			return nil, err
		}
		return i, nil
	case Number:
		var f float64
		switch x := v.(type) {
		case int:
			f = float64(x)
		case int64:
			f = float64(x)
		case float64:
			f = x
		case json.Number:
			n, err := x.Float64()
			if err != nil {
				return nil, fmt.Errorf("%s %s is not a number", name, show(v))
			}
			f = n
		case string:
			n, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
			if err != nil {
				return nil, fmt.Errorf("%s %s is not a number", name, show(v))
			}
			f = n
		default:
			return nil, fmt.Errorf("%s %s is not a number", name, show(v))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%s %s is not a finite number", name, show(v))
		}
		if err := s.bounds(name, f); err != nil {
			return nil, err
		}
		return f, nil
	case String:
		x, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("%s %s is not a string", name, show(v))
		}
		n := float64(len([]rune(x)))
		if s.Min != nil && n < *s.Min {
			return nil, fmt.Errorf("%s is %s characters long, shorter than the minimum %s", name, num(n), num(*s.Min))
		}
		if s.Max != nil && n > *s.Max {
			return nil, fmt.Errorf("%s is %s characters long, longer than the maximum %s", name, num(n), num(*s.Max))
		}
		return x, nil
	case Enum:
		x, ok := v.(string)
		if ok {
			for _, e := range s.Enum {
				if strings.EqualFold(e, x) {
					return e, nil
				}
			}
		}
		return nil, fmt.Errorf("%s %s is not one of %s", name, show(v), strings.Join(s.Enum, ", "))
	}
	return nil, fmt.Errorf("%s has unknown type %q", name, s.Type)
}

func (s Spec) bounds(name string, f float64) error {
	if s.Min != nil && f < *s.Min {
		return fmt.Errorf("%s %s is below the minimum %s", name, num(f), num(*s.Min))
	}
	if s.Max != nil && f > *s.Max {
		return fmt.Errorf("%s %s is above the maximum %s", name, num(f), num(*s.Max))
	}
	return nil
}

func show(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case nil:
		return "(none)"
	case float64:
		return num(x)
	}
	s := fmt.Sprint(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}

// Args checks args against the command's parameters and returns them
// converted to their types. Errors name the command: "level.set: level 140
// is above the maximum 100".
func (c *Capability) Args(command string, args map[string]any) (map[string]any, error) {
	cmd := c.Command(command)
	if cmd == nil {
		var names []string
		for _, x := range c.Commands {
			names = append(names, x.Name)
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%s.%s: %s takes no commands", c.Name, command, c.Name)
		}
		return nil, fmt.Errorf("%s.%s: no such command; %s has %s", c.Name, command, c.Name, strings.Join(names, ", "))
	}
	out := make(map[string]any, len(cmd.Params))
	for k := range args {
		if !slices.ContainsFunc(cmd.Params, func(p Param) bool { return p.Name == k }) {
			return nil, fmt.Errorf("%s.%s: unknown parameter %q; %s", c.Name, command, k, cmd.usage(c.Name))
		}
	}
	for _, p := range cmd.Params {
		v, ok := args[p.Name]
		if !ok || v == nil {
			if !p.Optional {
				return nil, fmt.Errorf("%s.%s: missing %s (%s); %s", c.Name, command, p.Name, p.Spec.Describe(), cmd.usage(c.Name))
			}
			continue
		}
		x, err := p.Spec.Coerce(p.Name, v)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", c.Name, command, err)
		}
		out[p.Name] = x
	}
	return out, nil
}

func (cmd *Command) usage(capability string) string {
	if len(cmd.Params) == 0 {
		return fmt.Sprintf("%s.%s takes no parameters", capability, cmd.Name)
	}
	var ps []string
	for _, p := range cmd.Params {
		s := p.Name + "=" + p.Spec.Describe()
		if p.Optional {
			s = "[" + s + "]"
		}
		ps = append(ps, s)
	}
	return fmt.Sprintf("%s.%s takes %s", capability, cmd.Name, strings.Join(ps, " "))
}

// UnmarshalJSON reads an attribute and converts its value to its type (JSON
// numbers arrive as float64; an int attribute holds an int64).
func (a *Attribute) UnmarshalJSON(b []byte) error {
	type plain Attribute
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*a = Attribute(p)
	if a.Value != nil {
		if v, err := a.Spec.Coerce(a.Name, a.Value); err == nil {
			a.Value = v
		}
	}
	return nil
}
