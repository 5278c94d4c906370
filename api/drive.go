package api

import (
	"context"
	"strconv"
	"time"
)

// DriveService is the part of Service for the co-operative drives of a
// network (package drive, attached by drive/drivenode). A drive is named
// within its network; every call needs the node running.
type DriveService interface {
	// Drives lists the drives this node holds in the network.
	Drives(ctx context.Context, network string) ([]DriveInfo, error)
	// DriveCreate creates a network drive, this user its creator.
	DriveCreate(ctx context.Context, network string, req DriveCreateRequest) (DriveInfo, error)
	// DriveReplicate holds a drive blind: its logs and blocks, not its key.
	DriveReplicate(ctx context.Context, network, drive string) (DriveInfo, error)
	// DriveList lists the files of a drive under a path ("" the whole drive).
	DriveList(ctx context.Context, network, drive, path string) ([]DriveFile, error)
	// DrivePut writes a file: its content from req.Content or, for a file
	// of any size, from req.File, a path the daemon reads.
	DrivePut(ctx context.Context, network, drive string, req DrivePutRequest) (DriveFile, error)
	// DriveGet reads a file, fetching what this node lacks from member
	// nodes: its content in the answer (up to DriveMaxContent bytes), or,
	// when req.File is set, written by the daemon to that path.
	DriveGet(ctx context.Context, network, drive string, req DriveGetRequest) (DriveContent, error)
	// DriveRemove deletes a file.
	DriveRemove(ctx context.Context, network, drive, path string) (DriveFile, error)
	// DriveMove renames a file (renaming a conflict copy resolves it).
	DriveMove(ctx context.Context, network, drive string, req DriveMoveRequest) (DriveFile, error)
	// DriveHistory lists every version of a path, oldest first.
	DriveHistory(ctx context.Context, network, drive, path string) ([]DriveFile, error)
	// DriveConflicts lists the conflict copies of a drive.
	DriveConflicts(ctx context.Context, network, drive string) ([]DriveFile, error)
	// DriveStatus reports which peers hold which writers' logs, with a
	// warning for each log held by fewer than copies replicas.
	DriveStatus(ctx context.Context, network, drive string, copies int) (DriveHealth, error)
	// DriveSync syncs a drive now with every member node reached.
	DriveSync(ctx context.Context, network, drive string) (DriveSyncResult, error)
	// DriveBandwidth is a drive's bandwidth on this node.
	DriveBandwidth(ctx context.Context, network, drive string) (DriveBandwidth, error)
	// DriveSetBandwidth sets it (every field: "" is none).
	DriveSetBandwidth(ctx context.Context, network, drive string, req DriveBandwidth) (DriveBandwidth, error)
}

// DriveBandwidth is a drive's bandwidth on this node: Limit bounds the
// bytes per second of its syncs ("2MB/s"); outside Schedule ("mon-fri
// 19:00-07:00", in TZ or the machine's zone) only logs move, not content.
type DriveBandwidth struct {
	Limit    string `json:"limit,omitempty"`
	Schedule string `json:"schedule,omitempty"`
	TZ       string `json:"tz,omitempty"`
}

// DriveMaxContent is the most bytes of a file's content an answer of
// DriveGet carries; larger files go by path (File). A request's content
// is bounded by the API's 4 MiB request body (about 3 MiB of content).
const DriveMaxContent = 64 << 20

// DriveInfo is a drive this node holds.
type DriveInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"` // hex
	// Role is "member" (holds the key) or "replicator" (blind).
	Role string `json:"role"`
}

// DriveCreateRequest creates a drive.
type DriveCreateRequest struct {
	Name string `json:"name"`
}

// DriveFile is a file (or, in a history, a version) of a drive.
type DriveFile struct {
	Path   string    `json:"path"`
	Size   int64     `json:"size"`
	MTime  time.Time `json:"mtime"`
	Writer string    `json:"writer"` // hex writer key of this version
	Seq    uint64    `json:"seq"`
	// ConflictOf is set on a conflict copy: the path it lost to.
	ConflictOf string `json:"conflict_of,omitempty"`
	Deleted    bool   `json:"deleted,omitempty"`
}

// DrivePutRequest writes a file: Content, or File (a path the daemon
// reads) when set.
type DrivePutRequest struct {
	Path    string `json:"path"`
	Content []byte `json:"content,omitempty"`
	File    string `json:"file,omitempty"`
}

