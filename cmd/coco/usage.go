package main

import (
	"context"
	"fmt"
	"io"
)

func runUsage(ctx context.Context, e *env, args []string) error {
	net := args[0]
	u, err := e.svc.Usage(ctx, net)
	return show(e, u, err, func(w io.Writer) {
		fmt.Fprintf(w, "%s, plan %q, month %s\n", net, u.Plan, u.Month)
		fmt.Fprintf(w, "  control-plane traffic  %s of %s (relayed %s, rendezvous %s in %d messages)\n",
			decSize(u.Bytes), decSize(u.LimitBytes), decSize(u.RelayBytes), decSize(u.ControlBytes), u.ControlMessages)
		fmt.Fprintf(w, "  nodes                  %d of %d\n", u.Nodes, u.LimitNodes)
		fmt.Fprintf(w, "  owner's networks       %d of %d\n", u.Networks, u.LimitNetworks)
		if u.Exceeded != "" {
			fmt.Fprintf(w, "  OVER THE LIMIT: %s\n", u.Exceeded)
		}
	})
}

// decSize prints bytes in decimal units, as plans are written (500 MB).
func decSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
