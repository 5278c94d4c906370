package control

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coconet/coconet/internal/atomicfile"
)

// counters are one network's use in one month.
type counters struct {
	Relay    atomic.Int64
	Control  atomic.Int64
	Messages atomic.Int64
}

func (c *counters) bytes() int64 { return c.Relay.Load() + c.Control.Load() }

type countersFile struct {
	Relay    int64 `json:"relay_bytes"`
	Control  int64 `json:"control_bytes"`
	Messages int64 `json:"control_messages"`
}

// meter counts bytes per network hash per month and persists them under dir
// (usage-YYYY-MM.json, written with write, fsync, rename).
type meter struct {
	dir string

	mu    sync.Mutex // guards following fields
	month string
	nets  map[[32]byte]*counters
	dirty bool
}

func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

func (m *meter) path(month string) string {
	return filepath.Join(m.dir, "usage-"+month+".json")
}

func newMeter(dir string, now time.Time) *meter {
	m := &meter{dir: dir}
	m.load(monthOf(now))
	return m
}

func (m *meter) load(month string) {
	m.month = month
	m.nets = map[[32]byte]*counters{}
	if m.dir == "" {
		return
	}
	b, err := os.ReadFile(m.path(month))
	if err != nil {
		return
	}
	var f map[string]countersFile
	if json.Unmarshal(b, &f) != nil {
		return
	}
	for k, v := range f {
		var key [32]byte
		if kb, err := hex.DecodeString(k); err == nil && len(kb) == 32 {
			copy(key[:], kb)
			c := &counters{}
			c.Relay.Store(v.Relay)
			c.Control.Store(v.Control)
			c.Messages.Store(v.Messages)
			m.nets[key] = c
		}
	}
}

// get returns the counters of a network for the month of now, rolling
// over to a new month (after saving the old one) when it changes.
func (m *meter) get(key [32]byte, now time.Time) *counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mo := monthOf(now); mo != m.month {
		m.saveLocked()
		m.load(mo)
	}
	c := m.nets[key]
	if c == nil {
		c = &counters{}
		m.nets[key] = c
	}
	m.dirty = true
	return c
}

// peek returns a copy of a network's counters for the month of now
// without creating them (zero if there are none).
func (m *meter) peek(key [32]byte, now time.Time) *counters {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := &counters{}
	if monthOf(now) != m.month {
		return out
	}
	if c := m.nets[key]; c != nil {
		out.Relay.Store(c.Relay.Load())
		out.Control.Store(c.Control.Load())
		out.Messages.Store(c.Messages.Load())
	}
	return out
}

func (m *meter) save() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.saveLocked()
}

func (m *meter) saveLocked() error {
	if m.dir == "" || !m.dirty {
		return nil
	}
	f := make(map[string]countersFile, len(m.nets))
	for k, c := range m.nets {
		f[hex.EncodeToString(k[:])] = countersFile{c.Relay.Load(), c.Control.Load(), c.Messages.Load()}
	}
	b, _ := json.MarshalIndent(f, "", " ")
	if err := atomicfile.Write(m.path(m.month), b, 0o600); err != nil {
		return err
	}
	m.dirty = false
	return nil
}

// set sets a network's counters for the month of now (a replica's usage
// loaded from its store).
func (m *meter) set(key [32]byte, now time.Time, c Counts) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if mo := monthOf(now); mo != m.month {
		m.saveLocked()
		m.load(mo)
	}
	n := &counters{}
	n.Relay.Store(c.Relay)
	n.Control.Store(c.Control)
	n.Messages.Store(c.Messages)
	m.nets[key] = n
}

// snapshot copies the counters of the month of now.
func (m *meter) snapshot(now time.Time) map[[32]byte]Counts {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[[32]byte]Counts, len(m.nets))
	if monthOf(now) != m.month {
		return out
	}
	for k, c := range m.nets {
		out[k] = Counts{c.Relay.Load(), c.Control.Load(), c.Messages.Load()}
	}
	return out
}
