package homedir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/coconet/coconet/devnet"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/internal/atomicfile"
	"github.com/coconet/coconet/ledger"
)

// AdoptAuthKey stores in home the developer network an auth key is for, if
// it is not there yet: its ledger, started from the genesis the key
// carries (the node syncs the governance ops from its peers), and the
// control planes the key names. A home without an identity gets one (named
// as Init names it). It returns the network's ID.
func AdoptAuthKey(home string, k *devnet.AuthKey) (ledger.NetworkID, error) {
	if _, err := LoadIdentity(home); errors.Is(err, ErrNoIdentity) {
		if _, err := Init(home, ""); err != nil {
			return ledger.NetworkID{}, err
		}
	} else if err != nil {
		return ledger.NetworkID{}, err
	}
	g, err := k.GenesisOp()
	if err != nil {
		return ledger.NetworkID{}, err
	}
	id := ledger.NetworkID(g.ID())
	dir := NetworkDir(home, id)
	if _, err := os.Stat(LedgerDir(home, id)); err != nil {
		tmp, err := os.MkdirTemp(mkdirs(networksDir(home)), ".authkey-")
		if err != nil {
			return id, err
		}
		defer os.RemoveAll(tmp)
		if _, err := ledger.Init(filepath.Join(tmp, "ledger"), g, nil); err != nil {
			return id, fmt.Errorf("the auth key's network: %w", err)
		}
		if err := os.Rename(tmp, dir); err != nil {
			return id, err
		}
	}
	if len(k.Control) > 0 {
		b, _ := json.MarshalIndent(MergeControls(k.Control, SavedControls(dir)), "", "  ")
		if err := atomicfile.Write(filepath.Join(dir, controlsFile), b, 0o600); err != nil {
			return id, err
		}
	}
	return id, nil
}

// roleIn names u's standing in a network for listings: its role, "node"
// for a developer network's node that is a member by credential (not in
// the ledger), "removed" for a user the ledger no longer lists.
func roleIn(st *ledger.State, u identity.UserID) string {
	switch r := st.Role(u); {
	case r != ledger.RoleNone:
		return r.String()
	case st.Kind == ledger.NetKindDeveloper:
		return "node"
	}
	return "removed"
}
