package consortium

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Proposals lists the proposals of the governance table (open and
// resolved), read linearizably, in the order of their IDs.
func (n *Node) Proposals(ctx context.Context) ([]*ProposalInfo, error) {
	if err := n.sync(ctx); err != nil {
		return nil, err
	}
	var out []*ProposalInfo
	err := n.st.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bProposals).ForEach(func(k, v []byte) error {
			var p ProposalInfo
			if err := decMode.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("consortium: proposal %s: %w", k, err)
			}
			out = append(out, &p)
			return nil
		})
	})
	return out, err
}
