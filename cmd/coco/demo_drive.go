package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/coconet/coconet/drive/drivenode"
	"github.com/coconet/coconet/engine"
)

// demoDrive: alice writes a file to a drive of the network; bob's node
// gets the drive's key from alice's (checked against the drive's logs),
// syncs and reads it; neither store holds the text in clear.
func (d *demo) demoDrive(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	svc := map[string]*drivenode.Service{}
	for _, name := range []string{"alice", "bob"} {
		dir := filepath.Join(d.homes[name], "demo-drives")
		s, err := engine.Attach(d.nodes[name], func(e *engine.Engine) (*drivenode.Service, error) {
			return drivenode.Start(e, dir, drivenode.Options{Every: -1})
		})
		if err != nil {
			return fmt.Errorf("%s's drive service: %w", name, err)
		}
		svc[name] = s
	}
	start := time.Now()
	info, err := svc["alice"].Create("shared")
	if err != nil {
		return fmt.Errorf("alice creates the drive: %w", err)
	}
	da, err := svc["alice"].Member(ctx, "shared")
	if err != nil {
		return err
	}
	text := []byte("The spare key is under the blue flowerpot.\n")
	if _, err := da.Drive.WriteFile("notes/spare-key.txt", text); err != nil {
		return fmt.Errorf("alice writes: %w", err)
	}
	d.line("alice created the drive \"shared\" (address %s…) and wrote notes/spare-key.txt (%d bytes): contents and name", info.Address.String()[:16], len(text))
	d.line("sealed with XChaCha20-Poly1305, the entry signed in alice's own log; her writer key is certified in the ledger")
	db, err := svc["bob"].Member(ctx, "shared")
	if err != nil {
		return fmt.Errorf("bob opens the drive: %w", err)
	}
	if _, err := svc["bob"].Sync(ctx, "shared"); err != nil {
		return fmt.Errorf("bob syncs: %w", err)
	}
	if err := svc["bob"].Fetch(ctx, db, "notes/spare-key.txt"); err != nil {
		return fmt.Errorf("bob fetches: %w", err)
	}
	got, err := db.Drive.ReadFile("notes/spare-key.txt")
	if err != nil || !bytes.Equal(got, text) {
		return fmt.Errorf("bob read %q, %v", got, err)
	}
	d.line("bob's node got the key from alice's (an admin's node; checked: it opens alice's log), synced and read the file in %s",
		time.Since(start).Round(time.Millisecond))
	clear := false
	for _, name := range []string{"alice", "bob"} {
		filepath.WalkDir(filepath.Join(d.homes[name], "demo-drives"), func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || filepath.Ext(p) == ".json" { // the .json record holds the key, not content
				return nil
			}
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("flowerpot")) || bytes.Contains(b, []byte("spare-key")) {
				clear = true
			}
			return nil
		})
	}
	if clear {
		return fmt.Errorf("a drive store holds the text or the name in clear")
	}
	d.line("neither store holds the text or the file name in clear; a blind replica (`coco drive replicate`) would hold only that")
	d.set("drive", "shared")
	d.set("address", info.Address.String())
	d.set("path", "notes/spare-key.txt")
	d.set("bytes", len(text))
	d.set("read_by", "bob")
	d.set("plaintext_on_disk", clear)
	return nil
}
