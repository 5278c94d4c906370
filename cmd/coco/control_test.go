package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestControlOwnersFile: `coco control --owners FILE` refuses a file it
// cannot use, saying which line is wrong and what it expects.
func TestControlOwnersFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, text, want string }{
		{"empty", "# nobody yet\n", "lists no owner"},
		{"not an ID", "alice\n", "line 1"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		os.WriteFile(path, []byte(tt.text), 0o600)
		_, errOut, code := coco(t, "", "--home", filepath.Join(dir, "home"), "control", "--owners", path,
			"--listen", "/ip4/127.0.0.1/tcp/0", "--state", filepath.Join(dir, "state"))
		if code == 0 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: coco control --owners = exit %d, %q; want an error saying %q", tt.name, code, errOut, tt.want)
		}
	}
	_, errOut, code := coco(t, "", "--home", filepath.Join(dir, "home"), "control", "--owners", filepath.Join(dir, "missing"))
	if code == 0 || !strings.Contains(errOut, "missing") {
		t.Errorf("coco control --owners MISSING = exit %d, %q; want an error naming the file", code, errOut)
	}
}
