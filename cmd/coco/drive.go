package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/coconet/coconet/api"
)

// Co-operative drives: `coco drive …` (api/drive.go). A drive is named
// NET/NAME: the network, then the drive's name in it.

// driveRef splits NET/NAME.
func driveRef(s string) (network, name string, err error) {
	network, name, ok := strings.Cut(s, "/")
	if !ok || network == "" || name == "" {
		return "", "", usagef("name the drive as NET/NAME (the network, a slash, the drive), not %q", s)
	}
	return network, name, nil
}

func runDriveCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("drive create", flag.ContinueOnError)
	network := fs.String("net", "", "the network whose members share the drive (or name it NET/NAME)")
	pos, err := parseN(fs, args, 1, 1, "the drive's name (and --net NET)")
	if err != nil {
		return err
	}
	name := pos[0]
	if *network == "" {
		if *network, name, err = driveRef(pos[0]); err != nil {
			return err
		}
	}
	i, err := e.svc.DriveCreate(ctx, *network, api.DriveCreateRequest{Name: name})
	return show(e, i, err, func(w io.Writer) {
		fmt.Fprintf(w, "Created drive %s/%s (address %s). Every owner and admin of %s can use it; put a file with: coco drive put %s/%s PATH FILE\n",
			*network, i.Name, i.Address[:16], *network, *network, i.Name)
	})
}

func runDriveList(ctx context.Context, e *env, args []string) error {
	ds, err := e.svc.Drives(ctx, args[0])
	return show(e, ds, err, func(w io.Writer) {
		table(w, ds, fmt.Sprintf("This node holds no drive of %s; create one with `coco drive create NAME --net %s`.", args[0], args[0]), "DRIVE\tROLE\tADDRESS", func(tw io.Writer, d api.DriveInfo) {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", d.Name, d.Role, d.Address[:16])
		})
	})
}

func runDriveReplicate(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	i, err := e.svc.DriveReplicate(ctx, network, name)
	return show(e, i, err, func(w io.Writer) {
		fmt.Fprintf(w, "This node now holds drive %s/%s as a %s: it stores and serves its logs and blocks.\n", network, i.Name, i.Role)
	})
}

func driveFiles(w io.Writer, fs []api.DriveFile, empty string) {
	table(w, fs, empty, "PATH\tSIZE\tMODIFIED\tWRITER", func(tw io.Writer, f api.DriveFile) {
		p := f.Path
		if f.Deleted {
			p += " (deleted)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", p, size(f.Size), f.MTime.Local().Format("2006-01-02 15:04:05"), short(f.Writer))
	})
}

func short(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}

func runDriveLs(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	path := ""
	if len(args) > 1 {
		path = args[1]
	}
	fs, err := e.svc.DriveList(ctx, network, name, path)
	return show(e, fs, err, func(w io.Writer) { driveFiles(w, fs, "No files.") })
}

func runDrivePut(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	src := args[1]
	if len(args) > 2 {
		src = args[2]
	}
	if src == "-" {
		// Through a file the daemon reads: stdin may be larger than a request.
		tmp, err := os.CreateTemp("", "coco-drive-put-")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		_, err = io.Copy(tmp, e.stdin)
		if cerr := tmp.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		src = tmp.Name()
	}
	abs, err := filepath.Abs(src) // the daemon reads it from its own directory
	if err != nil {
		return err
	}
	var f api.DriveFile
	put := func(file string) error {
		var err error
		f, err = e.svc.DrivePut(ctx, network, name, api.DrivePutRequest{Path: args[1], File: file})
		return err
	}
	var total int64
	if fi, err := os.Stat(abs); err == nil {
		total = fi.Size()
	}
	p := newProgress(e, "put", args[1], total)
	ok := false
	if p != nil {
		var n int64
		n, ok, err = throughPipe(abs, p, put)
		if ok && err == nil {
			p.done(n)
		}
	}
	if !ok {
		err = put(abs)
	}
	return show(e, f, err, func(w io.Writer) {
		fmt.Fprintf(w, "Wrote %s (%s) to %s/%s.\n", f.Path, size(f.Size), network, name)
	})
}

func runDriveGet(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	dst := "-"
	if len(args) > 2 {
		dst = args[2]
	}
	req := api.DriveGetRequest{Path: args[1]}
	if dst != "-" {
		if req.File, err = filepath.Abs(dst); err != nil {
			return err
		}
	}
	var p *progress
	if req.File != "" {
		var total int64
		if fs, err := e.svc.DriveList(ctx, network, name, args[1]); err == nil {
			for _, f := range fs {
				if f.Path == strings.Trim(args[1], "/") {
					total = f.Size
				}
			}
		}
		p = newProgress(e, "get", args[1], total)
	}
	stop, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		if p != nil {
			watchFile(p, req.File+".coco-tmp", stop) // where the daemon writes it first
		}
	}()
	c, err := e.svc.DriveGet(ctx, network, name, req)
	close(stop)
	<-watched
	if err != nil {
		return err
	}
	p.done(c.Size)
	if dst == "-" && !e.json {
		_, err = e.stdout.Write(c.Content)
		return err
	}
	return show(e, c, nil, func(w io.Writer) {
		fmt.Fprintf(w, "Read %s (%s) into %s.\n", c.Path, size(c.Size), dst)
	})
}

