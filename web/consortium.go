package web

import (
	"net/http"

	"github.com/coconet/coconet/api"
)

// The consortium page: the validating node's view (leader, applied index,
// voters, members, nodes), this user's identity to hand to a genesis or a
// proposal, and the proposals with their ballots, to propose and vote.
// Before the node runs it offers to start it from a genesis file.

type consortiumData struct {
	Status    api.ConsortiumStatus
	Running   bool
	StatusErr string
	Identity  api.ConsortiumIdentity
	IDErr     string
	Proposals []api.ConsortiumProposal
	Kinds     []string
}

func (s *Server) consortium(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": consortium"
	ctx, id := r.Context(), v.Net.ID.String()
	d := &consortiumData{Kinds: []string{"add_member", "remove_member", "add_participant", "remove_participant",
		"add_node", "remove_node", "allow_code", "remove_code", "allow_env", "remove_env", "add_ca", "remove_ca"}}
	v.Data = d
	var err error
	if d.Identity, err = s.svc.ConsortiumIdentity(ctx, id); err != nil {
		d.IDErr = err.Error()
	}
	if d.Status, err = s.svc.ConsortiumStatus(ctx, id); err != nil {
		d.StatusErr = err.Error() // not started here yet
		return nil
	}
	d.Running = true
	d.Proposals, err = s.svc.ConsortiumProposals(ctx, id)
	return err
}
