package ota

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/ledger"
	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/rpc"
)

// States of an Updater.
const (
	StateIdle        = "idle"
	StateDownloading = "downloading"
	StateVerifying   = "verifying"
	StateApplying    = "applying"
	StateApplied     = "applied"
	StateFailed      = "failed"
	// StateOffline and StateUnknown are given by CollectStatus to devices
	// that did not answer, or answered that they run no updater.
	StateOffline = "offline"
	StateUnknown = "unknown"
)

// Status is what an Updater is doing.
type Status struct {
	Device  string `json:"device"` // the device node's peer ID
	Name    string `json:"name,omitempty"`
	Model   string `json:"model,omitempty"`
	Version string `json:"version"` // the running version ("" unknown)
	State   string `json:"state"`
	// Target is the version being installed, or last tried.
	Target string `json:"target,omitempty"`
	Done   int64  `json:"done,omitempty"` // bytes downloaded
	Total  int64  `json:"total,omitempty"`
	// Error says why the last attempt failed; while downloading, why the
	// last try was interrupted (it will be retried).
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"`
}

// String says it in a few words: "idle", "downloading v1.2: 4096/10000
// bytes", "verifying v1.2", "applying v1.2", "applied v1.2", "failed: …".
func (s Status) String() string {
	switch s.State {
	case StateDownloading:
		out := fmt.Sprintf("downloading v%s: %d/%d bytes", s.Target, s.Done, s.Total)
		if s.Error != "" {
			out += " (retrying: " + s.Error + ")"
		}
		return out
	case StateVerifying, StateApplying:
		return s.State + " v" + s.Target
	case StateApplied:
		return "applied v" + s.Target
	case StateIdle:
		if s.Error != "" {
			return "idle (" + s.Error + ")"
		}
	case StateFailed, StateOffline, StateUnknown:
		if s.Error == "" {
			return s.State
		}
		return s.State + ": " + s.Error
	}
	return s.State
}

// ApplyFunc installs a verified image. path is valid only during the call.
// An error leaves the device on its current version.
type ApplyFunc func(ctx context.Context, path string, a Authorization) error

// Updater installs the firmware the owner authorizes for its node. Set the
// fields, then Start.
type Updater struct {
	Engine *engine.Engine
	// Dir keeps partial downloads and verified images.
	Dir string
	// Model is the device's model ("" accepts an image for any model);
	// Version the running version ("" unknown: any version is newer).
	Model   string
	Version string
	// Apply installs an image; required.
	Apply ApplyFunc
	Logf  func(format string, args ...any)
	// OnStatus, if set, is called (from the updater's goroutine) on every
	// change of status, downloads at most every 100ms.
	OnStatus func(Status)
	// RetryDelay is the wait before retrying an interrupted or failed
	// download; it doubles on each failure up to a minute. 0 means 2s.
	RetryDelay time.Duration

	kick   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	self   peer.ID
	jobMu  sync.Mutex // one install at a time

	mu        sync.Mutex // guards following fields
	status    Status
	model     string
	version   string
	done      map[ledger.ID]bool // authorizations settled: applied or refused for good
	job       *job
	lastOp    ledger.ID // the authorization the retry state is about
	failures  int
	nextTry   time.Time
	lastEvent time.Time
}

// job is an install under way.
type job struct {
	key       string
	op        ledger.ID
	cancel    context.CancelFunc
	withdrawn bool
}

// refusal is an error that retrying will not cure: the image or the
// authorization is wrong, or the hook failed.
type refusal struct{ msg string }

func (r *refusal) Error() string { return r.msg }

func refuse(format string, args ...any) error { return &refusal{fmt.Sprintf(format, args...)} }

// IsRefusal reports whether err from Install means the image was refused
// (as opposed to a download that can be retried).
func IsRefusal(err error) bool {
	var r *refusal
	return errors.As(err, &r)
}

