package control

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap"

	"github.com/coconet/coconet/identity"
	_ "github.com/coconet/coconet/internal/protoconflict" // etcd and go-libp2p-pubsub both register "rpc.proto"
	"github.com/coconet/coconet/member"
)

// EtcdConfig configures an EtcdStore.
type EtcdConfig struct {
	// Endpoints are the client URLs of a shared etcd cluster
	// (http://host:2379, …). Empty starts an embedded single-member etcd
	// under Dir/etcd, listening only on a unix socket in that directory.
	Endpoints []string
	// Dir is the control plane's state directory (for the embedded etcd).
	Dir string
	// Prefix is where the control plane's keys live in etcd (default
	// "/coconet/control/"); replicas that share state share the prefix.
	Prefix string
	// Logf receives diagnostic lines; nil discards them.
	Logf func(format string, args ...any)
}

// Timings and bounds of the etcd store.
const (
	// leaseBucket is the granularity of registration expiries: all
	// registrations of one replica that end in the same bucket share one
	// etcd lease, so a replica holds at most MaxRegistrationTTL/leaseBucket
	// + 2 leases whatever the number of nodes (and a registration lives in
	// etcd at most leaseBucket + leaseSlack past its end; lookups read its
	// exact end).
	leaseBucket = time.Minute
	leaseSlack  = 30 * time.Second
	// liveTTL is how long after a replica's death its claims start to
	// count in place of its last saved usage.
	liveTTL = 5 * time.Second
	// maxBatch is the number of writes in one etcd transaction (etcd's
	// default --max-txn-ops is 128); maxBatchBytes keeps one under etcd's
	// default --max-request-bytes (1.5 MiB).
	maxBatch      = 128
	maxBatchBytes = 1 << 20
	writers       = 4
	// compactAfter is how much history the store keeps for watchers that
	// reconnect; older revisions are compacted.
	compactAfter = 5 * time.Minute
)

// EtcdStore is a Store in etcd: embedded (one member, under the state
// directory) or a cluster shared by several control-plane replicas.
//
// Keys under the prefix:
//
//	r/<net hex>/<peer ID>           a registration, on a lease of its expiry's minute
//	v/<net hex>/<hash>              a revocation: owner ‖ revocation
//	u/<month>/<net hex>/<replica>   a replica's usage and claims of a network
//	l/<replica>                     a running replica (on a 5 s lease)
//	k/<namespace>/<key>             the generic namespace (KV)
type EtcdStore struct {
	cfg    EtcdConfig
	cli    *clientv3.Client
	emb    *embed.Etcd
	prefix string

	replica string
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	writes  chan *write
	uwrites chan *write // usage writes: one writer, so a later value never lands before an earlier one

	lmu    sync.Mutex // guards leases
	leases map[int64]clientv3.LeaseID

	umu   sync.Mutex // guards usage
	usage map[string]*useRec

	kv *etcdKV

	closeOnce sync.Once
	closeErr  error
}

type useRec struct{ used, claimed Counts }

type write struct {
	key   string
	val   []byte
	lease clientv3.LeaseID
	del   bool
	use   string // usage key: the value is made at write time
	done  chan error
}

