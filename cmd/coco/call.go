package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/coconet/coconet/api"
)

func runCall(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the reply")
	pos, err := parseN(fs, args, 3, -1, "the network, the member and the service")
	if err != nil {
		return err
	}
	payload := strings.Join(pos[3:], " ")
	r, err := e.svc.Call(ctx, pos[0], api.CallRequest{To: pos[1], Service: pos[2], Payload: []byte(payload), Timeout: *timeout})
	if err != nil {
		return err
	}
	return e.output(struct {
		Reply  string  `json:"reply"`
		TookMS float64 `json:"took_ms"`
	}{string(r.Reply), float64(r.Took.Microseconds()) / 1000}, func(w io.Writer) {
		fmt.Fprintf(w, "%s\n", r.Reply)
		fmt.Fprintf(e.stderr, "(reply from %s/%s in %s)\n", pos[1], pos[2], r.Took.Round(10*time.Microsecond))
	})
}