// Start answers status requests and starts watching the ledger. The
// updater stops with Close or when its node closes.
func (u *Updater) Start() error {
	if u.Engine == nil || u.Dir == "" || u.Apply == nil {
		return errors.New("ota: Updater needs a running Engine, Dir and Apply")
	}
	if err := checkModel(u.Model); err != nil {
		return fmt.Errorf("ota: %w", err)
	}
	if err := os.MkdirAll(u.Dir, 0o700); err != nil {
		return fmt.Errorf("ota: updater dir: %w", err)
	}
	if u.Logf == nil {
		u.Logf = func(string, ...any) {}
	}
	if u.RetryDelay <= 0 {
		u.RetryDelay = 2 * time.Second
	}
	u.self = u.Engine.PeerID()
	u.kick = make(chan struct{}, 1)
	u.ctx, u.cancel = context.WithCancel(u.Engine.Node().Context())
	u.mu.Lock()
	u.model, u.version = u.Model, u.Version
	u.done = map[ledger.ID]bool{}
	u.status = Status{State: StateIdle, Since: time.Now()}
	u.mu.Unlock()
	u.Engine.AddPolicy(engine.Policy{Request: func(from node.Sender, service string) error {
		if service == ServiceStatus && from.Role < ledger.RoleAdmin {
			return errors.New("only the owner and admins see firmware status")
		}
		return nil
	}})
	u.Engine.Handle(ServiceStatus, func(ctx context.Context, req *rpc.Request) ([]byte, error) {
		return json.Marshal(u.Status())
	})
	u.Engine.Ledger().OnChange(u.onChange)
	u.wg.Add(1)
	go u.run()
	return nil
}

// Close stops the updater, cutting a download under way (the partial file
// is kept). It is idempotent.
func (u *Updater) Close() error {
	if u.cancel == nil {
		return nil
	}
	u.cancel()
	u.wg.Wait()
	if u.Engine.RPC() != nil {
		u.Engine.Handle(ServiceStatus, nil)
	}
	return nil
}

// Status reports what the updater does and the version it runs.
func (u *Updater) Status() Status {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.statusLocked()
}

func (u *Updater) statusLocked() Status {
	s := u.status
	s.Device = u.self.String()
	s.Name = deviceName(u.Engine.Ledger().State(), u.self)
	s.Model, s.Version = u.model, u.version
	return s
}

// deviceName names a device node for display.
func deviceName(st *ledger.State, id peer.ID) string {
	for _, d := range Devices(st) {
		if d.Node == id {
			return d.Name
		}
	}
	return ""
}

func (u *Updater) setStatus(s Status) {
	u.mu.Lock()
	if s.State != u.status.State || s.Target != u.status.Target {
		s.Since = time.Now()
	} else {
		s.Since = u.status.Since
	}
	u.status = s
	out := u.statusLocked()
	u.lastEvent = time.Now()
	u.mu.Unlock()
	if u.OnStatus != nil {
		u.OnStatus(out)
	}
}

// progress updates the bytes downloaded, reporting at most every 100ms.
func (u *Updater) progress(done, total int64) {
	u.mu.Lock()
	u.status.Done, u.status.Total = done, total
	report := done == total || time.Since(u.lastEvent) >= 100*time.Millisecond
	if report {
		u.lastEvent = time.Now()
	}
	out := u.statusLocked()
	u.mu.Unlock()
	if report && u.OnStatus != nil {
		u.OnStatus(out)
	}
}

func (u *Updater) onChange(st *ledger.State) {
	u.mu.Lock()
	if j := u.job; j != nil && j.key != "" {
		if r := st.Record(ledger.TableOTA, j.key); r == nil || r.Op != j.op {
			j.withdrawn = true
			j.cancel()
		}
	}
	u.mu.Unlock()
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

func (u *Updater) run() {
	defer u.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-u.kick:
		case <-t.C:
		}
		if d := u.step(); d > 0 {
			t.Reset(d)
		}
	}
}