// OpenEtcd connects to the etcd cluster of cfg.Endpoints or starts the
// embedded one.
func OpenEtcd(ctx context.Context, cfg EtcdConfig) (*EtcdStore, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "/coconet/control/"
	}
	if !strings.HasSuffix(cfg.Prefix, "/") {
		cfg.Prefix += "/"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	s := &EtcdStore{cfg: cfg, prefix: cfg.Prefix, leases: map[int64]clientv3.LeaseID{}, usage: map[string]*useRec{}}
	if len(cfg.Endpoints) == 0 {
		if cfg.Dir == "" {
			return nil, errors.New("control: an embedded etcd needs a state directory")
		}
		e, err := startEmbedded(ctx, filepath.Join(cfg.Dir, "etcd"))
		if err != nil {
			return nil, err
		}
		s.emb = e
		s.cli = v3client.New(e.Server)
	} else {
		cli, err := clientv3.New(clientv3.Config{
			Endpoints: cfg.Endpoints, DialTimeout: 5 * time.Second,
			DialKeepAliveTime: 2 * time.Second, DialKeepAliveTimeout: 2 * time.Second,
			Logger: zap.NewNop(), Context: context.Background(),
		})
		if err != nil {
			return nil, fmt.Errorf("control: etcd %v: %w", cfg.Endpoints, err)
		}
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		_, err = cli.Get(cctx, cfg.Prefix+"l/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		cancel()
		if err != nil {
			cli.Close()
			return nil, fmt.Errorf("control: etcd %v does not answer: %w", cfg.Endpoints, err)
		}
		s.cli = cli
	}
	s.kv = &etcdKV{s: s}
	return s, nil
}

// startEmbedded starts a single-member etcd in dir that listens only on
// unix sockets in dir (0700): nothing else on the machine can reach it
// through the network, and the control plane talks to it in-process.
func startEmbedded(ctx context.Context, dir string) (*embed.Etcd, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("control: etcd dir: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	sock := func(name string) url.URL {
		p := filepath.Join(abs, name)
		if len(p) > 100 { // a unix socket path's limit is 108 bytes
			sum := sha256.Sum256([]byte(abs))
			p = filepath.Join(os.TempDir(), "coco-etcd-"+hex.EncodeToString(sum[:6])+"-"+name)
		}
		return url.URL{Scheme: "unix", Path: p}
	}
	cfg := embed.NewConfig()
	cfg.Name = "control"
	cfg.Dir = filepath.Join(abs, "data")
	client, peerURL := sock("client.sock"), sock("peer.sock")
	for _, u := range []url.URL{client, peerURL} {
		os.Remove(u.Path) // a stale socket of a process that died
	}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peerURL}, []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	cfg.AutoCompactionMode, cfg.AutoCompactionRetention = embed.CompactorModePeriodic, "10m"
	// Fewer raft entries kept in memory between snapshots than the
	// default 10,000: a batch of registrations is one entry of up to
	// 1 MiB.
	cfg.SnapshotCount = 2000
	cfg.SnapshotCatchUpEntries = 500
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("control: start embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("control: embedded etcd: %w", err)
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	case <-time.After(time.Minute):
		e.Close()
		return nil, errors.New("control: embedded etcd did not start within a minute")
	}
}

// Persistent: an etcd store keeps state outside the process.
func (s *EtcdStore) Persistent() bool { return true }

// KV is the generic namespace, under k/.
func (s *EtcdStore) KV() KV { return s.kv }

// Client is the etcd client (tests and tools read the keyspace with it).
func (s *EtcdStore) Client() *clientv3.Client { return s.cli }

// Endpoints are the client URLs of the etcd the store uses (for an
// embedded etcd, its unix socket: another replica on this machine may
// share it).
func (s *EtcdStore) Endpoints() []string {
	if s.emb == nil {
		return s.cfg.Endpoints
	}
	var out []string
	for _, u := range s.emb.Config().ListenClientUrls {
		out = append(out, u.String())
	}
	return out
}

// Prefix is where the store's keys are.
func (s *EtcdStore) Prefix() string { return s.prefix }

// Start marks this replica live, loads the state and watches it.
func (s *EtcdStore) Start(ctx context.Context, replica string, apply func(Event)) error {
	if replica == "" || strings.Contains(replica, "/") {
		return fmt.Errorf("control: bad replica name %q", replica)
	}
	s.replica = replica
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.writes = make(chan *write, 4096)
	s.uwrites = make(chan *write, 1024)
	for range writers {
		s.wg.Add(1)
		go s.writer(s.writes)
	}
	s.wg.Add(1)
	go s.writer(s.uwrites)

	ka, err := s.markLive(ctx)
	if err != nil {
		s.stop()
		return err
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			for range ka {
			}
			// The lease ended (etcd was out of reach for liveTTL):
			// the other replicas count this one's claims meanwhile;
			// mark it live again once etcd answers.
			for {
				select {
				case <-s.ctx.Done():
					return
				case <-time.After(time.Second):
				}
				if ka, err = s.markLive(s.ctx); err == nil {
					break
				}
			}
		}
	}()
	rev, err := s.load(ctx, apply)
	if err != nil {
		s.stop()
		return err
	}
	s.wg.Add(1)
	go s.watch(rev, apply)
	return nil
}

