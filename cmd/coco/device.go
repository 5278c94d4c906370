package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
)

func runDeviceAdd(ctx context.Context, e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("device add", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("give the network and the device's claim code")
	}
	d, err := e.svc.DeviceAdd(ctx, pos[0], pos[1])
	return show(e, d, err, func(w io.Writer) {
		fmt.Fprintf(w, "Added device %q (%s, model %s) to %s.\n", d.Name, d.Node, d.Model, pos[0])
		fmt.Fprintf(w, "Its resources: coco resource list %s\n", pos[0])
	})
}

func runDeviceList(ctx context.Context, e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("device list", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	net, err := oneArg(pos, "the network")
	if err != nil {
		return err
	}
	ds, err := e.svc.Devices(ctx, net)
	return show(e, ds, err, func(w io.Writer) {
		if len(ds) == 0 {
			fmt.Fprintf(w, "%s has no devices: run `coco up --device --name NAME` on one and `coco device add %s CODE` here.\n", net, net)
			return
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tMODEL\tONLINE\tADDED\tNODE")
		for _, d := range ds {
			online := "no"
			if d.Online {
				online = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Model, online, d.Added.Local().Format("2006-01-02 15:04"), d.Node)
		}
		tw.Flush()
	})
}

func runDeviceRemove(ctx context.Context, e *env, args []string) error {
	pos, err := parse(flag.NewFlagSet("device remove", flag.ContinueOnError), args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usagef("give the network and the device (name or node ID)")
	}
	d, err := e.svc.DeviceRemove(ctx, pos[0], pos[1])
	return show(e, d, err, func(w io.Writer) {
		fmt.Fprintf(w, "Removed device %q from %s; online members cut it off now.\n", d.Name, pos[0])
	})
}