// step acts on the newest authorization for this node and returns when to
// look again (0: on the next ledger change).
func (u *Updater) step() time.Duration {
	auths := ForDevice(u.Engine.Ledger().State(), u.self)
	u.dropStaleParts(auths)
	if len(auths) == 0 {
		if s := u.Status(); s.Target != "" && s.State != StateApplied && s.State != StateIdle {
			// What it was fetching (or retrying) was withdrawn.
			u.setStatus(Status{State: StateIdle, Error: "v" + s.Target + " was withdrawn"})
		}
		return 0
	}
	a := auths[0] // the owner's latest word
	u.mu.Lock()
	settled := u.done[a.Op]
	running := u.version
	if a.Op != u.lastOp {
		u.lastOp, u.failures, u.nextTry = a.Op, 0, time.Time{}
	}
	wait := time.Until(u.nextTry)
	u.mu.Unlock()
	if settled {
		return 0
	}
	if running != "" && CompareVersions(a.Version, running) == 0 {
		u.settle(a.Op) // already running it: nothing to do
		return 0
	}
	if wait > 0 {
		return wait
	}
	err := u.Install(u.ctx, a)
	if err == nil || IsRefusal(err) || u.ctx.Err() != nil {
		return 0
	}
	u.mu.Lock()
	withdrawn := errors.Is(err, errWithdrawn)
	var d time.Duration
	if !withdrawn {
		d = u.RetryDelay << min(u.failures, 5)
		d = min(d, time.Minute)
		u.failures++
		u.nextTry = time.Now().Add(d)
	}
	u.mu.Unlock()
	if withdrawn {
		return time.Millisecond // look at what replaced it
	}
	u.Logf("ota: v%s: %v; retrying in %v", a.Version, err, d)
	return d
}

func (u *Updater) settle(op ledger.ID) {
	u.mu.Lock()
	u.done[op] = true
	u.mu.Unlock()
}

var errWithdrawn = errors.New("the authorization was withdrawn or replaced")

// Install checks a against the ledger and this device, downloads the image
// from a member that has it (resuming a partial download), verifies it and
// applies it. On any failure the device keeps its version; IsRefusal tells
// a refusal (wrong or unauthorized image, failed hook: settled) from a
// download that may be retried. The updater calls it by itself for new
// authorizations.
func (u *Updater) Install(ctx context.Context, a Authorization) error {
	u.jobMu.Lock()
	defer u.jobMu.Unlock()
	err := u.install(ctx, a)
	switch {
	case err == nil:
	case IsRefusal(err):
		if a.Op != (ledger.ID{}) {
			u.settle(a.Op)
		}
		u.mu.Lock()
		keep := u.version
		u.mu.Unlock()
		msg := err.Error()
		if keep != "" {
			msg += "; keeping v" + keep
		}
		u.setStatus(Status{State: StateFailed, Target: a.Version, Error: msg})
		u.Logf("ota: %s", msg)
	case errors.Is(err, errWithdrawn):
		u.setStatus(Status{State: StateFailed, Target: a.Version, Error: "v" + a.Version + ": " + err.Error()})
	default:
		s := u.Status()
		if s.State != StateDownloading {
			s = Status{State: StateFailed, Target: a.Version}
		}
		s.Error = err.Error()
		u.setStatus(s)
	}
	return err
}

