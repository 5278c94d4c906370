package main

import (
	"context"
	"fmt"
	"io"

	"github.com/coconet/coconet/api"
)

func runDeviceAdd(ctx context.Context, e *env, args []string) error {
	d, err := e.svc.DeviceAdd(ctx, args[0], args[1])
	return show(e, d, err, func(w io.Writer) {
		fmt.Fprintf(w, "Added device %q (%s, model %s) to %s.\n", d.Name, d.Node, d.Model, args[0])
		fmt.Fprintf(w, "Its resources: coco resource list %s\n", args[0])
	})
}

func runDeviceList(ctx context.Context, e *env, args []string) error {
	ds, err := e.svc.Devices(ctx, args[0])
	return show(e, ds, err, func(w io.Writer) {
		table(w, ds, fmt.Sprintf("%s has no devices: run `coco up --device --name NAME` on one and `coco device add %s CODE` here.", args[0], args[0]), "NAME\tMODEL\tONLINE\tADDED\tNODE", func(tw io.Writer, d api.DeviceInfo) {
			online := "no"
			if d.Online {
				online = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", d.Name, d.Model, online, d.Added.Local().Format("2006-01-02 15:04"), d.Node)
		})
	})
}

func runDeviceRemove(ctx context.Context, e *env, args []string) error {
	d, err := e.svc.DeviceRemove(ctx, args[0], args[1])
	return show(e, d, err, func(w io.Writer) {
		fmt.Fprintf(w, "Removed device %q from %s; online members cut it off now.\n", d.Name, args[0])
	})
}
