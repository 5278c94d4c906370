package drive

import (
	"bytes"
	"path"
	"slices"
	"strings"
	"time"
)

// version is one state of one path: what an operation made of it.
type version struct {
	w       WriterID
	seq     uint64
	vv      VV
	deleted bool
	mtime   int64
	size    int64
	chunks  []Hash
	epoch   uint32 // of the chunks' key
	renamed string // a rename: the path it came from
}

// wins orders concurrent versions: a file beats a delete, then the later
// modification time, then the larger writer ID, then the later position.
// Every replica applies the same rule, so it picks the same winner.
func (v *version) wins(o *version) bool {
	if v.deleted != o.deleted {
		return !v.deleted
	}
	if v.mtime != o.mtime {
		return v.mtime > o.mtime
	}
	if v.w != o.w {
		return o.w.less(v.w)
	}
	return v.seq > o.seq
}

// merger folds operations into the drive's tree. For every path it keeps
// the versions no other version has seen (the maxima of the version
// vectors); an operation that another has seen is dropped. Domination is
// a partial order, so the maxima of a set of versions do not depend on the
// order they arrive in, and neither does the tree.
type merger struct {
	paths   map[string][]*version
	history map[string][]*version
}

func newMerger() *merger {
	return &merger{paths: make(map[string][]*version), history: make(map[string][]*version)}
}

func (m *merger) addVersion(p string, v *version) {
	m.history[p] = append(m.history[p], v)
	cur := m.paths[p]
	keep := cur[:0:0]
	for _, c := range cur {
		switch v.vv.compare(c.vv) {
		case vvBefore:
			return // seen already
		case vvEqual:
			if c.w == v.w && c.seq == v.seq {
				return // the same op again
			}
		case vvAfter:
			continue // v replaces c
		}
		keep = append(keep, c)
	}
	m.paths[p] = append(keep, v)
}

// apply adds op, written by w at position seq (1-based).
func (m *merger) apply(w WriterID, seq uint64, op *Op) {
	if op.Kind == opMark {
		return
	}
	v := &version{w: w, seq: seq, vv: op.VV, mtime: op.MTime, size: op.Size, chunks: op.Chunks, epoch: op.ChunkEpoch}
	switch op.Kind {
	case opDelete:
		v.deleted = true
	case opRename:
		m.addVersion(op.From, &version{w: w, seq: seq, vv: op.FromVV, mtime: op.MTime, deleted: true})
		v.renamed = op.From
	}
	m.addVersion(op.Path, v)
}

// clock is the version vector that has seen every current version of p.
func (m *merger) clock(p string) VV {
	var vv VV
	for _, v := range m.paths[p] {
		vv = vv.merge(v.vv)
	}
	return vv
}

// FileInfo describes a file of the drive.
type FileInfo struct {
	Path   string    `json:"path"`
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	Writer WriterID  `json:"writer"` // who wrote this version
	Seq    uint64    `json:"seq"`    // its position in the writer's log
	// ConflictOf is set on a conflict copy: the path whose concurrent
	// version this one lost to.
	ConflictOf string `json:"conflict_of,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"` // in History only

	chunks []Hash
	epoch  uint32
}

func (v *version) info(p string) FileInfo {
	return FileInfo{Path: p, Size: v.size, MTime: time.Unix(0, v.mtime).UTC(), Writer: v.w, Seq: v.seq, Deleted: v.deleted, chunks: v.chunks, epoch: v.epoch}
}

// ConflictName is the name of the conflict copy of p for a version written
// by w at mtime, in Syncthing's form:
// name.sync-conflict-YYYYMMDD-HHMMSS-WRITER.ext (UTC, so every replica
// gives the same name).
func ConflictName(p string, mtime time.Time, w WriterID) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	if ext == base { // ".bashrc"
		ext = ""
	}
	stem := strings.TrimSuffix(base, ext)
	return dir + stem + ".sync-conflict-" + mtime.UTC().Format("20060102-150405") + "-" + w.Short() + ext
}

// file returns the file at p when a version of p itself holds it (not a
// conflict copy), without building the whole tree.
func (m *merger) file(p string) (FileInfo, bool) {
	vs := m.paths[p]
	if len(vs) == 0 {
		return FileInfo{}, false
	}
	best := vs[0]
	for _, v := range vs[1:] {
		if v.wins(best) {
			best = v
		}
	}
	if best.deleted {
		return FileInfo{}, false
	}
	return best.info(p), true
}

// tree returns the files of the drive, conflict copies included, sorted by
// path. A conflict copy never hides a file of the same name.
func (m *merger) tree() []FileInfo {
	var files, copies []FileInfo
	for p, vs := range m.paths {
		if len(vs) == 0 {
			continue
		}
		best := vs[0]
		for _, v := range vs[1:] {
			if v.wins(best) {
				best = v
			}
		}
		if best.deleted {
			continue
		}
		files = append(files, best.info(p))
		for _, v := range vs {
			if v != best && !v.deleted {
				c := v.info(ConflictName(p, time.Unix(0, v.mtime), v.w))
				c.ConflictOf = p
				copies = append(copies, c)
			}
		}
	}
	taken := make(map[string]bool, len(files))
	for _, f := range files {
		taken[f.Path] = true
	}
	slices.SortFunc(copies, func(a, b FileInfo) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		if c := bytes.Compare(a.Writer[:], b.Writer[:]); c != 0 {
			return c
		}
		return int(int64(a.Seq) - int64(b.Seq))
	})
	for _, c := range copies {
		if !taken[c.Path] {
			taken[c.Path] = true
			files = append(files, c)
		}
	}
	slices.SortFunc(files, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return files
}