func (u *Updater) install(ctx context.Context, a Authorization) error {
	// The ledger, not the caller, says what is authorized.
	st := u.Engine.Ledger().State()
	cur, ok := Lookup(st, a.Key())
	if !ok {
		return refuse("refused v%s: no authorization for it in the ledger", a.Version)
	}
	if cur.SHA256 != a.SHA256 || cur.Size != a.Size || cur.Model != a.Model || cur.Device != a.Device {
		return refuse("refused v%s: it does not match the ledger's authorization", a.Version)
	}
	a = cur
	if a.Device != u.self.String() {
		who := a.Name
		if who == "" {
			who = a.Device
		}
		return refuse("refused v%s: it is authorized for %s, not for this device", a.Version, who)
	}
	u.mu.Lock()
	model, running := u.model, u.version
	u.mu.Unlock()
	if model != "" && a.Model != "" && !strings.EqualFold(model, a.Model) {
		return refuse("refused v%s: it is for model %q and this device is a %q", a.Version, a.Model, model)
	}
	if running != "" {
		switch c := CompareVersions(a.Version, running); {
		case c == 0:
			return refuse("refused v%s: this device already runs it", a.Version)
		case c < 0:
			return refuse("refused v%s: it is older than the running v%s (no downgrades)", a.Version, running)
		}
	}

	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	j := &job{key: a.Key(), op: a.Op, cancel: cancel}
	u.mu.Lock()
	u.job = j
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		u.job = nil
		u.mu.Unlock()
	}()
	wrap := func(err error) error {
		u.mu.Lock()
		withdrawn := j.withdrawn
		u.mu.Unlock()
		if withdrawn && ctx.Err() == nil {
			return errWithdrawn
		}
		return err
	}

	img, err := u.fetch(jctx, a)
	if err != nil {
		return wrap(err)
	}
	defer os.Remove(img)
	u.setStatus(Status{State: StateApplying, Target: a.Version, Done: a.Size, Total: a.Size})
	if err := u.Apply(jctx, img, a); err != nil {
		if err := wrap(nil); err != nil {
			return err
		}
		return refuse("refused v%s: applying it failed: %v", a.Version, err)
	}
	u.mu.Lock()
	u.version = a.Version
	if u.model == "" {
		u.model = a.Model
	}
	if a.Op != (ledger.ID{}) {
		u.done[a.Op] = true
	}
	u.mu.Unlock()
	u.setStatus(Status{State: StateApplied, Target: a.Version, Done: a.Size, Total: a.Size})
	u.Logf("ota: applied v%s (%d bytes, sha256 %s)", a.Version, a.Size, a.SHA256[:12])
	return nil
}

// fetch downloads and verifies the image, trying its source and then the
// other connected members, and returns the verified file's path.
func (u *Updater) fetch(ctx context.Context, a Authorization) (string, error) {
	part := filepath.Join(u.Dir, a.SHA256+".part")
	var lastErr, badImage error
	for _, src := range u.sources(a) {
		if err := u.download(ctx, a, src, part); err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			lastErr = err
			if IsRefusal(err) {
				badImage = err
				os.Remove(part)
			}
			continue
		}
		u.setStatus(Status{State: StateVerifying, Target: a.Version, Done: a.Size, Total: a.Size})
		if err := verify(ctx, part, a); err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			os.Remove(part) // bad bytes must not be resumed from
			lastErr, badImage = err, err
			u.Logf("ota: image from %s: %v", src.ShortString(), err)
			continue
		}
		img := filepath.Join(u.Dir, a.SHA256+".img")
		if err := os.Rename(part, img); err != nil {
			return "", err
		}
		return img, nil
	}
	if badImage != nil {
		// Another source tried after the bad one may have started a new
		// partial file: nothing of a refused image is kept.
		os.Remove(part)
		return "", badImage
	}
	if lastErr == nil {
		lastErr = errors.New("no member that could have the image is online")
	}
	return "", lastErr
}

// sources lists the nodes to ask for the image: the authorizing node, then
// the other connected member nodes.
func (u *Updater) sources(a Authorization) []peer.ID {
	var out []peer.ID
	seen := map[peer.ID]bool{u.self: true}
	add := func(id peer.ID) {
		if !seen[id] && len(out) < 8 {
			seen[id] = true
			out = append(out, id)
		}
	}
	if id, err := peer.Decode(a.Source); err == nil && u.Engine.Node().IsMember(id) {
		add(id)
	}
	for _, id := range u.Engine.Node().ConnectedMembers() {
		add(id)
	}
	return out
}

