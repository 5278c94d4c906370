package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/drive/drivenode"
	"github.com/coconet/coconet/engine"
	"github.com/coconet/coconet/homedir"
)

// Co-operative drives (package drive, on the engine through
// drive/drivenode). Every node the daemon runs holds its network's drives
// in <network dir>/drives and syncs them with the member nodes every
// Daemon.DriveSyncEvery (0: 30 s; negative: only on `coco drive sync`).

// attachDrive attaches the drive service to p's engine; it closes with it.
func (d *Daemon) attachDrive(_ context.Context, p *parts) error {
	dir := filepath.Join(homedir.NetworkDir(d.Home, p.e.NetworkID()), "drives")
	_, err := engine.Attach(p.e, func(e *engine.Engine) (*drivenode.Service, error) {
		return drivenode.Start(e, dir, drivenode.Options{Every: d.DriveSyncEvery, Logf: d.Logf})
	})
	return err
}

// drives is the drive service of a network's running node.
func (d *Daemon) drives(network, what string) (*drivenode.Service, error) {
	e, err := d.runningEngine(network, what)
	if err != nil {
		return nil, err
	}
	s, ok := engine.Lookup[*drivenode.Service](e)
	if !ok {
		return nil, fmt.Errorf("the node of %q runs no drives", network)
	}
	return s, nil
}

// memberDrive is a drive this node reads and writes.
func (d *Daemon) memberDrive(ctx context.Context, network, name, what string) (*drivenode.Service, *drivenode.Drive, error) {
	s, err := d.drives(network, what)
	if err != nil {
		return nil, nil, err
	}
	dr, err := s.Member(ctx, name)
	if errors.Is(err, drivenode.ErrNoDrive) {
		err = api.NotFound{Err: err}
	}
	return s, dr, err
}

func (d *Daemon) Drives(ctx context.Context, network string) ([]api.DriveInfo, error) {
	s, err := d.drives(network, "listing drives")
	if err != nil {
		return nil, err
	}
	out := []api.DriveInfo{}
	for _, i := range s.List() {
		out = append(out, wireDriveInfo(i))
	}
	return out, nil
}

func (d *Daemon) DriveCreate(ctx context.Context, network string, req api.DriveCreateRequest) (api.DriveInfo, error) {
	s, err := d.drives(network, "creating a drive")
	if err != nil {
		return api.DriveInfo{}, err
	}
	i, err := s.Create(req.Name)
	return wireDriveInfo(i), err
}

func (d *Daemon) DriveReplicate(ctx context.Context, network, name string) (api.DriveInfo, error) {
	s, err := d.drives(network, "replicating a drive")
	if err != nil {
		return api.DriveInfo{}, err
	}
	i, err := s.Replicate(name)
	return wireDriveInfo(i), err
}

// under reports whether p is dir or inside it ("" is the whole drive).
func under(p, dir string) bool {
	dir = strings.Trim(dir, "/")
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

func (d *Daemon) DriveList(ctx context.Context, network, name, path string) ([]api.DriveFile, error) {
	_, dr, err := d.memberDrive(ctx, network, name, "listing a drive")
	if err != nil {
		return nil, err
	}
	var fs []drive.FileInfo
	for _, f := range dr.Drive.List() {
		if under(f.Path, path) {
			fs = append(fs, f)
		}
	}
	return wireDriveFiles(fs), nil
}

func (d *Daemon) DrivePut(ctx context.Context, network, name string, req api.DrivePutRequest) (api.DriveFile, error) {
	s, dr, err := d.memberDrive(ctx, network, name, "writing to a drive")
	if err != nil {
		return api.DriveFile{}, err
	}
	var r io.Reader = bytes.NewReader(req.Content)
	if req.File != "" {
		f, err := os.Open(req.File)
		if err != nil {
			return api.DriveFile{}, err
		}
		defer f.Close()
		r = f
	}
	fi, err := dr.Drive.Put(req.Path, r)
	if err != nil {
		return api.DriveFile{}, err
	}
	if d.DriveSyncEvery >= 0 {
		s.Kick()
	}
	return wireDriveFile(fi), nil
}

func (d *Daemon) DriveGet(ctx context.Context, network, name string, req api.DriveGetRequest) (api.DriveContent, error) {
	s, dr, err := d.memberDrive(ctx, network, name, "reading a drive")
	if err != nil {
		return api.DriveContent{}, err
	}
	fi, err := dr.Drive.Stat(req.Path)
	if err != nil {
		// Not known here yet: learn what the member nodes hold, then look again.
		s.Sync(ctx, name)
		if fi, err = dr.Drive.Stat(req.Path); err != nil {
			return api.DriveContent{}, api.NotFound{Err: err}
		}
	}
	if req.File == "" && fi.Size > api.DriveMaxContent {
		return api.DriveContent{}, fmt.Errorf("%s is %d bytes, more than an answer carries (%d): read it into a file", req.Path, fi.Size, api.DriveMaxContent)
	}
	if err := s.Fetch(ctx, dr, req.Path); err != nil {
		return api.DriveContent{}, err
	}
	out := api.DriveContent{DriveFile: wireDriveFile(fi)}
	if req.File == "" {
		out.Content, err = dr.Drive.ReadFile(req.Path)
		return out, err
	}
	tmp := req.File + ".coco-tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return api.DriveContent{}, err
	}
	err = dr.Drive.Get(req.Path, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, req.File)
	}
	if err != nil {
		os.Remove(tmp)
		return api.DriveContent{}, err
	}
	return out, nil
}

