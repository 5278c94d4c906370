package drivenode

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/internal/enginetest"
	"github.com/coconet/coconet/ledger"
)

// eventually retries f until it returns nil or ctx ends (a ledger op
// travels to the other nodes within a round trip, not at once).
func eventually(t *testing.T, ctx context.Context, what string, f func() error) {
	t.Helper()
	for {
		err := f()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// rogue is a modified client of a member of drive addr: a store that
// accepts every writer, holding a copy of what from holds, with the drive
// opened by key and secret.
func rogue(t *testing.T, from *drive.Store, secret [32]byte, key []byte) (*drive.Store, *drive.Drive) {
	t.Helper()
	st, err := drive.OpenStore(t.TempDir(), from.Address(), drive.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	copyLogs(t, from, st)
	d, err := drive.Open(st, secret, key, drive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st, d
}

// copyLogs gives to every block and chunk from holds (by the protocol's
// batches, so to checks them).
func copyLogs(t *testing.T, from, to *drive.Store) {
	t.Helper()
	for _, h := range from.Heads() {
		for n := to.Head(h.Writer).Size; n < h.Size; {
			b, ok := from.BatchFrom(h.Writer, n, 256, 1<<20)
			if !ok {
				break
			}
			if err := to.AddBatch(b); err != nil {
				t.Fatalf("copy the log of %s: %v", h.Writer.Short(), err)
			}
			n = b.Root.Size
		}
	}
	for _, h := range to.MissingChunks() {
		if c, err := from.Chunk(h); err == nil {
			to.AddChunk(h, c)
		}
	}
}

// newer returns the batch of w's blocks in st after n.
func newer(t *testing.T, st *drive.Store, w drive.WriterID, n uint64) drive.Batch {
	t.Helper()
	b, ok := st.BatchFrom(w, n, 256, 1<<20)
	if !ok {
		t.Fatalf("no block of %s after %d", w.Short(), n)
	}
	return b
}

// TestWriterCerts: who may write a network drive is decided by the
// ledger. The owner's and an admin's writer keys are certified by their
// own users and sync; blocks of a guest's writer key, of a stranger's,
// and of a writer key an admin claims without holding it are refused by
// every replica, a blind one included.
func TestWriterCerts(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	n.AddUser("carol", ledger.RoleAdmin)
	dave := n.AddUser("dave", ledger.RoleGuest)
	eve := n.Stranger("eve")
	a := n.Start("alice", enginetest.Options{})
	b := n.Start("bob", enginetest.Options{})
	c := n.Start("carol", enginetest.Options{})
	n.WaitConnected(a, b, c)
	sa, sb, sc := attach(t, a, -1), attach(t, b, -1), attach(t, c, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	info, err := sa.Create("docs")
	if err != nil {
		t.Fatal(err)
	}
	addr := info.Address
	da, _ := sa.Member(ctx, "docs")
	da.Drive.WriteFile("a.txt", []byte("from alice"))
	db, err := sb.Member(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	db.Drive.WriteFile("b.txt", []byte("from bob"))
	if _, err := sc.Replicate("docs"); err != nil { // carol's node holds it blind
		t.Fatal(err)
	}
	rc, _ := sc.Open(ctx, "docs")
	eventually(t, ctx, "the admins' writes reach every replica", func() error {
		sa.Sync(ctx, "docs")
		sb.Sync(ctx, "docs")
		sc.Sync(ctx, "docs")
		for _, st := range []*drive.Store{da.Store, db.Store, rc.Store} {
			if st.Head(da.Drive.Writer()).Size == 0 || st.Head(db.Drive.Writer()).Size == 0 {
				return errors.New("a log is missing")
			}
		}
		return nil
	})
	if rc.Drive != nil {
		t.Fatal("the replicator holds the key")
	}

	// Writers no member certified: a guest's (its cert is refused by the
	// ledger: guests cannot put drive certs), a stranger's, and alice's
	// key used by a modified client of bob's that claims it in the
	// ledger without the key's signature.
	secret := dave.Seed.DriveSecret(addr) // any secret: the replicas check no content
	daveKey := dave.Seed.DriveWriterKey(addr)
	if _, err := b.Ledger().Append(dave.Seed.UserKey(), ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDriveCert,
		Key: drive.CertifyWriter(daveKey, addr, dave.ID()).Key(), Value: drive.CertifyWriter(daveKey, addr, dave.ID()).Marshal()}); err == nil {
		t.Fatal("the ledger took a guest's drive cert")
	}
	forged := drive.CertifyWriter(eve.Seed.DriveWriterKey(addr), addr, b.User())
	forged.Sig[0] ^= 1
	if _, err := b.Append(ledger.Op{Kind: ledger.KindPut, Table: ledger.TableDriveCert, Key: forged.Key(), Value: forged.Marshal()}); err != nil {
		t.Fatal(err)
	}
	for _, who := range []struct {
		name string
		key  []byte
	}{{"a guest", daveKey}, {"a stranger", eve.Seed.DriveWriterKey(addr)}} {
		st, d := rogue(t, da.Store, secret, who.key)
		if _, err := d.WriteFile("intruder.txt", []byte("x")); err != nil {
			t.Fatal(err)
		}
		batch := newer(t, st, d.Writer(), 0)
		for _, r := range []struct {
			name string
			st   *drive.Store
		}{{"alice's node", da.Store}, {"bob's node", db.Store}, {"the blind replica", rc.Store}} {
			if err := r.st.AddBatch(batch); !errors.Is(err, drive.ErrNotAllowed) {
				t.Errorf("%s took the blocks of %s's writer: %v, want ErrNotAllowed", r.name, who.name, err)
			}
		}
	}
}

// TestRemovedWriterRefused: once bob is removed, what he writes
// afterwards is refused by every replica, blind ones included, even when
// a modified client of his hands it over through another path; what he
// wrote before stays.
func TestRemovedWriterRefused(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	n.AddUser("carol", ledger.RoleAdmin)
	bob := n.User("bob")
	a := n.Start("alice", enginetest.Options{})
	b := n.Start("bob", enginetest.Options{})
	c := n.Start("carol", enginetest.Options{})
	n.WaitConnected(a, b, c)
	sa, sb, sc := attach(t, a, -1), attach(t, b, -1), attach(t, c, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := sa.Create("docs"); err != nil {
		t.Fatal(err)
	}
	da, _ := sa.Member(ctx, "docs")
	db, err := sb.Member(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	db.Drive.WriteFile("before.txt", []byte("bob, still a member"))
	sc.Replicate("docs")
	rc, _ := sc.Open(ctx, "docs")
	bw := db.Drive.Writer()
	eventually(t, ctx, "bob's write reaches alice and the replica", func() error {
		sb.Sync(ctx, "docs")
		if da.Store.Head(bw).Size == 0 || rc.Store.Head(bw).Size == 0 {
			return errors.New("not yet")
		}
		return nil
	})
	held := da.Store.Head(bw).Size

	n.Remove("bob")
	eventually(t, ctx, "the removal reaches carol's ledger", func() error {
		if _, ok := c.Ledger().State().Members[bob.ID()]; ok {
			return errors.New("not yet")
		}
		return nil
	})
	// bob's modified client writes on, in a store that takes anything.
	var secret [32]byte
	{
		b, _ := hex.DecodeString(db.meta.Secret)
		copy(secret[:], b)
	}
	st, d := rogue(t, db.Store, secret, bob.Seed.DriveWriterKey(da.Address))
	if _, err := d.WriteFile("after.txt", []byte("bob, removed")); err != nil {
		t.Fatal(err)
	}
	batch := newer(t, st, bw, held)
	for _, r := range []struct {
		name string
		st   *drive.Store
	}{{"alice's node", da.Store}, {"carol's blind replica", rc.Store}} {
		if err := r.st.AddBatch(batch); !errors.Is(err, drive.ErrNotAllowed) {
			t.Errorf("%s took a removed member's later blocks: %v, want ErrNotAllowed", r.name, err)
		}
		if got := r.st.Head(bw).Size; got != held {
			t.Errorf("%s holds %d blocks of bob's, want the %d written before", r.name, got, held)
		}
	}
	da.Drive.Refresh()
	if _, err := da.Drive.Stat("before.txt"); err != nil {
		t.Errorf("a file bob wrote before his removal is gone: %v", err)
	}
}

// TestRotateOnRemoval: removing a member starts a new key epoch; the
// remaining members read what is written afterwards, the removed one
// cannot, even holding every block of the drive and its old key.
func TestRotateOnRemoval(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	n.AddUser("carol", ledger.RoleAdmin)
	carol := n.User("carol")
	a := n.Start("alice", enginetest.Options{})
	b := n.Start("bob", enginetest.Options{})
	c := n.Start("carol", enginetest.Options{})
	n.WaitConnected(a, b, c)
	sa, sb, sc := attach(t, a, -1), attach(t, b, -1), attach(t, c, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := sa.Create("docs"); err != nil {
		t.Fatal(err)
	}
	da, _ := sa.Member(ctx, "docs")
	db, err := sb.Member(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	dc, err := sc.Member(ctx, "docs")
	if err != nil {
		t.Fatal(err)
	}
	da.Drive.WriteFile("before.txt", []byte("for all three"))
	if da.Drive.Epoch() != 0 {
		t.Fatalf("epoch %d before any removal", da.Drive.Epoch())
	}
	// Nothing to rotate while every reader is a member.
	sa.Sync(ctx, "docs")
	if got := da.Drive.Epoch(); got != 0 {
		t.Fatalf("epoch %d with no removal", got)
	}

	n.Remove("carol")
	sa.Sync(ctx, "docs") // alice's node sees the removal and rotates
	if got := da.Drive.Epoch(); got != 1 {
		t.Fatalf("alice's epoch after carol's removal = %d, want 1", got)
	}
	if _, err := da.Drive.WriteFile("after.txt", []byte("not for carol")); err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "bob's node takes the new epoch and reads after.txt", func() error {
		sb.Sync(ctx, "docs")
		if err := sb.Fetch(ctx, db, "after.txt"); err != nil {
			return err
		}
		got, err := db.Drive.ReadFile("after.txt")
		if err == nil && string(got) != "not for carol" {
			t.Fatalf("bob read %q", got)
		}
		return err
	})
	if got := db.Drive.Epoch(); got != 1 {
		t.Errorf("bob's epoch = %d, want 1", got)
	}
	// A rotation is done once: bob's node does not start another.
	sb.Sync(ctx, "docs")
	if got := db.Drive.Epoch(); got != 1 {
		t.Errorf("bob's epoch after another sync = %d, want 1", got)
	}

	// carol's modified client holds every block (from a leak, or a
	// replica) and her old key: she reads what was there, not after.txt,
	// and no epoch record opens with her writer key.
	var secret [32]byte
	{
		b, _ := hex.DecodeString(dc.meta.Secret)
		copy(secret[:], b)
	}
	_, d := rogue(t, da.Store, secret, carol.Seed.DriveWriterKey(da.Address))
	if _, err := d.ReadFile("before.txt"); err != nil {
		t.Errorf("carol cannot read what was written before: %v", err)
	}
	if _, err := d.Stat("after.txt"); err == nil {
		t.Fatal("a removed member reads a file written after her removal")
	}
	for _, r := range epochRecords(a.Ledger().State(), da.Address) {
		if _, err := r.Open(carol.Seed.DriveWriterKey(da.Address)); err == nil {
			t.Fatalf("the key of epoch %d is sealed to the removed member", r.Epoch)
		}
	}
}

// TestWrongSecret: a member node that hands out a wrong secret (a
// modified client, or a damaged record) is detected: bob's node checks
// the secret against the drive's logs and refuses it, and takes the
// right one from an honest node.
func TestWrongSecret(t *testing.T) {
	n := enginetest.New(t, "alice")
	n.AddUser("bob", ledger.RoleAdmin)
	n.AddUser("mallory", ledger.RoleAdmin)
	a := n.Start("alice", enginetest.Options{})
	m := n.Start("mallory", enginetest.Options{})
	n.WaitConnected(a, m)
	sa := attach(t, a, -1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	info, err := sa.Create("docs")
	if err != nil {
		t.Fatal(err)
	}
	da, _ := sa.Member(ctx, "docs")
	da.Drive.WriteFile("a.txt", []byte("from alice"))

	// mallory's node holds the drive with a secret of its own making.
	dir := filepath.Join(t.TempDir(), "drives")
	os.MkdirAll(dir, 0o700)
	var wrong [32]byte
	rand.Read(wrong[:])
	rec, _ := json.Marshal(meta{Name: "docs", Role: RoleMember, Secret: hex.EncodeToString(wrong[:])})
	if err := os.WriteFile(filepath.Join(dir, info.Address.String()+".json"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	sm, err := engine.Attach(m, func(e *engine.Engine) (*Service, error) {
		return Start(e, dir, Options{Every: -1, PeerTimeout: 10 * time.Second})
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, ctx, "mallory's node holds alice's log", func() error {
		sm.Sync(ctx, "docs")
		dm, _ := sm.Open(ctx, "docs")
		if dm.Store.Head(da.Drive.Writer()).Size == 0 {
			return errors.New("not yet")
		}
		return nil
	})

	// bob's node reaches only mallory's.
	b := n.Start("bob", enginetest.Options{Alone: true})
	n.Link(b, m)
	n.Introduce(b, m)
	n.WaitConnected(b, m)
	sb := attach(t, b, -1)
	if _, err := sb.Open(ctx, "docs"); !errors.Is(err, drive.ErrWrongSecret) {
		t.Fatalf("open with only a liar to ask: %v, want ErrWrongSecret", err)
	}
	if d := sb.get(info.Address); d != nil {
		t.Fatal("bob's node keeps the drive with the wrong secret")
	}

	// With alice's node in reach, bob's takes the right secret.
	n.Link(b, a)
	n.Introduce(b, a)
	n.WaitConnected(a, b)
	var db *Drive
	eventually(t, ctx, "bob opens the drive", func() error {
		db, err = sb.Open(ctx, "docs")
		return err
	})
	if err := sb.Fetch(ctx, db, "a.txt"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.Drive.ReadFile("a.txt"); err != nil || string(got) != "from alice" {
		t.Fatalf("bob read %q, %v", got, err)
	}
}

// FuzzKeyring: the key rpc's answer, bytes from another node, decodes to
// what encodes it again, or is refused.
func FuzzKeyring(f *testing.F) {
	f.Add(encodeKeyring([]epochSecret{{0, [32]byte{1}}, {1, [32]byte{2}}}))
	f.Add(make([]byte, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		ks, err := decodeKeyring(b)
		if err != nil {
			return
		}
		if got := encodeKeyring(ks); string(got) != string(b) {
			t.Fatalf("decode then encode of %x = %x", b, got)
		}
	})
}
