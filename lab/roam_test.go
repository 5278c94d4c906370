package lab

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var roamTable = flag.String("lab.roamtable", "", "TestRoaming: also append the distribution to this file")

// TestRoaming: alice and bob (easy NATs) are direct; then alice's router
// gets a new public address (Internet.Renumber) -lab.runs times, each once
// the pair is direct again. After each change it measures, from the
// change: bob's first acknowledged message to alice (sends retried as
// they fail), the first `coco peers` on bob's side that tells the truth
// (relayed, or direct to alice's new address; not direct to the old one),
// and the first that says direct to the new address. Every change must end
// direct again with messages flowing; the times are printed (issue 15 asks
// for 3 s, 3 s and 5 s) and not asserted.
func TestRoaming(t *testing.T) {
	if why := NATAvailable(); why != "" {
		t.Skip(why)
	}
	if why := cocoFlags(); why != "" {
		t.Skip(why)
	}
	l := setupPair(t, Easy, Easy)
	defer l.close()
	var wg sync.WaitGroup
	for _, h := range []*host{l.alice, l.bob} {
		wg.Add(1)
		go func() { defer wg.Done(); h.start() }()
	}
	wg.Wait()
	w := watchPath(l.bob, "alice", time.Now())
	w.waitDirect(30 * time.Second)
	w.stop()
	if path, _, tl := w.result(); path != "direct" {
		t.Fatalf("not direct before roaming: %s%s", tl, l.dump())
	}
	var msgs, truthful, direct []time.Duration
	for run := 1; run <= *punchRuns; run++ {
		old := l.ha.WAN
		moved, err := l.in.Renumber(l.ha)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		aliceFrom, bobFrom := len(l.alice.logs()), len(l.bob.logs())
		pw := watchPeer(l.bob, "alice", t0)
		var msg time.Duration
		for deadline := t0.Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if _, err := l.bob.cocoTimeout(20*time.Second, "send", "home", "alice", "after roaming"); err == nil {
				msg = time.Since(t0)
				break
			} else if time.Now().After(deadline) {
				pw.stop()
				t.Fatalf("run %d: no message from bob to alice within 60 s of the change: %v\n%s%s", run, err, pw.timeline(), l.dump())
			}
		}
		tr, dir := pw.wait(old, moved, 30*time.Second)
		pw.stop()
		t.Logf("run %2d: %s → %s: message after %v, peers truthful after %v, direct to the new address after %v\n  bob's view: %s",
			run, old, moved, msg.Round(time.Millisecond), tr.Round(time.Millisecond), dir.Round(time.Millisecond), pw.timeline())
		if msg > 3*time.Second || tr > 3*time.Second || dir == 0 || dir > 5*time.Second {
			t.Logf("run %d missed a goal; logs since the change:\nalice:\n%s\nbob:\n%s", run, l.alice.logs()[aliceFrom:], l.bob.logs()[bobFrom:])
		}
		if dir == 0 {
			t.Fatalf("run %d: not direct again within 30 s of the change%s", run, l.dump())
		}
		msgs, truthful, direct = append(msgs, msg), append(truthful, tr), append(direct, dir)
	}
	out := fmt.Sprintf("coconet easy-easy, alice's NAT renumbered %d times (times from the change)\n%s\n%s\n%s\n",
		len(msgs),
		distGoal("first message", msgs, 3*time.Second),
		distGoal("coco peers truthful", truthful, 3*time.Second),
		distGoal("direct again", direct, 5*time.Second))
	t.Logf("\n%s", out)
	appendTable(out, *roamTable)
}

// peerWatch polls `coco peers --json` on one host and records the path and
// address it reports for one member.
type peerWatch struct {
	t0           time.Time
	mu           sync.Mutex
	seen         []peerSeen
	stopCh, done chan struct{}
	once         sync.Once
}

type peerSeen struct {
	at         time.Duration
	path, addr string
}

func watchPeer(h *host, name string, t0 time.Time) *peerWatch {
	w := &peerWatch{t0: t0, stopCh: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			s := peerSeen{path: "none"}
			if out, err := h.cocoTimeout(10*time.Second, "peers", "home", "--json"); err == nil {
				var ps []struct {
					UserName  string `json:"user_name"`
					Connected bool   `json:"connected"`
					Path      string `json:"path"`
					Addr      string `json:"addr"`
				}
				json.Unmarshal([]byte(out), &ps)
				for _, p := range ps {
					if p.UserName == name && p.Connected {
						s.path, s.addr = p.Path, p.Addr
					}
				}
			}
			s.at = time.Since(t0)
			w.mu.Lock()
			w.seen = append(w.seen, s)
			w.mu.Unlock()
			select {
			case <-w.stopCh:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return w
}

// wait waits until the watch has seen a direct path to an address on
// moved, and returns when it first saw the truth (anything but direct to
// old) and when it first saw the direct path to moved (0 if not within).
func (w *peerWatch) wait(old, moved string, within time.Duration) (truthful, direct time.Duration) {
	for end := time.Now().Add(within); ; time.Sleep(50 * time.Millisecond) {
		w.mu.Lock()
		truthful, direct = 0, 0
		for _, s := range w.seen {
			onOld := s.path == "direct" && strings.Contains(s.addr, "/"+old+"/")
			if truthful == 0 && !onOld {
				truthful = s.at
			}
			if s.path == "direct" && strings.Contains(s.addr, "/"+moved+"/") {
				direct = s.at
				break
			}
		}
		w.mu.Unlock()
		if direct != 0 || time.Now().After(end) {
			return truthful, direct
		}
	}
}

func (w *peerWatch) stop() {
	w.once.Do(func() { close(w.stopCh) })
	<-w.done
}

// timeline lists the changes the watch saw.
func (w *peerWatch) timeline() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	last := ""
	for _, s := range w.seen {
		cur := s.path
		if s.addr != "" {
			cur += "(" + s.addr + ")"
		}
		if cur != last {
			out = append(out, fmt.Sprintf("%s@%v", cur, s.at.Round(10*time.Millisecond)))
			last = cur
		}
	}
	return strings.Join(out, " ")
}