// markLive puts this replica's liveness key on a short lease, kept alive
// while the store runs.
func (s *EtcdStore) markLive(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	g, err := s.cli.Grant(cctx, int64(liveTTL/time.Second))
	if err != nil {
		return nil, fmt.Errorf("control: etcd lease: %w", err)
	}
	if _, err := s.cli.Put(cctx, s.prefix+"l/"+s.replica, "", clientv3.WithLease(g.ID)); err != nil {
		return nil, fmt.Errorf("control: etcd: %w", err)
	}
	ka, err := s.cli.KeepAlive(s.ctx, g.ID)
	if err != nil {
		return nil, fmt.Errorf("control: etcd keepalive: %w", err)
	}
	return ka, nil
}

// load applies every record under the prefix (but the KV's) and returns
// the revision it read at.
func (s *EtcdStore) load(ctx context.Context, apply func(Event)) (int64, error) {
	key, end := s.prefix, clientv3.GetPrefixRangeEnd(s.prefix)
	var rev int64
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(1000)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		r, err := s.cli.Get(ctx, key, opts...)
		if err != nil {
			return 0, fmt.Errorf("control: etcd load: %w", err)
		}
		if rev == 0 {
			rev = r.Header.Revision
		}
		for _, kv := range r.Kvs {
			if ev, ok := s.decode(string(kv.Key), kv.Value, false); ok {
				apply(ev)
			}
		}
		if !r.More || len(r.Kvs) == 0 {
			return rev, nil
		}
		key = string(r.Kvs[len(r.Kvs)-1].Key) + "\x00"
	}
}

