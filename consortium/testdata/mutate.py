# Mutation checks of the consortium security tests: each removes one check and
# expects the named tests to fail. Run from consortium/: python3 testdata/mutate.py [name...]
import subprocess, sys
muts = [
 ("signature check", "gov.go", "\t\tif !ecdsa.VerifyASN1(k, h[:], req.Sig) {\n\t\t\treturn nil, \"\", ErrBadSignature\n\t\t}", "\t\t_, _ = k, h", "TestAttackForgedCertificate|TestAttackBallotReplay"),
 ("member lookup", "gov.go", "\tif !ok {\n\t\treturn nil, \"\", ErrNotMember\n\t}\n\tif !bytes.Equal(stored, req.Cert) {", "\tif !ok {\n\t\tstored = req.Cert\n\t}\n\tif !bytes.Equal(stored, req.Cert) {", "TestAttackParticipantVotes|TestAttackRemovedMemberBallot"),
 ("consortium binding", "gov.go", "\t\treturn nil, \"\", ErrWrongConsortium", "\t\t_ = 0", "TestAttackBallotReplay"),
 ("one ballot per member", "state.go", "\t\t\treturn p, 0, ErrAlreadyVoted, nil", "\t\t\t_ = 0", "TestAttackBallotReplay"),
 ("CA chain", "gov.go", "\tif len(c.CAs) > 0 {\n\t\troots", "\tif false {\n\t\troots", "TestAttackForgedCertificate"),
 ("code manifest", "gov.go", "\tif !c.Code[hex.EncodeToString(n.CodeHash)] {", "\tif false {", "TestNodeJoinAndRemove"),
 ("gov table write", "state.go", "\tif strings.HasPrefix(table, \"gov.\") || !tableName", "\tif !tableName", "TestAttackParticipantVotes"),
 ("caller check", "state.go", "\tif tx.Bucket(bMembers).Get([]byte(txn.Caller)) == nil && tx.Bucket(bParticipants).Get([]byte(txn.Caller)) == nil {", "\tif false {", "TestAttackParticipantVotes"),
 ("unlisted node in Receive", "node.go", "\t\tif _, self := c.Nodes[n.cfg.ID]; self || !n.cfg.Join {", "\t\tif false {", "TestAttackUnlistedNode"),
 ("link spoofing", "node.go", "\tif m.GetFrom() != from || m.GetTo() != n.cfg.ID || raft.IsLocalMsg(m.GetType()) {", "\tif false {", "TestAttackUnlistedNode"),
 ("conf change check", "node.go", "\tif !ok {\n\t\tn.cfg.Logf(", "\tif false {\n\t\tn.cfg.Logf(", "TestAttackUnlistedNode"),
 ("veto", "gov.go", "\t\tif slices.Contains(c.Policy.Veto, m) {", "\t\tif false {", "TestVetoAndPerActionThreshold"),
 ("read set", "state.go", "\t\tif cur != r.Version {", "\t\tif false {", "TestReadSetConflict"),
 ("api caller check", "api.go", "if stored == nil || (membersOnly && !member) || !bytes.Equal(stored, cert.Raw) {", "if stored == nil || !bytes.Equal(stored, cert.Raw) {", "TestAPIOverMutualTLS"),
 ("stale commit index", "node.go", "if applied, _ := st.applied(); ws.HardState.GetCommit() < applied {", "if applied, _ := st.applied(); false && ws.HardState.GetCommit() < applied {", "TestRestartWithStaleCommitIndex"),
 ("execute read set", "exec.go", "\t\tr.reads = append(r.reads, Read{Table: table, Key: bytes.Clone(key), Version: ver})", "\t\t_ = ver", "TestExecuteTransfers"),
 ("heartbeat clamp", "node.go", "if last, err := n.storage.LastIndex(); err == nil && m.GetCommit() > last {", "if last, err := n.storage.LastIndex(); false && err == nil && m.GetCommit() > last {", "TestAttackUnlistedNode"),
 ("private sealing", "private.go", "\t\tout[i].Value = n.cfg.LedgerSecret.seal(n.gid, w.Table, w.Key, w.Value)", "\t\t_ = 0", "TestPrivateTableSealed"),
 ("recovered secret check", "private.go", "\tif subtle.ConstantTimeCompare(h[:], r.SecretHash) != 1 {", "\tif false && subtle.ConstantTimeCompare(h[:], r.SecretHash) != 1 {", "TestRecoveryFromShares"),
 ("empty conf state", "node.go", "\tif len(cs.GetVoters()) == 0 {", "\tif false {", "TestConfChangeWhileStopping"),
 ("apply dedupe", "node.go", "\t\t\t\t\tif reqs.Get(peek.Req) != nil {", "\t\t\t\t\tif false {", "TestReproposalAppliedOnce"),
]
only = sys.argv[1:] 
for name, f, old, new, tests in muts:
    if only and name not in only: continue
    src = open(f).read()
    assert src.count(old) == 1, (name, src.count(old))
    open(f, "w").write(src.replace(old, new))
    try:
        r = subprocess.run(["go", "test", "-count=1", "-run", tests, "./"], capture_output=True, text=True)
        out = r.stdout + r.stderr
        fails = [l.strip() for l in out.splitlines() if "--- FAIL" in l or "build failed" in l or "declared and not used" in l]
        print(f"{name:28s} {'FAILS (good)' if r.returncode else 'PASSES (BAD)'}  {fails[:3]}")
    finally:
        open(f, "w").write(src)