func runDriveRm(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	var out []api.DriveFile
	for _, p := range args[1:] {
		f, err := e.svc.DriveRemove(ctx, network, name, p)
		if err != nil {
			return err
		}
		out = append(out, f)
	}
	return show(e, out, nil, func(w io.Writer) {
		for _, f := range out {
			fmt.Fprintf(w, "Deleted %s.\n", f.Path)
		}
	})
}

func runDriveMv(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	f, err := e.svc.DriveMove(ctx, network, name, api.DriveMoveRequest{From: args[1], To: args[2]})
	return show(e, f, err, func(w io.Writer) { fmt.Fprintf(w, "Moved %s to %s.\n", args[1], f.Path) })
}

func runDriveHistory(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	fs, err := e.svc.DriveHistory(ctx, network, name, args[1])
	return show(e, fs, err, func(w io.Writer) { driveFiles(w, fs, "No versions of "+args[1]+".") })
}

func runDriveConflicts(ctx context.Context, e *env, args []string) error {
	network, name, err := driveRef(args[0])
	if err != nil {
		return err
	}
	fs, err := e.svc.DriveConflicts(ctx, network, name)
	return show(e, fs, err, func(w io.Writer) {
		table(w, fs, "No conflicts.", "CONFLICT COPY\tOF\tSIZE\tWRITER", func(tw io.Writer, f api.DriveFile) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Path, f.ConflictOf, size(f.Size), short(f.Writer))
		})
		if len(fs) > 0 {
			fmt.Fprintln(w, "Keep a copy by moving it onto the file (coco drive mv), or delete it (coco drive rm).")
		}
	})
}

func runDriveStatus(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("drive status", flag.ContinueOnError)
	copies := fs.Int("copies", 3, "warn about logs held by fewer replicas than this")
	pos, err := parseN(fs, args, 1, 1, "the drive as NET/NAME")
	if err != nil {
		return err
	}
	network, name, err := driveRef(pos[0])
	if err != nil {
		return err
	}
	h, err := e.svc.DriveStatus(ctx, network, name, *copies)
	return show(e, h, err, func(w io.Writer) {
		table(w, h.Logs, "No writer has written to this drive yet.", "WRITER\tBLOCKS\tCOPIES\tBEHIND", func(tw io.Writer, l api.DriveLogHealth) {
			f := ""
			if l.Forked {
				f = " (forked: refused)"
			}
			var behind []string
			for _, b := range l.Behind {
				behind = append(behind, short(b))
			}
			fmt.Fprintf(tw, "%s%s\t%d\t%d\t%s\n", short(l.Writer), f, l.Size, l.Copies, dash(strings.Join(behind, ",")))
		})
		for _, p := range h.Peers {
			fmt.Fprintf(w, "peer %s last seen %s\n", p.Peer, p.LastSeen.Local().Format("2006-01-02 15:04:05"))
		}
		for _, warn := range h.Warnings {
			fmt.Fprintf(w, "warning: %s\n", warn)
		}
	})
}

func runDriveSyncNodes(ctx context.Context, e *env, network, name string) error {
	r, err := e.svc.DriveSync(ctx, network, name)
	return show(e, r, err, func(w io.Writer) {
		table(w, r.Peers, "No member node to sync with.", "PEER\tBLOCKS IN/OUT\tCHUNKS IN/OUT\tBYTES IN/OUT\tERROR", func(tw io.Writer, p api.DrivePeerSync) {
			fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d\t%s/%s\t%s\n", p.Peer, p.BlocksReceived, p.BlocksSent, p.ChunksReceived, p.ChunksSent,
				size(p.BytesReceived), size(p.BytesSent), dash(p.Error))
		})
	})
}

func runDriveBandwidth(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("drive bandwidth", flag.ContinueOnError)
	fs.String("limit", "", `bytes per second of the drive's syncs, e.g. "2MB/s" ("none": no limit)`)
	fs.String("schedule", "", `when content moves, e.g. "mon-fri 19:00-07:00" (outside it only logs do; "none": always)`)
	fs.String("tz", "", "the schedule's time zone, e.g. Europe/Paris (default: the machine's)")
	pos, err := parseN(fs, args, 1, 1, "the drive as NET/NAME")
	if err != nil {
		return err
	}
	network, name, err := driveRef(pos[0])
	if err != nil {
		return err
	}
	b, err := e.svc.DriveBandwidth(ctx, network, name)
	if err != nil {
		return err
	}
	set := false
	fs.Visit(func(f *flag.Flag) {
		set = true
		v := f.Value.String()
		if v == "none" {
			v = ""
		}
		switch f.Name {
		case "limit":
			b.Limit = v
		case "schedule":
			b.Schedule = v
		case "tz":
			b.TZ = v
		}
	})
	if set {
		if b, err = e.svc.DriveSetBandwidth(ctx, network, name, b); err != nil {
			return err
		}
	}
	return show(e, b, nil, func(w io.Writer) {
		rate, when := "no limit", "always"
		if b.Limit != "" {
			rate = b.Limit
		}
		if b.Schedule != "" {
			when = b.Schedule
			if b.TZ != "" {
				when += " (" + b.TZ + ")"
			}
		}
		fmt.Fprintf(w, "%s/%s on this node: %s; content moves %s, logs always.\n", network, name, rate, when)
	})
}