// watch applies changes after rev until the store closes; it reloads
// after a compaction cut it off.
func (s *EtcdStore) watch(rev int64, apply func(Event)) {
	defer s.wg.Done()
	var seen []revAt // revisions seen, for compaction
	lastCompact := time.Now()
	for s.ctx.Err() == nil {
		wc := s.cli.Watch(clientv3.WithRequireLeader(s.ctx), s.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithProgressNotify())
		for resp := range wc {
			if resp.CompactRevision != 0 {
				s.cfg.Logf("etcd: watch compacted at %d; reloading", resp.CompactRevision)
				r, err := s.load(s.ctx, apply)
				if err == nil {
					rev = r
				}
				break
			}
			if err := resp.Err(); err != nil {
				s.cfg.Logf("etcd: watch: %v", err)
				break
			}
			for _, e := range resp.Events {
				if ev, ok := s.decode(string(e.Kv.Key), e.Kv.Value, e.Type == clientv3.EventTypeDelete); ok {
					apply(ev)
				}
			}
			if resp.Header.Revision > rev {
				rev = resp.Header.Revision
			}
			now := time.Now()
			seen = append(seen, revAt{rev, now})
			if now.Sub(lastCompact) > compactAfter {
				lastCompact = now
				seen = s.compact(seen, now)
			}
		}
		select {
		case <-s.ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type revAt struct {
	rev int64
	at  time.Time
}

// compact compacts etcd's history to the newest revision seen more than
// compactAfter ago (every replica may; compacting twice is harmless).
func (s *EtcdStore) compact(seen []revAt, now time.Time) []revAt {
	i := 0
	for i < len(seen) && now.Sub(seen[i].at) > compactAfter {
		i++
	}
	if i == 0 {
		return seen
	}
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	if _, err := s.cli.Compact(ctx, seen[i-1].rev); err != nil && !strings.Contains(err.Error(), "compacted") {
		s.cfg.Logf("etcd: compact: %v", err)
	}
	return append(seen[:0], seen[i:]...)
}

// decode turns a key and value into an event; ok is false for keys that
// are not events (the KV's) and for records that do not decode or do not
// agree with their key, which are ignored: a record never lands in a
// network other than the one its key names.
func (s *EtcdStore) decode(key string, val []byte, del bool) (Event, bool) {
	rest, ok := strings.CutPrefix(key, s.prefix)
	if !ok || len(rest) < 2 || rest[1] != '/' {
		return Event{}, false
	}
	parts := strings.Split(rest[2:], "/")
	switch rest[0] {
	case 'r':
		if len(parts) != 2 {
			return Event{}, false
		}
		net, ok := netOf(parts[0])
		p, err := peer.Decode(parts[1])
		if !ok || err != nil {
			return Event{}, false
		}
		if del {
			return Event{Kind: EventUnregistered, Net: net, Peer: p}, true
		}
		r, err := unmarshalRegistration(val, p)
		if err != nil || r.Net != net {
			s.cfg.Logf("etcd: ignoring registration at %s: %v", key, err)
			return Event{}, false
		}
		return Event{Kind: EventRegistered, Net: net, Peer: p, Reg: r, Owner: r.Owner}, true
	case 'v':
		if len(parts) != 2 {
			return Event{}, false
		}
		net, ok := netOf(parts[0])
		if !ok {
			return Event{}, false
		}
		if del {
			return Event{Kind: EventRevocationGone, Net: net, RevID: parts[1]}, true
		}
		if len(val) < 32 {
			return Event{}, false
		}
		rv, err := member.UnmarshalRevocation(val[32:])
		if err != nil {
			return Event{}, false
		}
		return Event{Kind: EventRevoked, Net: net, Owner: identity.UserID(val[:32]), Rev: rv, RevID: parts[1]}, true
	case 'u':
		if len(parts) != 3 {
			return Event{}, false
		}
		net, ok := netOf(parts[1])
		if !ok || del || len(val) != 48 {
			return Event{}, false
		}
		used, claimed := decodeUse(val)
		return Event{Kind: EventUsage, Month: parts[0], Net: net, Replica: parts[2], Used: used, Claimed: claimed}, true
	case 'l':
		if len(parts) != 1 {
			return Event{}, false
		}
		if del {
			return Event{Kind: EventReplicaGone, Replica: parts[0]}, true
		}
		return Event{Kind: EventReplicaLive, Replica: parts[0]}, true
	}
	return Event{}, false
}

func netOf(h string) (k [32]byte, ok bool) {
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 32 {
		return k, false
	}
	return [32]byte(b), true
}

func encodeUse(u *useRec) []byte {
	b := make([]byte, 0, 48)
	for _, v := range []int64{u.used.Relay, u.used.Control, u.used.Messages, u.claimed.Relay, u.claimed.Control, u.claimed.Messages} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	return b
}

func decodeUse(b []byte) (used, claimed Counts) {
	v := func(i int) int64 { return int64(binary.BigEndian.Uint64(b[8*i:])) }
	return Counts{v(0), v(1), v(2)}, Counts{v(3), v(4), v(5)}
}

func (s *EtcdStore) regKey(net [32]byte, p peer.ID) string {
	return s.prefix + "r/" + hex.EncodeToString(net[:]) + "/" + p.String()
}

func (s *EtcdStore) revKey(net [32]byte, rv *member.Revocation) string {
	return s.prefix + "v/" + hex.EncodeToString(net[:]) + "/" + revID(rv)
}

func (s *EtcdStore) useKey(month string, net [32]byte) string {
	return s.prefix + "u/" + month + "/" + hex.EncodeToString(net[:]) + "/" + s.replica
}

// do queues w on ch and waits for its transaction.
func (s *EtcdStore) do(ctx context.Context, ch chan *write, w *write) error {
	w.done = make(chan error, 1)
	select {
	case ch <- w:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.ctx.Done():
		return errors.New("control: store closed")
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer commits the writes queued on ch, as many at once as are queued
// (up to maxBatch), one transaction each.
func (s *EtcdStore) writer(ch chan *write) {
	defer s.wg.Done()
	var batch []*write
	for {
		batch = batch[:0]
		select {
		case <-s.ctx.Done():
			return
		case w := <-ch:
			batch = append(batch, w)
		}
		size := len(batch[0].val)
	more:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case w := <-ch:
				batch = append(batch, w)
				size += len(w.val)
			default:
				break more
			}
		}
		s.commit(batch)
	}
}

func (s *EtcdStore) commit(batch []*write) {
	// One put per key: etcd refuses a transaction naming a key twice.
	last := make(map[string]int, len(batch))
	for i, w := range batch {
		last[w.key] = i
	}
	ops := make([]clientv3.Op, 0, len(last))
	for i, w := range batch {
		if last[w.key] != i {
			continue
		}
		switch {
		case w.del:
			ops = append(ops, clientv3.OpDelete(w.key))
		case w.use != "":
			s.umu.Lock()
			v := encodeUse(s.usage[w.use])
			s.umu.Unlock()
			ops = append(ops, clientv3.OpPut(w.key, string(v)))
		case w.lease != 0:
			ops = append(ops, clientv3.OpPut(w.key, string(w.val), clientv3.WithLease(w.lease)))
		default:
			ops = append(ops, clientv3.OpPut(w.key, string(w.val)))
		}
	}
	ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
	_, err := s.cli.Txn(ctx).Then(ops...).Commit()
	cancel()
	if err != nil && strings.Contains(err.Error(), "lease not found") {
		// A lease ended under us (etcd lost it, or our clock ran
		// slow): forget the leases and let the callers try again.
		s.lmu.Lock()
		clear(s.leases)
		s.lmu.Unlock()
	}
	if err != nil {
		err = fmt.Errorf("control: etcd: %w", err)
	}
	for _, w := range batch {
		w.done <- err
	}
}

// leaseFor returns the lease of the bucket that ends at or after end.
func (s *EtcdStore) leaseFor(ctx context.Context, end time.Time) (clientv3.LeaseID, error) {
	b := (end.UnixNano() + int64(leaseBucket) - 1) / int64(leaseBucket)
	s.lmu.Lock()
	defer s.lmu.Unlock()
	if id, ok := s.leases[b]; ok {
		return id, nil
	}
	now := time.Now()
	for k := range s.leases {
		if time.Unix(0, k*int64(leaseBucket)).Before(now) {
			delete(s.leases, k)
		}
	}
	ttl := time.Unix(0, b*int64(leaseBucket)).Sub(now) + leaseSlack
	g, err := s.cli.Grant(ctx, int64(ttl/time.Second)+1)
	if err != nil {
		return 0, fmt.Errorf("control: etcd lease: %w", err)
	}
	s.leases[b] = g.ID
	return g.ID, nil
}

// PutRegistration writes r on the lease of its expiry's bucket.
func (s *EtcdStore) PutRegistration(ctx context.Context, r *Registration) error {
	if len(r.Record) > MaxRecord {
		return fmt.Errorf("%w: record of %d bytes", ErrBadRecord, len(r.Record))
	}
	val := marshalRegistration(r)
	for try := 0; ; try++ {
		lease, err := s.leaseFor(ctx, time.Unix(0, r.Expires))
		if err != nil {
			return err
		}
		err = s.do(ctx, s.writes, &write{key: s.regKey(r.Net, r.Peer), val: val, lease: lease})
		if err == nil || try > 0 || !strings.Contains(err.Error(), "lease not found") {
			return err
		}
	}
}

// DeleteRegistrations deletes registrations, in one batch.
func (s *EtcdStore) DeleteRegistrations(ctx context.Context, net [32]byte, peers []peer.ID) error {
	var errs []error
	done := make([]*write, 0, len(peers))
	for _, p := range peers {
		w := &write{key: s.regKey(net, p), del: true, done: make(chan error, 1)}
		select {
		case s.writes <- w:
			done = append(done, w)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, w := range done {
		select {
		case err := <-w.done:
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// PutRevocation writes a revocation (owner ‖ revocation); it is deleted
// when it ends (by whichever replica sees it end first).
func (s *EtcdStore) PutRevocation(ctx context.Context, net [32]byte, owner identity.UserID, rv *member.Revocation) error {
	val := append(append([]byte(nil), owner[:]...), rv.Marshal()...)
	return s.do(ctx, s.writes, &write{key: s.revKey(net, rv), val: val})
}

// DeleteRevocation deletes a revocation.
func (s *EtcdStore) DeleteRevocation(ctx context.Context, net [32]byte, rv *member.Revocation) error {
	return s.do(ctx, s.writes, &write{key: s.revKey(net, rv), del: true})
}

func (s *EtcdStore) useRec(month string, net [32]byte) (string, *useRec) {
	k := s.useKey(month, net)
	u := s.usage[k]
	if u == nil {
		u = &useRec{}
		s.usage[k] = u
	}
	return k, u
}

// Claim raises this replica's claim durably.
func (s *EtcdStore) Claim(ctx context.Context, month string, net [32]byte, c Counts) error {
	s.umu.Lock()
	k, u := s.useRec(month, net)
	u.claimed = u.claimed.add(c)
	s.umu.Unlock()
	return s.do(ctx, s.uwrites, &write{key: k, use: k})
}

// SaveUsage records this replica's usage (never above its claims).
func (s *EtcdStore) SaveUsage(ctx context.Context, month string, used map[[32]byte]Counts) error {
	var ws []*write
	s.umu.Lock()
	for net, c := range used {
		k, u := s.useRec(month, net)
		c = Counts{min(c.Relay, u.claimed.Relay), min(c.Control, u.claimed.Control), min(c.Messages, u.claimed.Messages)}
		if c == u.used {
			continue
		}
		u.used = c
		ws = append(ws, &write{key: k, use: k, done: make(chan error, 1)})
	}
	s.umu.Unlock()
	var errs []error
	for _, w := range ws {
		select {
		case s.uwrites <- w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, w := range ws {
		select {
		case err := <-w.done:
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// LoadUsage reads this replica's records of a month.
func (s *EtcdStore) LoadUsage(ctx context.Context, month string) (used, claimed map[[32]byte]Counts, err error) {
	r, err := s.cli.Get(ctx, s.prefix+"u/"+month+"/", clientv3.WithPrefix())
	if err != nil {
		return nil, nil, fmt.Errorf("control: etcd: %w", err)
	}
	used, claimed = map[[32]byte]Counts{}, map[[32]byte]Counts{}
	s.umu.Lock()
	defer s.umu.Unlock()
	for _, kv := range r.Kvs {
		ev, ok := s.decode(string(kv.Key), kv.Value, false)
		if !ok || ev.Replica != s.replica {
			continue
		}
		used[ev.Net], claimed[ev.Net] = ev.Used, ev.Claimed
		_, u := s.useRec(month, ev.Net)
		u.used, u.claimed = ev.Used, ev.Claimed
	}
	return used, claimed, nil
}

func (s *EtcdStore) stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
}

// Close stops the store (the replica's liveness key goes with its lease:
// its saved usage is exact, its claims no longer count) and the embedded
// etcd.
func (s *EtcdStore) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.close() })
	return s.closeErr
}

func (s *EtcdStore) close() error {
	if s.replica != "" && s.ctx != nil && s.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		// A clean stop gives back what it claimed and did not use (the
		// server saved its usage last): after a restart its usage is
		// exact, not its claims.
		var ops []clientv3.Op
		s.umu.Lock()
		for k, u := range s.usage {
			if u.claimed != u.used {
				u.claimed = u.used
				ops = append(ops, clientv3.OpPut(k, string(encodeUse(u))))
			}
		}
		s.umu.Unlock()
		for len(ops) > 0 {
			n := min(len(ops), maxBatch)
			if _, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
				s.cfg.Logf("etcd: give back claims: %v", err)
				break
			}
			ops = ops[n:]
		}
		s.cli.Delete(ctx, s.prefix+"l/"+s.replica)
		cancel()
	}
	s.stop()
	err := s.cli.Close()
	if s.emb != nil {
		s.emb.Close()
		err = nil
	}
	return err
}

// etcdKV is the generic namespace under k/.
type etcdKV struct{ s *EtcdStore }

func (k *etcdKV) key(ns, key string) string { return k.s.prefix + "k/" + ns + "/" + key }

func (k *etcdKV) Put(ctx context.Context, ns, key string, val []byte, ttl time.Duration) error {
	if err := checkKV(ns, key, val); err != nil {
		return err
	}
	var opts []clientv3.OpOption
	if ttl > 0 {
		// A lease per put would let a caller make leases without bound:
		// puts share the leases of registrations' buckets.
		id, err := k.s.leaseFor(ctx, time.Now().Add(ttl))
		if err != nil {
			return err
		}
		opts = append(opts, clientv3.WithLease(id))
	}
	if _, err := k.s.cli.Put(ctx, k.key(ns, key), string(val), opts...); err != nil {
		return fmt.Errorf("control: etcd: %w", err)
	}
	return nil
}

func (k *etcdKV) Create(ctx context.Context, ns, key string, val []byte, ttl time.Duration) ([]byte, bool, error) {
	if err := checkKV(ns, key, val); err != nil {
		return nil, false, err
	}
	var opts []clientv3.OpOption
	if ttl > 0 {
		id, err := k.s.leaseFor(ctx, time.Now().Add(ttl))
		if err != nil {
			return nil, false, err
		}
		opts = append(opts, clientv3.WithLease(id))
	}
	kk := k.key(ns, key)
	r, err := k.s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(kk), "=", 0)).
		Then(clientv3.OpPut(kk, string(val), opts...)).
		Else(clientv3.OpGet(kk)).
		Commit()
	if err != nil {
		return nil, false, fmt.Errorf("control: etcd: %w", err)
	}
	if r.Succeeded {
		return nil, true, nil
	}
	if g := r.Responses[0].GetResponseRange(); g != nil && len(g.Kvs) > 0 {
		return g.Kvs[0].Value, false, nil
	}
	return nil, false, fmt.Errorf("control: etcd: %s exists but could not be read", kk)
}

func (k *etcdKV) Get(ctx context.Context, ns, key string) ([]byte, error) {
	if err := checkKV(ns, key, nil); err != nil {
		return nil, err
	}
	r, err := k.s.cli.Get(ctx, k.key(ns, key))
	if err != nil {
		return nil, fmt.Errorf("control: etcd: %w", err)
	}
	if len(r.Kvs) == 0 {
		return nil, ErrNotFound
	}
	return r.Kvs[0].Value, nil
}

func (k *etcdKV) Delete(ctx context.Context, ns, key string) error {
	if err := checkKV(ns, key, nil); err != nil {
		return err
	}
	if _, err := k.s.cli.Delete(ctx, k.key(ns, key)); err != nil {
		return fmt.Errorf("control: etcd: %w", err)
	}
	return nil
}

func (k *etcdKV) List(ctx context.Context, ns, prefix string) (map[string][]byte, error) {
	if err := checkKV(ns, prefix, nil); err != nil {
		return nil, err
	}
	r, err := k.s.cli.Get(ctx, k.key(ns, prefix), clientv3.WithPrefix(), clientv3.WithLimit(MaxKVList+1))
	if err != nil {
		return nil, fmt.Errorf("control: etcd: %w", err)
	}
	if len(r.Kvs) > MaxKVList {
		return nil, ErrTooMany
	}
	out := make(map[string][]byte, len(r.Kvs))
	base := k.key(ns, "")
	for _, kv := range r.Kvs {
		out[strings.TrimPrefix(string(kv.Key), base)] = kv.Value
	}
	return out, nil
}
