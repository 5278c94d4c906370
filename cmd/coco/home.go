package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/home"
)

// homeMulti is a repeatable flag.
type homeMulti []string

func (m *homeMulti) String() string     { return strings.Join(*m, ",") }
func (m *homeMulti) Set(s string) error { *m = append(*m, s); return nil }

func runResourceList(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("resource list", flag.ContinueOnError)
	zone := fs.String("zone", "", "only the resources of this zone")
	pos, err := parseN(fs, args, 1, 1, "the network")
	if err != nil {
		return err
	}
	l, err := e.svc.Resources(ctx, pos[0], *zone)
	return show(e, l, err, func(w io.Writer) {
		if len(l.Resources) == 0 {
			fmt.Fprintln(w, "No resources you may use are online.")
		} else {
			table(w, l.Resources, "", "RESOURCE\tNAME\tZONE\tDEVICE\tSTATE\tCOMMANDS", func(tw io.Writer, r api.Resource) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Name, dash(r.Zone), r.Device, homeState(r), homeCommands(r))
			})
		}
		if len(l.Offline) > 0 {
			fmt.Fprintf(w, "Offline: %s\n", strings.Join(l.Offline, ", "))
		}
	})
}

// homeState renders a resource's attributes: "on_off.on=true level.level=40%".
func homeState(r api.Resource) string {
	var out []string
	for _, c := range r.Capabilities {
		for _, a := range c.Attributes {
			a.Value = homeValue(a)
			unit := a.Unit
			if unit == "°C" || unit == "%" || unit == "K" || unit == "°" {
				out = append(out, fmt.Sprintf("%s.%s=%v%s", c.Name, a.Name, a.Value, unit))
			} else {
				out = append(out, fmt.Sprintf("%s.%s=%v", c.Name, a.Name, a.Value))
			}
		}
	}
	return dash(strings.Join(out, " "))
}

func homeCommands(r api.Resource) string {
	var out []string
	for _, c := range r.Capabilities {
		for _, cmd := range c.Commands {
			out = append(out, c.Name+"."+cmd.Name)
		}
	}
	return dash(strings.Join(out, " "))
}

func runCmd(ctx context.Context, e *env, args []string) error {
	a := api.Action{Resource: args[1], Capability: args[2], Command: args[3]}
	kv, err := home.ParseArgs(args[4:])
	if err != nil {
		return usagef("%v", err)
	}
	a.Args = kv
	r, err := e.svc.HomeCommand(ctx, args[0], a)
	if ae := (*api.ActionError)(nil); err != nil && !errors.As(err, &ae) {
		return err
	} // a failed action: its result is printed (--json), then its error
	if err := e.output(r, func(w io.Writer) {
		if !r.OK {
			return
		}
		var ch []string
		for _, c := range r.Changes {
			ch = append(ch, fmt.Sprintf("%s.%s=%v", c.Capability, c.Attribute, c.Value))
		}
		state := ""
		if len(ch) > 0 {
			state = ": " + strings.Join(ch, " ")
		}
		fmt.Fprintf(w, "%s %s.%s done on %s in %s%s\n", a.Resource, a.Capability, a.Command, r.Device, homeTook(r.Took), state)
	}); err != nil {
		return err
	}
	if !r.OK {
		return errors.New(r.Error)
	}
	return nil
}

