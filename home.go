package coconet

import (
	"context"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/homedir"
	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/ledger"
)

// The home directory, for embedders: the face's shortcuts to package
// homedir, which holds the rest (finding, adopting, forgetting networks,
// the daemon lock).

// NetworkInfo summarizes a network this identity belongs to.
type NetworkInfo = homedir.NetworkInfo

// JoinOptions tune Join.
type JoinOptions = homedir.JoinOptions

// DefaultHome is $COCO_HOME, or ~/.coco.
func DefaultHome() string { return homedir.DefaultHome() }

// Init creates the identity of a new home (see homedir.Init).
func Init(home, name string) (*identity.Identity, error) { return homedir.Init(home, name) }

// CreateNetwork creates a network owned by home's identity (see
// homedir.CreateNetwork).
func CreateNetwork(home, name, kind, app string) (*ledger.Log, error) {
	return homedir.CreateNetwork(home, name, kind, app)
}

// Networks lists the networks home's identity belongs to.
func Networks(home string) ([]NetworkInfo, error) { return homedir.Networks(home) }

// Join redeems an invite code into home (see homedir.Join); a Node started
// on the network then reaches the inviter by itself.
func Join(ctx context.Context, home, code string, opts JoinOptions) (*ledger.Log, []peer.AddrInfo, error) {
	return homedir.Join(ctx, home, code, opts)
}
