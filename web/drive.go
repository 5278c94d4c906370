package web

import (
	"net/http"
	"sort"
	"strings"

	"github.com/coconet/coconet/api"
)

// The drive pages: the drives this node holds, and one drive's files,
// conflict copies and replica health. Reads and writes go through the
// API's drive routes from the page's script (the content as base64 JSON,
// bounded by the API's request size: big files stay the CLI's).

type drivesData struct {
	Drives []api.DriveInfo
}

func (s *Server) drives(r *http.Request, v *view) error {
	v.Title = v.Net.Name + ": drives"
	ds, err := s.svc.Drives(r.Context(), v.Net.ID.String())
	sort.Slice(ds, func(i, j int) bool { return ds[i].Name < ds[j].Name })
	v.Data = drivesData{Drives: ds}
	return err
}

// driveCopies is the number of replicas below which a writer's log is
// flagged, as `coco drive status` does by default.
const driveCopies = 2

type driveData struct {
	Drive     api.DriveInfo
	Files     []api.DriveFile
	FilesErr  string
	Conflicts []api.DriveFile
	Health    api.DriveHealth
	HealthErr string
	Copies    int
}

func (s *Server) drive(r *http.Request, v *view) error {
	ctx, id, name := r.Context(), v.Net.ID.String(), r.PathValue("drive")
	v.Title = v.Net.Name + ": drive " + name
	ds, err := s.svc.Drives(ctx, id)
	if err != nil {
		return err
	}
	d := &driveData{Copies: driveCopies}
	v.Data = d
	for _, x := range ds {
		if x.Name == name {
			d.Drive = x
		}
	}
	if d.Drive.Name == "" {
		d.Drive.Name = name
		d.FilesErr = "this node does not hold the drive " + name
		return nil
	}
	if fs, err := s.svc.DriveList(ctx, id, name, ""); err != nil {
		d.FilesErr = err.Error() // a blind replicator reads no names
	} else {
		for _, f := range fs {
			if f.ConflictOf != "" {
				d.Conflicts = append(d.Conflicts, f)
			} else if !f.Deleted {
				d.Files = append(d.Files, f)
			}
		}
	}
	if cs, err := s.svc.DriveConflicts(ctx, id, name); err == nil && len(cs) > 0 {
		d.Conflicts = cs
	}
	if d.Health, err = s.svc.DriveStatus(ctx, id, name, driveCopies); err != nil {
		d.HealthErr = err.Error()
	}
	return nil
}

// base is a path's last element.
func base(p string) string { return p[strings.LastIndex(p, "/")+1:] }
