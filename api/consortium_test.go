package api

func (f *fake) ConsortiumStart(c ctx, n string, r ConsortiumStartRequest) (ConsortiumStatus, error) {
	return ret[ConsortiumStatus](f, "ConsortiumStart", n, r)
}
func (f *fake) ConsortiumStatus(c ctx, n string) (ConsortiumStatus, error) {
	return ret[ConsortiumStatus](f, "ConsortiumStatus", n)
}
func (f *fake) ConsortiumIdentity(c ctx, n string) (ConsortiumIdentity, error) {
	return ret[ConsortiumIdentity](f, "ConsortiumIdentity", n)
}
func (f *fake) ConsortiumPut(c ctx, n, table, key string, r ConsortiumPutRequest) (ConsortiumPutResult, error) {
	return ret[ConsortiumPutResult](f, "ConsortiumPut", n, table, key, r)
}
func (f *fake) ConsortiumGet(c ctx, n, table, key string) (ConsortiumValue, error) {
	return ret[ConsortiumValue](f, "ConsortiumGet", n, table, key)
}
func (f *fake) ConsortiumProposals(c ctx, n string) ([]ConsortiumProposal, error) {
	return ret[[]ConsortiumProposal](f, "ConsortiumProposals", n)
}
func (f *fake) ConsortiumPropose(c ctx, n string, r ConsortiumProposeRequest) (ConsortiumProposal, error) {
	return ret[ConsortiumProposal](f, "ConsortiumPropose", n, r)
}
func (f *fake) ConsortiumVote(c ctx, n, p string, r ConsortiumVoteRequest) (ConsortiumProposal, error) {
	return ret[ConsortiumProposal](f, "ConsortiumVote", n, p, r)
}
