package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/ota"
)

func runOTAAuthorize(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("ota authorize", flag.ContinueOnError)
	version := fs.String("version", "", "the image's version (required; the device takes only newer versions)")
	model := fs.String("model", "", "the device model the image is for (default: the model the device announced)")
	pos, err := parseN(fs, args, 3, 3, "the network, the device and the image file")
	if err != nil {
		return err
	}
	if *version == "" {
		return usagef("give the image's version with --version")
	}
	image, err := filepath.Abs(pos[2]) // the daemon reads it from its own directory
	if err != nil {
		return err
	}
	a, err := e.svc.OTAAuthorize(ctx, pos[0], api.OTAAuthorizeRequest{Device: pos[1], Image: image, Version: *version, Model: *model})
	return show(e, a, err, func(w io.Writer) {
		dev := a.Name
		if dev == "" {
			dev = a.Device
		}
		m := "any model"
		if a.Model != "" {
			m = "model " + a.Model
		}
		fmt.Fprintf(w, "Authorized v%s for %q (%s): %s, sha256 %s.\n", a.Version, dev, m, size(a.Size), a.SHA256)
		if e.offline {
			fmt.Fprintf(w, "coco is not running: this home serves the image to the device once you run `coco up`.\n")
		}
		fmt.Fprintf(w, "Follow the update with: coco ota status %s\n", pos[0])
	})
}

func runOTAStatus(ctx context.Context, e *env, args []string) error {
	ss, err := e.svc.OTAStatus(ctx, args[0])
	return show(e, ss, err, func(w io.Writer) {
		table(w, ss, fmt.Sprintf("%s has no devices with firmware to report; authorize an image with `coco ota authorize %s DEVICE IMAGE --version V`.", args[0], args[0]), "DEVICE\tMODEL\tVERSION\tSTATUS", func(tw io.Writer, s api.OTAStatus) {
			name := s.Name
			if name == "" {
				name = s.Device
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", name, dash(s.Model), dash(s.Version), otaState(s))
		})
	})
}

func runOTAList(ctx context.Context, e *env, args []string) error {
	as, err := e.svc.OTAList(ctx, args[0])
	return show(e, as, err, func(w io.Writer) {
		table(w, as, fmt.Sprintf("No firmware is authorized in %s.", args[0]), "DEVICE\tVERSION\tMODEL\tSIZE\tSHA256\tAUTHORIZED", func(tw io.Writer, a api.OTAAuthorization) {
			name := a.Name
			if name == "" {
				name = a.Device
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", name, a.Version, dash(a.Model), size(a.Size), a.SHA256[:16], a.AuthorizedAt.Local().Format("2006-01-02 15:04"))
		})
	})
}

func runOTAWithdraw(ctx context.Context, e *env, args []string) error {
	a, err := e.svc.OTAWithdraw(ctx, args[0], args[1], args[2])
	return show(e, a, err, func(w io.Writer) {
		fmt.Fprintf(w, "Withdrew v%s for %q; a device that has not installed it stops fetching it.\n", a.Version, a.Name)
	})
}

// otaState says what a device's firmware is doing, as package ota words it:
// "downloading v1.2: 100/400 bytes".
func otaState(s api.OTAStatus) string {
	return ota.Status{Version: s.Version, State: s.State, Target: s.Target,
		Done: s.Done, Total: s.Total, Error: s.Error}.String()
}
