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
func (f *fake) ConsortiumDelete(c ctx, n, table, key string) (ConsortiumPutResult, error) {
	return ret[ConsortiumPutResult](f, "ConsortiumDelete", n, table, key)
}
func (f *fake) ConsortiumRange(c ctx, n, table string, r ConsortiumRangeRequest) (ConsortiumRange, error) {
	return ret[ConsortiumRange](f, "ConsortiumRange", n, table, r)
}
func (f *fake) ConsortiumWithdraw(c ctx, n, p string) (ConsortiumProposal, error) {
	return ret[ConsortiumProposal](f, "ConsortiumWithdraw", n, p)
}
func (f *fake) ConsortiumRecoveryShare(c ctx, n string) (ConsortiumShare, error) {
	return ret[ConsortiumShare](f, "ConsortiumRecoveryShare", n)
}
func (f *fake) ConsortiumRecoverySubmit(c ctx, n string, r ConsortiumShare) (ConsortiumRecovery, error) {
	return ret[ConsortiumRecovery](f, "ConsortiumRecoverySubmit", n, r)
}
func (f *fake) ConsortiumRecoveryStatus(c ctx, n string) (ConsortiumRecovery, error) {
	return ret[ConsortiumRecovery](f, "ConsortiumRecoveryStatus", n)
}
func (f *fake) ConsortiumRekey(c ctx, n string) (ConsortiumProposal, error) {
	return ret[ConsortiumProposal](f, "ConsortiumRekey", n)
}
