package api

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// module is the path of coconet's Go module.
const module = "github.com/coconet/coconet"

// allowedImports are the packages of the module api may import: types
// whose JSON is their own and stable (a user's ID, a network's ID), not
// engine or feature structs. api owns its wire types: a package of the
// engine or of a feature (home, gateway, ota, device, node, homedir,
// control, transfer, tunnel, engine, the root face…) would let a rename
// there change the REST API.
var allowedImports = []string{
	module + "/identity", // identity.UserID: base32 text
	module + "/ledger",   // ledger.NetworkID: base32 text
}

// TestImports: api, its tests included, imports no package of the module
// outside allowedImports.
func TestImports(t *testing.T) {
	p, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imps := range [][]string{p.Imports, p.TestImports, p.XTestImports} {
		for _, imp := range imps {
			if (imp == module || strings.HasPrefix(imp, module+"/")) && !slices.Contains(allowedImports, imp) {
				t.Errorf("api imports %s; the API declares its own types (see allowedImports)", imp)
			}
		}
	}
}
