package drive

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// This file checks the merge against a reference model written in terms of
// what people do, not of version vectors: writers edit offline in rounds,
// starting each round from the same synced tree; at the end of a round,
// for every path, the last action of each writer that touched it competes
// and the written rule picks the winner (a file beats a delete, then the
// later mtime, then the larger writer); the losing files become conflict
// copies; a path nobody touched keeps its file and its copies. Replicas
// receive the writers' blocks in random batches and random interleavings.

var long = flag.Bool("long", false, "run many more random drive scenarios")

type mfile struct {
	content string
	mtime   int64
	w       WriterID
	deleted bool
}

func (a mfile) wins(b mfile) bool {
	if a.deleted != b.deleted {
		return !a.deleted
	}
	if a.mtime != b.mtime {
		return a.mtime > b.mtime
	}
	return b.w.less(a.w)
}

type model struct {
	files     map[string]mfile
	conflicts map[string][]mfile // losers still shown, by path
}

// expected is the tree the model predicts: path -> content.
func (m *model) expected() map[string]string {
	out := make(map[string]string)
	for p, f := range m.files {
		out[p] = f.content
	}
	for p, ls := range m.conflicts {
		if _, ok := m.files[p]; !ok {
			continue
		}
		for _, l := range ls {
			out[ConflictName(p, time.Unix(0, l.mtime), l.w)] = l.content
		}
	}
	return out
}

var modelPaths = []string{"a.txt", "b", "dir/c.md", ".hidden", "dir/sub/d.tar.gz"}

func TestMergeReferenceModel(t *testing.T) {
	n := 60
	if *long {
		n = 2000
	}
	for seed := range uint64(n) {
		runScenario(t, seed)
	}
}

func runScenario(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	nw := 2 + r.IntN(2)
	ws := make([]*Drive, nw)
	for i := range ws {
		ws[i] = member(t, byte(i+1), true)
	}
	rep, err := OpenStore(t.TempDir(), testAddr, StoreOptions{noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close()
	m := &model{files: map[string]mfile{}, conflicts: map[string][]mfile{}}
	base := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	for round := range 1 + r.IntN(4) {
		touched := make([]map[string]mfile, nw)
		for wi, d := range ws {
			touched[wi] = map[string]mfile{}
			view := maps.Clone(m.files)
			for step := range r.IntN(4) {
				// mtimes collide across writers on purpose: the writer
				// ID breaks the tie.
				now := base.Add(time.Duration(round)*time.Hour + time.Duration(step)*time.Second)
				if r.IntN(3) == 0 {
					now = now.Add(time.Duration(r.IntN(1000)) * time.Millisecond)
				}
				d.opts.Now = func() time.Time { return now }
				live := slices.Sorted(maps.Keys(view))
				p := modelPaths[r.IntN(len(modelPaths))]
				w := d.Writer()
				switch k := r.IntN(6); {
				case k < 3 || len(live) == 0:
					c := fmt.Sprintf("s%d r%d w%d s%d", seed, round, wi, step)
					if _, err := d.WriteFile(p, []byte(c)); err != nil {
						t.Fatal(err)
					}
					f := mfile{content: c, mtime: now.UnixNano(), w: w}
					view[p], touched[wi][p] = f, f
				case k < 5:
					p = live[r.IntN(len(live))]
					if err := d.Remove(p); err != nil {
						t.Fatal(err)
					}
					delete(view, p)
					touched[wi][p] = mfile{deleted: true, mtime: now.UnixNano(), w: w}
				default:
					from := live[r.IntN(len(live))]
					if from == p {
						continue
					}
					if err := d.Rename(from, p); err != nil {
						t.Fatal(err)
					}
					f := mfile{content: view[from].content, mtime: now.UnixNano(), w: w}
					delete(view, from)
					view[p], touched[wi][p] = f, f
					touched[wi][from] = mfile{deleted: true, mtime: now.UnixNano(), w: w}
				}
			}
		}
		// The model's merge.
		for _, p := range modelPaths {
			var cands []mfile
			for wi := range ws {
				if f, ok := touched[wi][p]; ok {
					cands = append(cands, f)
				}
			}
			if len(cands) == 0 {
				continue
			}
			best := cands[0]
			for _, c := range cands[1:] {
				if c.wins(best) {
					best = c
				}
			}
			var losers []mfile
			for _, c := range cands {
				if c != best && !c.deleted {
					losers = append(losers, c)
				}
			}
			if best.deleted {
				delete(m.files, p)
			} else {
				m.files[p] = best
			}
			m.conflicts[p] = losers
		}
		// Sync: the replicator and every writer get every block, each in
		// its own random order.
		stores := []*Store{rep}
		for _, d := range ws {
			stores = append(stores, d.Store())
		}
		for _, dst := range stores {
			for _, i := range r.Perm(len(ws)) {
				randomDeliver(t, r, dst, ws[i].Store())
			}
		}
		for _, d := range ws {
			d.Refresh()
		}
		want := m.expected()
		for wi, d := range ws {
			got := make(map[string]string)
			for _, f := range d.List() {
				b, err := d.ReadFile(f.Path)
				if err != nil {
					t.Fatalf("seed %d round %d writer %d: read %s: %v", seed, round, wi, f.Path, err)
				}
				got[f.Path] = string(b)
			}
			if !maps.Equal(got, want) {
				t.Fatalf("seed %d round %d writer %d:\n got %v\nwant %v", seed, round, wi, got, want)
			}
		}
	}
	// A member who reads everything only from the replicator, in yet
	// another order, builds the same tree.
	late := member(t, 9, true)
	randomDeliver(t, r, late.Store(), rep)
	late.Refresh()
	if a, b := treeKey(late), treeKey(ws[0]); a != b {
		t.Fatalf("seed %d: late member\n got %s\nwant %s", seed, a, b)
	}
}

func treeKey(d *Drive) string {
	var s string
	for _, f := range d.List() {
		s += fmt.Sprintf("%s:%x:%s; ", f.Path, f.Writer[:2], f.ConflictOf)
	}
	return s
}

// randomDeliver copies src's logs into dst in batches of random size,
// interleaving writers at random, then the missing chunks.
func randomDeliver(t *testing.T, r *rand.Rand, dst, src *Store) {
	t.Helper()
	heads := src.Heads()
	for len(heads) > 0 {
		i := r.IntN(len(heads))
		h := heads[i]
		have := dst.Head(h.Writer).Size
		if have >= h.Size {
			heads = slices.Delete(heads, i, i+1)
			continue
		}
		b, _ := src.BatchFrom(h.Writer, have, 1+r.IntN(3), 1<<20)
		if err := dst.AddBatch(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range dst.MissingChunks() {
		if b, err := src.Chunk(c); err == nil {
			dst.AddChunk(c, b)
		}
	}
}
