package daemon

import (
	"encoding/hex"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/drive/drivenode"
)

// The conversions of api/drive.go's types (see wire.go). Writer keys and
// addresses go out as hex, peers as node IDs.

func wireDriveInfo(i drivenode.Info) api.DriveInfo {
	return api.DriveInfo{Name: i.Name, Address: i.Address.String(), Role: i.Role}
}

func wireDriveFile(f drive.FileInfo) api.DriveFile {
	return api.DriveFile{Path: f.Path, Size: f.Size, MTime: f.MTime, Writer: hex.EncodeToString(f.Writer[:]),
		Seq: f.Seq, ConflictOf: f.ConflictOf, Deleted: f.Deleted}
}

func wireDriveFiles(fs []drive.FileInfo) []api.DriveFile {
	out := make([]api.DriveFile, 0, len(fs))
	for _, f := range fs {
		out = append(out, wireDriveFile(f))
	}
	return out
}

func wireDriveHealth(h drive.Health) api.DriveHealth {
	out := api.DriveHealth{Logs: []api.DriveLogHealth{}, Peers: []api.DrivePeer{}, Warnings: h.Warnings}
	for _, l := range h.Logs {
		wl := api.DriveLogHealth{Writer: l.Writer.String(), Size: l.Size, Forked: l.Forked,
			Holders: make(map[string]uint64, len(l.Holders)), Copies: l.Copies}
		for p, n := range l.Holders {
			wl.Holders[string(p)] = n
		}
		for _, p := range l.Behind {
			wl.Behind = append(wl.Behind, string(p))
		}
		out.Logs = append(out.Logs, wl)
	}
	for _, p := range h.Peers {
		wp := api.DrivePeer{Peer: string(p.Peer), LastSeen: p.LastSeen, Heads: []api.DriveHeadState{}}
		for _, r := range p.Heads {
			wp.Heads = append(wp.Heads, api.DriveHeadState{Writer: r.Writer.String(), Size: r.Size})
		}
		out.Peers = append(out.Peers, wp)
	}
	return out
}

func wireDriveSync(ps []drivenode.PeerSync) api.DriveSyncResult {
	out := api.DriveSyncResult{Peers: []api.DrivePeerSync{}}
	for _, p := range ps {
		w := api.DrivePeerSync{Peer: p.Peer.String(), BlocksSent: p.Stats.BlocksSent, BlocksReceived: p.Stats.BlocksReceived,
			ChunksSent: p.Stats.ChunksSent, ChunksReceived: p.Stats.ChunksReceived,
			BytesSent: p.Stats.BytesSent, BytesReceived: p.Stats.BytesReceived}
		if p.Err != nil {
			w.Error = p.Err.Error()
		}
		out.Peers = append(out.Peers, w)
	}
	return out
}
