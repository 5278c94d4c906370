package identity

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/coconet/coconet/internal/atomicfile"
)

// File names inside a coconet home directory.
const (
	seedFile    = "seed" // 32 raw bytes, mode 0600
	profileFile = "identity.json"
)

// Identity is a user as stored in a home directory.
type Identity struct {
	Name string
	Seed Seed
}

// ID is the user's ID.
func (id *Identity) ID() UserID { return id.Seed.UserID() }

type profile struct {
	Name string `json:"name"`
	User UserID `json:"user"`
}

// ErrNoIdentity means the home directory has no identity yet.
var ErrNoIdentity = errors.New("identity: no identity here")

// ErrExists means an identity is already stored in the home directory.
var ErrExists = errors.New("identity: an identity already exists here")

// Save writes the identity into dir (created 0700). The seed file is 0600 and
// written atomically. It refuses to overwrite a different identity.
func Save(dir string, id *Identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("identity: %w", err)
	}
	if old, err := Load(dir); err == nil && old.ID() != id.ID() {
		return fmt.Errorf("%w (%s, user %s)", ErrExists, dir, old.ID().Short())
	}
	if err := atomicfile.Write(filepath.Join(dir, seedFile), id.Seed.b[:], 0o600); err != nil {
		return fmt.Errorf("identity: write seed: %w", err)
	}
	p, _ := json.MarshalIndent(profile{Name: id.Name, User: id.ID()}, "", "  ")
	if err := atomicfile.Write(filepath.Join(dir, profileFile), append(p, '\n'), 0o600); err != nil {
		return fmt.Errorf("identity: write profile: %w", err)
	}
	return nil
}

// Load reads the identity stored in dir.
func Load(dir string) (*Identity, error) {
	raw, err := os.ReadFile(filepath.Join(dir, seedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	seed, err := SeedFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("identity: %s is damaged: %w", filepath.Join(dir, seedFile), err)
	}
	id := &Identity{Seed: seed}
	if b, err := os.ReadFile(filepath.Join(dir, profileFile)); err == nil {
		var p profile
		if json.Unmarshal(b, &p) == nil {
			id.Name = p.Name
		}
	}
	return id, nil
}
