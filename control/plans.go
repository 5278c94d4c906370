package control

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/coconet/coconet/identity"
)

// Plan is what an owner may use on a control plane.
type Plan struct {
	Networks int   `json:"networks"` // networks per owner
	Nodes    int   `json:"nodes"`    // registered nodes per network
	Bytes    int64 `json:"bytes"`    // control-plane bytes (relayed + control messages) per network per month
}

// Plans is the operator's plan table and its assignments to owners.
//
// The plans file is JSON:
//
//	{"default": "tier1",
//	 "plans": {"tier1": {"networks": 1, "nodes": 5, "bytes": 500000000}, …},
//	 "owners": {"u…owner user ID…": "tier2"}}
type Plans struct {
	Default string                     `json:"default"`
	Plans   map[string]Plan            `json:"plans"`
	Owners  map[identity.UserID]string `json:"owners,omitempty"`
}

// DefaultPlans are the historical tiers; every owner is on tier1.
func DefaultPlans() *Plans {
	return &Plans{
		Default: "tier1",
		Plans: map[string]Plan{
			"tier1": {Networks: 1, Nodes: 5, Bytes: 500_000_000},
			"tier2": {Networks: 5, Nodes: 100, Bytes: 1_000_000_000},
			"tier3": {Networks: 25, Nodes: 3000, Bytes: 30_000_000_000},
		},
	}
}

// LoadPlans reads a plans file; plans it omits keep their defaults.
func LoadPlans(path string) (*Plans, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("control: plans: %w", err)
	}
	p := DefaultPlans()
	var f Plans
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("control: plans file %s: %w", path, err)
	}
	for name, pl := range f.Plans {
		p.Plans[name] = pl
	}
	if f.Default != "" {
		p.Default = f.Default
	}
	p.Owners = f.Owners
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("control: plans file %s: %w", path, err)
	}
	return p, nil
}

func (p *Plans) check() error {
	if _, ok := p.Plans[p.Default]; !ok {
		return fmt.Errorf("default plan %q is not defined", p.Default)
	}
	for u, name := range p.Owners {
		if _, ok := p.Plans[name]; !ok {
			return fmt.Errorf("owner %s is assigned plan %q, which is not defined", u.Short(), name)
		}
	}
	return nil
}

// For returns the plan of an owner and its name.
func (p *Plans) For(owner identity.UserID) (string, Plan) {
	name, ok := p.Owners[owner]
	if !ok {
		name = p.Default
	}
	return name, p.Plans[name]
}

// LoadOwners reads an operator's allow-list of owners (Config.Owners): one
// owner user ID per line ("u…", the USER column of `coco members NET`); "#" starts a
// comment, blank lines are skipped. An empty list is an error: it would
// serve nobody.
func LoadOwners(path string) ([]identity.UserID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("control: owners: %w", err)
	}
	return parseOwners(path, b)
}

func parseOwners(path string, b []byte) ([]identity.UserID, error) {
	var out []identity.UserID
	seen := map[identity.UserID]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if f := strings.Fields(line); len(f) > 1 {
			return nil, fmt.Errorf("control: owners file %s, line %d: %q is more than one owner ID; put one per line", path, n, line)
		}
		u, err := identity.ParseUserID(line)
		if err != nil {
			return nil, fmt.Errorf("control: owners file %s, line %d: %q is not an owner's user ID (u…, the USER column of `coco members NET`): %v", path, n, line, err)
		}
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("control: owners file %s: %w", path, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("control: owners file %s: %w", path, errNoOwners)
	}
	return out, nil
}

var errNoOwners = errors.New("lists no owner; add one user ID per line, or leave out --owners to serve every owner")