// DriveGetRequest reads a file; File, when set, is a path the daemon
// writes the content to.
type DriveGetRequest struct {
	Path string `json:"path"`
	File string `json:"file,omitempty"`
}

// DriveContent is a file read: its content unless written to a file.
type DriveContent struct {
	DriveFile
	Content []byte `json:"content,omitempty"`
}

// DriveMoveRequest renames a file.
type DriveMoveRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// DriveHealth is what `coco drive status` shows.
type DriveHealth struct {
	Logs     []DriveLogHealth `json:"logs"`
	Peers    []DrivePeer      `json:"peers"`
	Warnings []string         `json:"warnings,omitempty"`
}

// DriveLogHealth is how widely one writer's log is held.
type DriveLogHealth struct {
	Writer string `json:"writer"`
	Size   uint64 `json:"size"` // blocks held here
	Forked bool   `json:"forked"`
	// Holders is each peer's length of the log when last seen.
	Holders map[string]uint64 `json:"holders"`
	Copies  int               `json:"copies"` // replicas holding all of it, this one included
	Behind  []string          `json:"behind,omitempty"`
}

// DrivePeer is what this node last learned of a peer of a drive.
type DrivePeer struct {
	Peer     string           `json:"peer"`
	LastSeen time.Time        `json:"last_seen"`
	Heads    []DriveHeadState `json:"heads"`
}

// DriveHeadState is the length of one writer's log a peer holds.
type DriveHeadState struct {
	Writer string `json:"writer"`
	Size   uint64 `json:"size"`
}

// DriveSyncResult is what one sync did, peer by peer.
type DriveSyncResult struct {
	Peers []DrivePeerSync `json:"peers"`
}

// DrivePeerSync is one peer's share of a sync.
type DrivePeerSync struct {
	Peer           string `json:"peer"`
	BlocksSent     int    `json:"blocks_sent"`
	BlocksReceived int    `json:"blocks_received"`
	ChunksSent     int    `json:"chunks_sent"`
	ChunksReceived int    `json:"chunks_received"`
	BytesSent      int64  `json:"bytes_sent"`
	BytesReceived  int64  `json:"bytes_received"`
	Error          string `json:"error,omitempty"`
}

// The routes of DriveService, each with its Client method.

const drivePath = "/v1/networks/{net}/drives/{drive}"

var rDrives = newList("GET", "/v1/networks/{net}/drives", func(ctx context.Context, s Service, p []string, _ none) ([]DriveInfo, error) {
	return s.Drives(ctx, p[0])
})

func (c *Client) Drives(ctx context.Context, network string) ([]DriveInfo, error) {
	return rDrives.do(ctx, c, none{}, network)
}

var rDriveCreate = newRoute("POST", "/v1/networks/{net}/drives", func(ctx context.Context, s Service, p []string, req DriveCreateRequest) (DriveInfo, error) {
	return s.DriveCreate(ctx, p[0], req)
})

func (c *Client) DriveCreate(ctx context.Context, network string, req DriveCreateRequest) (DriveInfo, error) {
	return rDriveCreate.do(ctx, c, req, network)
}

var rDriveReplicate = newRoute("POST", drivePath+"/replica", func(ctx context.Context, s Service, p []string, _ none) (DriveInfo, error) {
	return s.DriveReplicate(ctx, p[0], p[1])
})

func (c *Client) DriveReplicate(ctx context.Context, network, drive string) (DriveInfo, error) {
	return rDriveReplicate.do(ctx, c, none{}, network, drive)
}

// newListQuery adds r, a list taking the query parameter q, to the table.
func newListQuery[Req, Resp any](method, path, q string, call func(context.Context, Service, []string, Req) (Resp, error)) *route[Req, Resp] {
	r := newQuery(method, path, q, call)
	r.list = true
	return r
}

var rDriveList = newListQuery("GET", drivePath+"/files", "path", func(ctx context.Context, s Service, p []string, _ none) ([]DriveFile, error) {
	return s.DriveList(ctx, p[0], p[1], p[2])
})

func (c *Client) DriveList(ctx context.Context, network, drive, path string) ([]DriveFile, error) {
	return rDriveList.do(ctx, c, none{}, network, drive, path)
}

