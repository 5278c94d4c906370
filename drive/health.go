package drive

import (
	"fmt"
	"slices"
	"time"
)

// LogHealth is how widely one writer's log is held, as this replica last
// heard from its peers.
type LogHealth struct {
	Writer WriterID `json:"writer"`
	Size   uint64   `json:"size"`   // blocks held here
	Forked bool     `json:"forked"` // the writer is flagged
	// Holders is each peer's length of the log when last seen.
	Holders map[PeerID]uint64 `json:"holders"`
	// Copies is how many replicas (this one included) hold every block
	// held here; Behind lists the peers that lack some.
	Copies int      `json:"copies"`
	Behind []PeerID `json:"behind,omitempty"`
}

// Health is what `coco drive status` shows.
type Health struct {
	Logs     []LogHealth `json:"logs"`
	Peers    []PeerState `json:"peers"`
	Warnings []string    `json:"warnings,omitempty"`
}

// Health reports, for every writer's log held here, which peers hold it up
// to which length and how many copies of its last block exist, with a
// warning for each log held on fewer than target replicas. Peers whose
// last hello is older than maxAge (0: any age) are not counted.
func (r *Replica) Health(target int, maxAge time.Duration) Health {
	peers := r.Peers()
	now := r.opts.Now()
	h := Health{Peers: peers}
	for _, head := range r.store.Heads() {
		lh := LogHealth{Writer: head.Writer, Size: head.Size, Forked: r.store.Forked(head.Writer),
			Holders: make(map[PeerID]uint64), Copies: 1}
		for _, p := range peers {
			if maxAge > 0 && now.Sub(p.LastSeen) > maxAge {
				continue
			}
			var n uint64
			for _, ph := range p.Heads {
				if ph.Writer == head.Writer {
					n = ph.Size
				}
			}
			lh.Holders[p.Peer] = n
			if n >= head.Size {
				lh.Copies++
			} else {
				lh.Behind = append(lh.Behind, p.Peer)
			}
		}
		slices.Sort(lh.Behind)
		if lh.Copies < target {
			h.Warnings = append(h.Warnings, fmt.Sprintf("log of writer %s (%d blocks) is held by %d replicas, fewer than the %d wanted", head.Writer.Short(), head.Size, lh.Copies, target))
		}
		if lh.Forked {
			h.Warnings = append(h.Warnings, fmt.Sprintf("writer %s forked its log: its later blocks are refused", head.Writer.Short()))
		}
		h.Logs = append(h.Logs, lh)
	}
	return h
}
