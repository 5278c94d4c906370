package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
)

func runCopy(ctx context.Context, e *env, args []string) error {
	net, to, ok := strings.Cut(args[1], ":")
	if !ok || net == "" || to == "" {
		return usagef("the destination is NET:MEMBER, e.g. home:bob")
	}
	path, err := filepath.Abs(args[0])
	if err != nil {
		return err
	}
	ch, err := e.svc.Copy(ctx, net, api.CopyRequest{To: to, Path: path})
	if err != nil {
		return err
	}
	start := time.Now()
	for p := range ch {
		if e.json {
			e.output(p, nil)
		}
		switch {
		case p.Error != "":
			clearLine(e)
			return errors.New(p.Error)
		case p.Result != nil:
			clearLine(e)
			r := p.Result
			if !e.json {
				took := time.Since(start)
				fmt.Fprintf(e.stdout, "Copied %s (%s) to %s in %s (%s/s); SHA-256 %s… verified by the receiver",
					r.Name, size(r.Size), to, took.Round(time.Millisecond), size(int64(float64(r.Size-r.Resumed)/took.Seconds())), r.SHA256[:16])
				if r.Resumed > 0 {
					fmt.Fprintf(e.stdout, ", resumed after %s", size(r.Resumed))
				}
				fmt.Fprintln(e.stdout, ".")
			}
			return nil
		default:
			if !e.json && p.Total > 0 {
				pct := float64(p.Done) * 100 / float64(p.Total)
				liveLine(e, "%-7s %5.1f%%  %s / %s   ", p.Phase, pct, size(p.Done), size(p.Total))
			}
		}
	}
	if ctx.Err() != nil {
		return errors.New("interrupted; run the same command again to resume")
	}
	return errors.New("the daemon ended the copy without a result; run the same command again to resume")
}

func clearLine(e *env) {
	liveLine(e, "%-60s\r", "")
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// parseSize reads "4GiB", "500M", "1024": binary units, the "iB" and "B"
// optional.
func parseSize(s string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
	if err != nil || v < 0 || v*float64(mult) > 1<<62 {
		return 0, errors.New("give a size such as 500MiB or 4GiB")
	}
	return int64(v * float64(mult)), nil
}

func runReceive(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("receive", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory to store received files in")
	var allow allowFlag
	fs.Var(&allow, "allow", allowUsage)
	maxSize := fs.String("max-size", "4GiB", "refuse larger files (bytes, or with KiB, MiB, GiB, TiB; 0 for no limit)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *dir == "" {
		return usagef("give the network and --dir DIR")
	}
	limit, err := parseSize(*maxSize)
	if err != nil {
		return usagef("--max-size %s: %v", *maxSize, err)
	}
	if limit == 0 {
		limit = -1 // no limit
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	ch, err := e.svc.Receive(ctx, pos[0], api.ReceiveRequest{Dir: abs, Allow: allow, MaxSize: limit})
	if err != nil {
		return err
	}
	if !e.json {
		from := "the owner and admins"
		if len(allow) > 0 {
			from = allow.String()
		}
		lim := "no size limit"
		if limit > 0 {
			lim = "up to " + size(limit)
		}
		fmt.Fprintf(e.stderr, "Receiving files for %q into %s from %s, %s; Ctrl-C to stop.\n", pos[0], abs, from, lim)
	}
	for ev := range ch {
		e.output(ev, func(w io.Writer) {
			switch {
			case ev.Error != "":
				fmt.Fprintf(w, "%s  %s from %s: %s\n", time.Now().Format("15:04:05"), ev.Name, ev.From, ev.Error)
			default:
				fmt.Fprintf(w, "%s  received %s (%s) from %s → %s\n", time.Now().Format("15:04:05"), ev.Name, size(ev.Size), ev.From, ev.Path)
			}
		})
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the daemon stopped")
}
