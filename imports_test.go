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

// faceImporters are the packages below the face that still import it
// today. Each one is a debt, not a permission: the engine refactor of issue
// 18 (point 1) removes them, and the test fails when one no longer imports
// the face, so that this list stays true and only shrinks.
var faceImporters = []string{
	// Features built on *coconet.Node: they reach through Node.Internal(),
	// and home and gateway keep package-level maps keyed by it. They move
	// onto the engine and its slot for attached services.
	module + "/device",
	module + "/gateway",
	module + "/home",
	module + "/ota",
	// The tests' helper builds members through the face; engine-level
	// tests (point 6) replace it.
	module + "/internal/nettest",
}

type listedPackage struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// listPackages runs `go list` over the module.
func listPackages(t *testing.T) []listedPackage {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to list the packages with: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-json=ImportPath,Imports,Deps", "./...")
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
	listed := map[string]bool{}
	for _, p := range pkgs {
		listed[p.ImportPath] = true
		if p.ImportPath == module || aboveFace(p.ImportPath) {
			continue
		}
		// Nothing below the face imports it.
		imports := slices.Contains(p.Imports, module)
		known := slices.Contains(faceImporters, p.ImportPath)
		switch {
		case imports && !known:
			t.Errorf("%s imports the face (package %s); depend on node or on a small interface instead", p.ImportPath, module)
		case !imports && known:
			t.Errorf("%s no longer imports the face: remove it from faceImporters in imports_test.go", p.ImportPath)
		}
		// Nothing below the face links the control plane's server: nodes
		// talk to it through control/controlproto.
		if p.ImportPath != controlServer && slices.Contains(p.Deps, controlServer) {
			t.Errorf("%s depends on the control-plane server (package %s); import %s/controlproto instead", p.ImportPath, controlServer, controlServer)
		}
	}
	// The face itself reaches the control plane through the client too.
	for _, p := range pkgs {
		if p.ImportPath == module && slices.Contains(p.Deps, controlServer) {
			t.Errorf("the face (%s) depends on the control-plane server; import %s/controlproto instead", module, controlServer)
		}
	}
	for _, k := range faceImporters {
		if !listed[k] {
			t.Errorf("faceImporters lists %s, which is not a package of the module any more: remove it", k)
		}
	}
}
