package daemon

import "testing"

// TestWireConsortiumJSON: the consortium's conversions keep every field.
func TestWireConsortiumJSON(t *testing.T) {
	same(t, "wireConsortiumNode", wireConsortiumNode, nil)
	same(t, "unwireConsortiumNode", unwireConsortiumNode, nil)
	// Actions: set_policy (Policy) is not in the API yet.
}