var rDrivePut = newRoute("PUT", drivePath+"/content", func(ctx context.Context, s Service, p []string, req DrivePutRequest) (DriveFile, error) {
	return s.DrivePut(ctx, p[0], p[1], req)
})

func (c *Client) DrivePut(ctx context.Context, network, drive string, req DrivePutRequest) (DriveFile, error) {
	return rDrivePut.do(ctx, c, req, network, drive)
}

var rDriveGet = newRoute("POST", drivePath+"/reads", func(ctx context.Context, s Service, p []string, req DriveGetRequest) (DriveContent, error) {
	return s.DriveGet(ctx, p[0], p[1], req)
})

func (c *Client) DriveGet(ctx context.Context, network, drive string, req DriveGetRequest) (DriveContent, error) {
	return rDriveGet.do(ctx, c, req, network, drive)
}

var rDriveRemove = newQuery("DELETE", drivePath+"/files", "path", func(ctx context.Context, s Service, p []string, _ none) (DriveFile, error) {
	return s.DriveRemove(ctx, p[0], p[1], p[2])
})

func (c *Client) DriveRemove(ctx context.Context, network, drive, path string) (DriveFile, error) {
	return rDriveRemove.do(ctx, c, none{}, network, drive, path)
}

var rDriveMove = newRoute("POST", drivePath+"/moves", func(ctx context.Context, s Service, p []string, req DriveMoveRequest) (DriveFile, error) {
	return s.DriveMove(ctx, p[0], p[1], req)
})

func (c *Client) DriveMove(ctx context.Context, network, drive string, req DriveMoveRequest) (DriveFile, error) {
	return rDriveMove.do(ctx, c, req, network, drive)
}

var rDriveHistory = newListQuery("GET", drivePath+"/history", "path", func(ctx context.Context, s Service, p []string, _ none) ([]DriveFile, error) {
	return s.DriveHistory(ctx, p[0], p[1], p[2])
})

func (c *Client) DriveHistory(ctx context.Context, network, drive, path string) ([]DriveFile, error) {
	return rDriveHistory.do(ctx, c, none{}, network, drive, path)
}

var rDriveConflicts = newList("GET", drivePath+"/conflicts", func(ctx context.Context, s Service, p []string, _ none) ([]DriveFile, error) {
	return s.DriveConflicts(ctx, p[0], p[1])
})

func (c *Client) DriveConflicts(ctx context.Context, network, drive string) ([]DriveFile, error) {
	return rDriveConflicts.do(ctx, c, none{}, network, drive)
}

var rDriveStatus = newQuery("GET", drivePath+"/status", "copies", func(ctx context.Context, s Service, p []string, _ none) (DriveHealth, error) {
	copies, _ := strconv.Atoi(p[2])
	return s.DriveStatus(ctx, p[0], p[1], copies)
})

func (c *Client) DriveStatus(ctx context.Context, network, drive string, copies int) (DriveHealth, error) {
	return rDriveStatus.do(ctx, c, none{}, network, drive, strconv.Itoa(copies))
}

var rDriveSync = newRoute("POST", drivePath+"/sync", func(ctx context.Context, s Service, p []string, _ none) (DriveSyncResult, error) {
	return s.DriveSync(ctx, p[0], p[1])
})

func (c *Client) DriveSync(ctx context.Context, network, drive string) (DriveSyncResult, error) {
	return rDriveSync.do(ctx, c, none{}, network, drive)
}

var rDriveBandwidth = newRoute("GET", drivePath+"/bandwidth", func(ctx context.Context, s Service, p []string, _ none) (DriveBandwidth, error) {
	return s.DriveBandwidth(ctx, p[0], p[1])
})

func (c *Client) DriveBandwidth(ctx context.Context, network, drive string) (DriveBandwidth, error) {
	return rDriveBandwidth.do(ctx, c, none{}, network, drive)
}

var rDriveSetBandwidth = newRoute("PUT", drivePath+"/bandwidth", func(ctx context.Context, s Service, p []string, req DriveBandwidth) (DriveBandwidth, error) {
	return s.DriveSetBandwidth(ctx, p[0], p[1], req)
})

func (c *Client) DriveSetBandwidth(ctx context.Context, network, drive string, req DriveBandwidth) (DriveBandwidth, error) {
	return rDriveSetBandwidth.do(ctx, c, req, network, drive)
}