// download brings the partial file up to the image's size from src,
// resuming from what it holds.
func (u *Updater) download(ctx context.Context, a Authorization, src peer.ID, part string) error {
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	off := fi.Size()
	if off > a.Size {
		if err := f.Truncate(0); err != nil {
			return err
		}
		off = 0
	}
	if off == a.Size {
		return nil // complete: verify decides
	}
	u.setStatus(Status{State: StateDownloading, Target: a.Version, Done: off, Total: a.Size})
	c, err := u.Engine.Streams().Dial(ctx, src, ServiceImage)
	if err != nil {
		return fmt.Errorf("%s: %w", src.ShortString(), err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Reset() })
	defer stop()
	c.SetDeadline(time.Now().Add(ioTimeout))
	if err := writeFrame(c, fetchRequest{SHA256: a.SHA256, Offset: off}); err != nil {
		return fmt.Errorf("%s: %w", src.ShortString(), err)
	}
	br := bufio.NewReaderSize(c, 64<<10)
	b, err := readFrame(br)
	if err != nil {
		return fmt.Errorf("%s: %w", src.ShortString(), err)
	}
	rep, err := decodeReply(b)
	if err != nil {
		return fmt.Errorf("%s: %w", src.ShortString(), err)
	}
	if rep.Error != "" {
		return fmt.Errorf("%s refused: %s", src.ShortString(), rep.Error)
	}
	if rep.Size != a.Size {
		return refuse("refused v%s: %s offers an image of %d bytes, the authorization says %d", a.Version, src.ShortString(), rep.Size, a.Size)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	r := io.LimitReader(br, a.Size-off)
	done := off
	for done < a.Size {
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return err
			}
			done += int64(n)
			u.progress(done, a.Size)
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if done < a.Size {
				f.Sync()
				return fmt.Errorf("download from %s interrupted at %d of %d bytes: %v", src.ShortString(), done, a.Size, rerr)
			}
		}
	}
	return f.Sync()
}

// verify checks the downloaded file against the authorization.
func verify(ctx context.Context, path string, a Authorization) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, &ctxReader{ctx, f})
	if err != nil {
		return err
	}
	if n != a.Size {
		return refuse("refused v%s: the image is %d bytes, the authorization says %d", a.Version, n, a.Size)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != a.SHA256 {
		return refuse("refused v%s: the image's SHA-256 is %s…, the authorization says %s… (tampered or corrupted)", a.Version, sum[:12], a.SHA256[:12])
	}
	return nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// CollectStatus asks every device of n's network (the device table's and
// those named by authorizations) for its status; local, if not nil, answers
// for n's own node. Devices that do not answer within the context (or 5s)
// are listed offline.
func CollectStatus(ctx context.Context, n *engine.Engine, local *Updater) []Status {
	st := n.Ledger().State()
	names := map[peer.ID]string{}
	var ids []peer.ID
	add := func(id peer.ID, name string) {
		if _, ok := names[id]; !ok {
			ids = append(ids, id)
		}
		if name != "" || names[id] == "" {
			names[id] = name
		}
	}
	for _, d := range claimedDevices(st) {
		add(d.Node, d.Name)
	}
	for _, a := range List(st) {
		if id, err := peer.Decode(a.Device); err == nil {
			add(id, deviceName(st, id))
		}
	}
	if local != nil {
		add(n.PeerID(), deviceName(st, n.PeerID()))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := make([]Status, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = askStatus(ctx, n, local, id, names[id])
		}()
	}
	wg.Wait()
	return out
}

func askStatus(ctx context.Context, n *engine.Engine, local *Updater, id peer.ID, name string) Status {
	if id == n.PeerID() {
		if local != nil {
			return local.Status()
		}
		return Status{Device: id.String(), Name: name, State: StateUnknown, Error: "this node runs no updater"}
	}
	b, err := n.RPC().Request(ctx, id, ServiceStatus, nil)
	if err != nil {
		s := Status{Device: id.String(), Name: name, State: StateOffline, Error: err.Error()}
		switch {
		case errors.Is(err, rpc.ErrUnknownService):
			s.State, s.Error = StateUnknown, "the node runs no updater"
		case errors.Is(err, rpc.ErrNotAllowed):
			s.State = StateUnknown
		}
		return s
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return Status{Device: id.String(), Name: name, State: StateUnknown, Error: "bad status: " + err.Error()}
	}
	s.Device = id.String() // who answered, not what it says
	if name != "" {
		s.Name = name
	}
	return s
}

// dropStaleParts deletes the partial downloads of images no authorization
// for this device names any more (withdrawn or replaced).
func (u *Updater) dropStaleParts(auths []Authorization) {
	parts, _ := filepath.Glob(filepath.Join(u.Dir, "*.part"))
	for _, p := range parts {
		sum := strings.TrimSuffix(filepath.Base(p), ".part")
		if !slices.ContainsFunc(auths, func(a Authorization) bool { return a.SHA256 == sum }) {
			os.Remove(p)
		}
	}
}
