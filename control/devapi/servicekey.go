package devapi

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"os"

	"github.com/coconet/coconet/internal/atomicfile"
)

// LoadServiceKey reads the control plane's service key (an Ed25519 seed)
// from path, making it the first time. The key never leaves the control
// plane: owners delegate to its public half.
func LoadServiceKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != ed25519.SeedSize {
			return nil, fmt.Errorf("devapi: %s is damaged (%d bytes); remove it to make a new service key (owners must then delegate to the new one)", path, len(b))
		}
		return ed25519.NewKeyFromSeed(b), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("devapi: service key: %w", err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(path, k.Seed(), 0o600); err != nil {
		return nil, fmt.Errorf("devapi: save service key: %w", err)
	}
	return k, nil
}