func homeTook(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

func runWatch(ctx context.Context, e *env, args []string) error {
	res := ""
	if len(args) == 2 {
		res = args[1]
	}
	ch, err := e.svc.HomeWatch(ctx, args[0], res)
	if err != nil {
		return err
	}
	if !e.json {
		what := "every resource you may see"
		if res != "" {
			what = res
		}
		fmt.Fprintf(e.stderr, "Watching %s in %q; Ctrl-C to stop.\n", what, args[0])
	}
	for c := range ch {
		e.output(c, func(w io.Writer) {
			tag := ""
			if c.Retained {
				tag = "  (current)"
			}
			fmt.Fprintf(w, "%s  %s  %s.%s = %v  [%s]%s\n", c.Time.Local().Format("15:04:05"), c.Resource, c.Capability, c.Attribute, c.Value, c.Device, tag)
		})
	}
	if ctx.Err() != nil {
		return nil
	}
	return errors.New("the daemon stopped")
}

func runGrant(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("grant", flag.ContinueOnError)
	var resources homeMulti
	fs.Var(&resources, "resource", "a resource the grant covers (repeat for more)")
	zone := fs.String("zone", "", "a zone whose resources the grant covers")
	capability := fs.String("capability", "", "the capability granted, e.g. lock")
	command := fs.String("command", "", "only this command of the capability, e.g. unlock")
	days := fs.String("days", "", "days of the week: tue,thu, mon-fri, weekdays, weekend (default every day)")
	from := fs.String("from", "", "start time of day, HH:MM")
	to := fs.String("to", "", "end time of day, HH:MM (not after --from: the next day)")
	tz := fs.String("tz", "", "IANA time zone of the times and dates, e.g. Asia/Kolkata (default UTC)")
	validFrom := fs.String("valid-from", "", "first day or instant, e.g. 2026-05-01 or \"2026-05-01 09:00\"")
	until := fs.String("until", "", "end day or instant (exclusive)")
	pos, err := parseN(fs, args, 2, 2, "the network and the guest")
	if err != nil {
		return err
	}
	if len(resources) == 0 && *zone == "" {
		return usagef("say what the grant covers: --resource R or --zone Z")
	}
	if *capability == "" {
		return usagef("say which capability: --capability C")
	}
	g := api.Grant{Resources: resources, Zone: *zone, Capability: *capability, Command: *command, TZ: *tz}
	if (*from == "") != (*to == "") {
		return usagef("give both --from and --to")
	}
	if *from != "" || *days != "" {
		ds, err := home.ParseDays(*days)
		if err != nil {
			return usagef("--days: %v", err)
		}
		w := api.Window{Days: ds, From: *from, To: *to}
		if *from == "" {
			w.From, w.To = "00:00", "24:00"
		}
		g.Windows = []api.Window{w}
	}
	if *validFrom != "" {
		if g.ValidFrom, err = home.ParseTime(*validFrom, *tz); err != nil {
			return usagef("--valid-from: %v", err)
		}
	}
	if *until != "" {
		if g.Until, err = home.ParseTime(*until, *tz); err != nil {
			return usagef("--until: %v", err)
		}
	}
	out, err := e.svc.GrantCreate(ctx, pos[0], api.GrantRequest{Member: pos[1], Grant: g})
	return show(e, out, err, func(w io.Writer) {
		fmt.Fprintf(w, "Granted %s %s (grant %s).\n", out.UserName, describeGrant(out), out.ID)
		fmt.Fprintf(w, "Revoke it with: coco revoke %s %s\n", pos[0], out.ID)
	})
}

func runGrantList(ctx context.Context, e *env, args []string) error {
	gs, err := e.svc.Grants(ctx, args[0])
	return show(e, gs, err, func(w io.Writer) {
		table(w, gs, fmt.Sprintf("No grants: guests of %q use nothing yet.", args[0]), "GRANT\tGUEST\tALLOWS\tBY", func(tw io.Writer, g api.Grant) {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", g.ID, g.UserName, describeGrant(g), dash(g.GrantedBy))
		})
	})
}

func runRevoke(ctx context.Context, e *env, args []string) error {
	g, err := e.svc.GrantRevoke(ctx, args[0], args[1])
	return show(e, g, err, func(w io.Writer) {
		fmt.Fprintf(w, "Revoked grant %s: %s may no longer use %s.\n", g.ID, g.UserName, describeGrant(g))
	})
}

func runZoneCreate(ctx context.Context, e *env, args []string) error {
	z, err := e.svc.ZoneCreate(ctx, args[0], args[1])
	return show(e, z, err, func(w io.Writer) {
		fmt.Fprintf(w, "Created zone %q. Put resources in it: coco zone add %s %q RESOURCE…\n", z.Name, args[0], z.Name)
	})
}

func runZoneList(ctx context.Context, e *env, args []string) error {
	zs, err := e.svc.Zones(ctx, args[0])
	return show(e, zs, err, func(w io.Writer) {
		table(w, zs, fmt.Sprintf("No zones yet: coco zone create %s NAME", args[0]), "ZONE\tRESOURCES", func(tw io.Writer, z api.Zone) {
			fmt.Fprintf(tw, "%s\t%s\n", z.Name, dash(strings.Join(z.Resources, ", ")))
		})
	})
}

func runZoneAdd(ctx context.Context, e *env, args []string) error {
	return zonePlace(ctx, e, args, false)
}

func runZoneMove(ctx context.Context, e *env, args []string) error {
	return zonePlace(ctx, e, args, true)
}

func zonePlace(ctx context.Context, e *env, args []string, move bool) error {
	var out []api.Placement
	for _, r := range args[2:] {
		p, err := e.svc.ZonePlace(ctx, args[0], api.PlaceRequest{Resource: r, Zone: args[1], Move: move})
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	return e.output(out, func(w io.Writer) {
		for _, p := range out {
			switch {
			case p.From == p.Zone:
				fmt.Fprintf(w, "%s is already in %q.\n", p.Resource, p.Zone)
			case p.From != "":
				fmt.Fprintf(w, "Moved %s from %q to %q.\n", p.Resource, p.From, p.Zone)
			default:
				fmt.Fprintf(w, "Put %s in %q.\n", p.Resource, p.Zone)
			}
		}
	})
}

func runZoneRemove(ctx context.Context, e *env, args []string) error {
	var out []api.Placement
	for _, r := range args[1:] {
		p, err := e.svc.ZoneUnplace(ctx, args[0], r)
		if err != nil {
			return err
		}
		out = append(out, p)
	}
	return e.output(out, func(w io.Writer) {
		for _, p := range out {
			fmt.Fprintf(w, "Took %s out of %q.\n", p.Resource, p.From)
		}
	})
}

func runZoneDelete(ctx context.Context, e *env, args []string) error {
	z, err := e.svc.ZoneDelete(ctx, args[0], args[1])
	return show(e, z, err, func(w io.Writer) { fmt.Fprintf(w, "Deleted zone %q.\n", z.Name) })
}

func runSceneCreate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("scene create", flag.ContinueOnError)
	var actions homeMulti
	fs.Var(&actions, "action", "RESOURCE:CAPABILITY:COMMAND[:k=v…] (repeat for more)")
	replace := fs.Bool("replace", false, "replace a scene of the same name")
	pos, err := parseN(fs, args, 2, 2, "the network and the scene's name")
	if err != nil {
		return err
	}
	if len(actions) == 0 {
		return usagef("give the scene's actions: --action RESOURCE:CAPABILITY:COMMAND[:k=v…]")
	}
	sc := api.Scene{Name: pos[1]}
	for _, s := range actions {
		a, err := home.ParseAction(s)
		if err != nil {
			return usagef("%v", err)
		}
		sc.Actions = append(sc.Actions, api.Action{Resource: a.Resource, Capability: a.Capability, Command: a.Command, Args: a.Args})
	}
	out, err := e.svc.SceneCreate(ctx, pos[0], api.SceneRequest{Scene: sc, Replace: *replace})
	return show(e, out, err, func(w io.Writer) {
		fmt.Fprintf(w, "Created scene %q with %d action(s). Run it: coco scene run %s %q\n", out.Name, len(out.Actions), pos[0], out.Name)
	})
}

func runSceneList(ctx context.Context, e *env, args []string) error {
	ss, err := e.svc.Scenes(ctx, args[0])
	return show(e, ss, err, func(w io.Writer) {
		if len(ss) == 0 {
			fmt.Fprintf(w, "No scenes yet: coco scene create %s NAME --action RESOURCE:CAPABILITY:COMMAND\n", args[0])
			return
		}
		for _, s := range ss {
			fmt.Fprintf(w, "%s (%d action(s))\n", s.Name, len(s.Actions))
			for _, a := range s.Actions {
				fmt.Fprintf(w, "  %s\n", a)
			}
		}
	})
}

func runSceneRun(ctx context.Context, e *env, args []string) error {
	r, err := e.svc.SceneRun(ctx, args[0], args[1])
	if err != nil {
		return err
	}
	if err := e.output(r, func(w io.Writer) {
		table(w, r.Results, "", "\tACTION\tDEVICE\tTOOK\tRESULT", func(tw io.Writer, x api.ActionResult) {
			mark, what := "ok", "done"
			if !x.OK {
				mark, what = "FAIL", x.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, x.Action, dash(x.Device), homeTook(x.Took), what)
		})
		fmt.Fprintf(w, "Scene %q: %d of %d action(s) done in %s.\n", r.Scene, len(r.Results)-r.Failed, len(r.Results), homeTook(r.Took))
	}); err != nil {
		return err
	}
	if r.Failed > 0 {
		codes := map[api.Code]int{}
		for _, x := range r.Results {
			if !x.OK {
				codes[x.Code]++
			}
		}
		var why []string
		for c, n := range codes {
			why = append(why, fmt.Sprintf("%d %s", n, c))
		}
		sort.Strings(why)
		return fmt.Errorf("%d of %d action(s) of scene %q failed (%s); see each one's reason above", r.Failed, len(r.Results), r.Scene, strings.Join(why, ", "))
	}
	return nil
}

func runSceneDelete(ctx context.Context, e *env, args []string) error {
	s, err := e.svc.SceneDelete(ctx, args[0], args[1])
	return show(e, s, err, func(w io.Writer) { fmt.Fprintf(w, "Deleted scene %q.\n", s.Name) })
}

// describeGrant says what a grant allows, as the home model words it:
// "lock.unlock on door, zone hall, tue 09:00-17:00 (UTC)".
func describeGrant(g api.Grant) string {
	hg := home.Grant{Resources: g.Resources, Zone: g.Zone, Capability: g.Capability,
		Command: g.Command, TZ: g.TZ, ValidFrom: g.ValidFrom, Until: g.Until}
	for _, w := range g.Windows {
		hg.Windows = append(hg.Windows, home.Window{Days: w.Days, From: w.From, To: w.To})
	}
	return hg.Describe()
}

// homeValue is an attribute's value in its type (JSON gives a number as a
// float64; an int attribute's 4000000 prints as such, not as 4e+06).
func homeValue(a api.Attribute) any {
	spec := home.Spec{Type: home.Type(a.Type), Min: a.Min, Max: a.Max, Unit: a.Unit, Enum: a.Enum}
	if v, err := spec.Coerce(a.Name, a.Value); err == nil && a.Value != nil {
		return v
	}
	return a.Value
}
