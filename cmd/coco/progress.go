package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// progress shows how far a long transfer is: a line redrawn on a
// terminal, or, with --json, one event per line on stderr (stdout keeps
// the command's one JSON answer).
type progress struct {
	w           io.Writer
	json        bool
	what, path  string
	total       int64
	start, last time.Time
	mu          sync.Mutex
}

// progressEvent is a --json progress line.
type progressEvent struct {
	Event string `json:"event"` // "progress", then "done"
	What  string `json:"what"`  // "put", "get"
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
	Total int64  `json:"total,omitempty"`
}

// progressEvery is how often a terminal line or an event is written.
const progressEvery = 200 * time.Millisecond

// newProgress returns nil when there is nowhere to show progress: stderr
// is not a terminal and --json is off.
func newProgress(e *env, what, path string, total int64) *progress {
	if !e.json && !isTerminal(e.stderr) {
		return nil
	}
	now := time.Now()
	return &progress{w: e.stderr, json: e.json, what: what, path: path, total: total, start: now}
}

// update reports n bytes done (at most every progressEvery).
func (p *progress) update(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	p.writeLocked("progress", n)
}

// done reports the end: n bytes in all.
func (p *progress) done(n int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.writeLocked("done", n)
	if !p.json {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) writeLocked(event string, n int64) {
	if p.json {
		b, _ := json.Marshal(progressEvent{Event: event, What: p.what, Path: p.path, Bytes: n, Total: p.total})
		fmt.Fprintln(p.w, string(b))
		return
	}
	line := fmt.Sprintf("%s %s  %s", p.what, p.path, size(n))
	if p.total > 0 {
		line += fmt.Sprintf(" of %s  %3d%%", size(p.total), n*100/max(p.total, 1))
	}
	if s := time.Since(p.start).Seconds(); s > 0.5 {
		line += fmt.Sprintf("  %s/s", size(int64(float64(n)/s)))
	}
	fmt.Fprintf(p.w, "\r%-70s", line)
}

// counter counts the bytes written through it.
type counter struct {
	w io.Writer
	n int64
	p *progress
}

func (c *counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.p.update(c.n)
	return n, err
}

// watchFile reports the size of the file at path as progress until stop
// is closed.
func watchFile(p *progress, path string, stop <-chan struct{}) {
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if fi, err := os.Stat(path); err == nil {
				p.update(fi.Size())
			}
		}
	}
}
