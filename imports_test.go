package coconet_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import rules of issue 18: the root package is a thin face on top, and
// nothing below it imports it; the engine reaches the control plane through
// its client package, never the server. TestImportRules checks them on the
// packages' own files (not their tests, which may drive the face as users
// do).
const (
	module        = "github.com/coconet/coconet"
	controlServer = module + "/control"
)

// aboveFace reports whether a package sits above the face: the programs
// and the local API, which use the library as its users do.
func aboveFace(path string) bool {
	rel := strings.TrimPrefix(path, module+"/")
	for _, p := range []string{"cmd/", "bench/", "examples/"} {
		if strings.HasPrefix(rel, p) {
			return true
		}
	}
	return rel == "api" || rel == "daemon"
}

// serverPart says whether path is a part of the control-plane server
// served by `coco control` (not its client, controlproto).
func serverPart(path string) bool {
	return strings.HasPrefix(path, controlServer+"/") && path != controlServer+"/controlproto"
}

// features are the packages that attach to a running engine. The engine
// sits below them and never depends on one: they find it through the slot
// for attached services (engine.Attach), it never looks for them.
var features = []string{
	module + "/home", module + "/gateway", module + "/ota", module + "/device",
	module + "/daemon", module + "/api",
}

type listedPackage struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
	Deps         []string
}

// listPackages runs `go list` over the module.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the packages with: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-json=ImportPath,Imports,TestImports,XTestImports,Deps", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./... = %v: %s", err, stderr.Bytes())
	}
	var pkgs []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list ./... listed %d packages, want the whole module", len(pkgs))
	}
	return pkgs
}

func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	for _, p := range pkgs {
		if p.ImportPath == module || aboveFace(p.ImportPath) {
			continue
		}
		// Nothing below the face imports it, not even its tests: they test
		// the engine and the features on it, not the face.
		if slices.Contains(p.Imports, module) {
			t.Errorf("%s imports the face (package %s); depend on the engine or on a small interface instead", p.ImportPath, module)
		}
		if slices.Contains(p.TestImports, module) || slices.Contains(p.XTestImports, module) {
			t.Errorf("%s's tests import the face (package %s); build engines with engine.StartIn or internal/nettest", p.ImportPath, module)
		}
		// Nothing below the face links the control plane's server: nodes
		// talk to it through control/controlproto. The server's own parts
		// (control/devapi, the REST API in front of it) are the exception.
		if p.ImportPath != controlServer && !serverPart(p.ImportPath) && slices.Contains(p.Deps, controlServer) {
			t.Errorf("%s depends on the control-plane server (package %s); import %s/controlproto instead", p.ImportPath, controlServer, controlServer)
		}
	}
	for _, p := range pkgs {
		switch p.ImportPath {
		case module:
			// The face reaches the control plane through the client too.
			if slices.Contains(p.Deps, controlServer) {
				t.Errorf("the face (%s) depends on the control-plane server; import %s/controlproto instead", module, controlServer)
			}
		case module + "/engine":
			for _, f := range features {
				if slices.Contains(p.Deps, f) {
					t.Errorf("the engine depends on %s, a feature attached to it; the feature attaches itself (engine.Attach)", f)
				}
			}
		}
	}
}