func (d *Daemon) DriveRemove(ctx context.Context, network, name, path string) (api.DriveFile, error) {
	s, dr, err := d.memberDrive(ctx, network, name, "deleting from a drive")
	if err != nil {
		return api.DriveFile{}, err
	}
	fi, err := dr.Drive.Stat(path)
	if err != nil {
		return api.DriveFile{}, api.NotFound{Err: err}
	}
	if err := dr.Drive.Remove(path); err != nil {
		return api.DriveFile{}, err
	}
	if d.DriveSyncEvery >= 0 {
		s.Kick()
	}
	return wireDriveFile(fi), nil
}

func (d *Daemon) DriveMove(ctx context.Context, network, name string, req api.DriveMoveRequest) (api.DriveFile, error) {
	s, dr, err := d.memberDrive(ctx, network, name, "renaming in a drive")
	if err != nil {
		return api.DriveFile{}, err
	}
	if err := dr.Drive.Rename(req.From, req.To); err != nil {
		return api.DriveFile{}, err
	}
	if d.DriveSyncEvery >= 0 {
		s.Kick()
	}
	fi, err := dr.Drive.Stat(req.To)
	return wireDriveFile(fi), err
}

func (d *Daemon) DriveHistory(ctx context.Context, network, name, path string) ([]api.DriveFile, error) {
	_, dr, err := d.memberDrive(ctx, network, name, "reading a drive's history")
	if err != nil {
		return nil, err
	}
	return wireDriveFiles(dr.Drive.History(path)), nil
}

func (d *Daemon) DriveConflicts(ctx context.Context, network, name string) ([]api.DriveFile, error) {
	_, dr, err := d.memberDrive(ctx, network, name, "listing a drive's conflicts")
	if err != nil {
		return nil, err
	}
	return wireDriveFiles(dr.Drive.Conflicts()), nil
}

func (d *Daemon) DriveStatus(ctx context.Context, network, name string, copies int) (api.DriveHealth, error) {
	s, err := d.drives(network, "reading a drive's health")
	if err != nil {
		return api.DriveHealth{}, err
	}
	dr, err := s.Open(ctx, name)
	if err != nil {
		return api.DriveHealth{}, api.NotFound{Err: err}
	}
	if copies <= 0 {
		copies = 1
	}
	return wireDriveHealth(dr.Replica.Health(copies, 24*time.Hour)), nil
}

func (d *Daemon) DriveSync(ctx context.Context, network, name string) (api.DriveSyncResult, error) {
	s, err := d.drives(network, "syncing a drive")
	if err != nil {
		return api.DriveSyncResult{}, err
	}
	ps, err := s.Sync(ctx, name)
	if errors.Is(err, drivenode.ErrNoDrive) {
		return api.DriveSyncResult{}, api.NotFound{Err: err}
	}
	if err != nil && ps == nil {
		return api.DriveSyncResult{}, err
	}
	// Per-peer failures are in the answer; a drive with no peer reached is
	// not an error of the call.
	return wireDriveSync(ps), nil
}

func (d *Daemon) DriveBandwidth(ctx context.Context, network, name string) (api.DriveBandwidth, error) {
	s, err := d.drives(network, "reading a drive's bandwidth")
	if err != nil {
		return api.DriveBandwidth{}, err
	}
	b, err := s.GetBandwidth(ctx, name)
	return api.DriveBandwidth(b), notFoundDrive(err)
}

func (d *Daemon) DriveSetBandwidth(ctx context.Context, network, name string, req api.DriveBandwidth) (api.DriveBandwidth, error) {
	s, err := d.drives(network, "setting a drive's bandwidth")
	if err != nil {
		return api.DriveBandwidth{}, err
	}
	b, err := s.SetBandwidth(ctx, name, drivenode.Bandwidth(req))
	return api.DriveBandwidth(b), notFoundDrive(err)
}

// notFoundDrive marks a drive no node holds as not found (404).
func notFoundDrive(err error) error {
	if errors.Is(err, drivenode.ErrNoDrive) {
		return api.NotFound{Err: err}
	}
	return err
}
