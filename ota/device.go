package ota

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/atomicfile"
)

// FirmwareDir is where a device home installs images: <home>/firmware.
func FirmwareDir(home string) string { return filepath.Join(home, "firmware") }

// UpdaterDir is where a device home keeps partial downloads:
// <home>/ota/device.
func UpdaterDir(home string) string { return filepath.Join(StoreDir(home), "device") }

// Installed is what a device runs, as DirHook records it in
// <dir>/current.json.
type Installed struct {
	Model     string    `json:"model,omitempty"`
	Version   string    `json:"version"`
	SHA256    string    `json:"sha256"`
	Path      string    `json:"path"`
	AppliedAt time.Time `json:"applied_at"`
}

// ReadInstalled reads <dir>/current.json; with none, the zero Installed.
func ReadInstalled(dir string) (Installed, error) {
	var in Installed
	b, err := os.ReadFile(filepath.Join(dir, "current.json"))
	if errors.Is(err, os.ErrNotExist) {
		return in, nil
	}
	if err != nil {
		return in, fmt.Errorf("ota: read installed firmware: %w", err)
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return in, fmt.Errorf("ota: %s: %w", filepath.Join(dir, "current.json"), err)
	}
	return in, nil
}

// DirHook is the apply hook of a device run by the daemon: it copies the
// image to <dir>/<version>.bin and records it as the running firmware in
// <dir>/current.json (both written atomically).
func DirHook(dir string) ApplyFunc {
	return func(ctx context.Context, path string, a Authorization) error {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		dst := filepath.Join(dir, a.Version+".bin")
		if err := copyFile(ctx, path, dst); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(Installed{Model: a.Model, Version: a.Version, SHA256: a.SHA256, Path: dst, AppliedAt: time.Now().UTC()}, "", "  ")
		return atomicfile.Write(filepath.Join(dir, "current.json"), append(b, '\n'), 0o600)
	}
}

func copyFile(ctx context.Context, src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".new-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = io.Copy(tmp, &ctxReader{ctx, in})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	return atomicfile.SyncDir(filepath.Dir(dst))
}

// StartDevice starts the Updater of a device home's node n: partial
// downloads in UpdaterDir(home), images installed by DirHook into
// FirmwareDir(home), whose current.json gives the running version (and
// the model, when model is "").
func StartDevice(n *engine.Engine, home, model string, logf func(string, ...any)) (*Updater, error) {
	in, err := ReadInstalled(FirmwareDir(home))
	if err != nil {
		return nil, err
	}
	if model == "" {
		model = in.Model
	}
	u := &Updater{Engine: n, Dir: UpdaterDir(home), Model: model, Version: in.Version, Apply: DirHook(FirmwareDir(home)), Logf: logf}
	if err := u.Start(); err != nil {
		return nil, err
	}
	return u, nil
}
