// Command coco is coconet's one binary: the daemon (`coco up`), the CLI that
// talks to it, and `coco demo`.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/coconet/coconet"
	"github.com/coconet/coconet/api"
	"github.com/coconet/coconet/daemon"
)

// env is what every command gets: global options, output streams and the
// local API.
type env struct {
	home   string
	json   bool
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// svc is the local API, opened on a command's first call (so that
	// --help and usage errors need no home) and closed by the dispatcher.
	svc *api.Client
	// offline is set when svc runs the daemon's code ledger-only on the
	// home, no daemon running.
	offline bool
}

type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

var commands []command

func register(c command) { commands = append(commands, c) }

// helpRequest is returned for -h/--help: the command's usage and options go
// to stdout and coco exits 0.
type helpRequest struct{ options string }

func (h helpRequest) Error() string { return "help requested" }

// usageError is printed with the command's usage and exits 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{home: coconet.DefaultHome(), stdin: stdin, stdout: stdout, stderr: stderr}
	e.svc = api.Lazy(e.open)
	defer e.svc.Close()
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--json" || a == "-json":
			e.json = true
		case a == "--home" || a == "-home":
			if i+1 >= len(args) {
				fmt.Fprintln(stderr, "coco: --home needs a directory")
				return 2
			}
			e.home = args[i+1]
			i++
		case strings.HasPrefix(a, "--home=") || strings.HasPrefix(a, "-home="):
			e.home = a[strings.Index(a, "=")+1:]
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) == 0 || rest[0] == "help" || rest[0] == "-h" || rest[0] == "--help" {
		printUsage(stdout)
		return 0
	}
	name, cargs := rest[0], rest[1:]
	// Two-word commands: "net create", "key export", …
	for _, c := range commands {
		if strings.Contains(c.name, " ") && len(cargs) > 0 && c.name == name+" "+cargs[0] {
			name, cargs = c.name, cargs[1:]
			break
		}
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		if wantsHelp(cargs) && !strings.Contains(c.args, "--") {
			// No options: print the usage here rather than handing "--help"
			// to a command that would take it for an argument.
			fmt.Fprintf(stdout, "usage: coco %s %s\n\n%s\n", c.name, c.args, c.summary)
			return 0
		}
		if wantsHelp(cargs) {
			cargs = []string{"--help"} // every command with options parses them first
		}
		err := c.run(ctx, e, cargs)
		if err == nil {
			return 0
		}
		var hr helpRequest
		if errors.As(err, &hr) {
			fmt.Fprintf(stdout, "usage: coco %s %s\n\n%s\n", c.name, c.args, c.summary)
			if hr.options != "" {
				fmt.Fprintf(stdout, "\noptions:\n%s", hr.options)
			}
			return 0
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "coco %s: %s\nusage: coco %s %s\n", c.name, ue.msg, c.name, c.args)
			return 2
		}
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "coco %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "coco: unknown command %q; run `coco help` for the list\n", strings.Join(rest[:min(2, len(rest))], " "))
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "coco — private peer-to-peer networks for apps, devices and people")
	fmt.Fprintln(w, "\nusage: coco [--home DIR] [--json] COMMAND [ARGS]\n\ncommands:")
	cs := append([]command(nil), commands...)
	sort.SliceStable(cs, func(i, j int) bool { return false })
	for _, c := range cs {
		fmt.Fprintf(w, "  %-38s %s\n", c.name+" "+c.args, c.summary)
	}
	fmt.Fprintln(w, "\nThe home directory is $COCO_HOME or ~/.coco. Start with `coco demo`, or `coco init`.")
}

func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return false
}

// parse parses flags anywhere among the arguments and returns positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				var b strings.Builder
				fs.SetOutput(&b)
				fs.PrintDefaults()
				return nil, helpRequest{b.String()}
			}
			return nil, usagef("%v", err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func flagList(fs *flag.FlagSet) string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, "--"+f.Name) })
	return strings.Join(out, " ")
}

// output prints v as JSON with --json, or calls human otherwise.
func (e *env) output(v any, human func(w io.Writer)) error {
	if e.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	human(e.stdout)
	return nil
}

// open connects to the running daemon, or runs the daemon's code
// ledger-only on the home directly (under the home lock) when no daemon
// runs.
func (e *env) open() (*api.Client, error) {
	if c, err := api.Dial(daemon.SocketPath(e.home)); err == nil {
		return c, nil
	}
	d := &daemon.Daemon{Home: e.home, LedgerOnly: true}
	if err := d.Start(context.Background()); err != nil {
		return nil, err
	}
	e.offline = true
	return api.Local(d, func() { d.Close() }), nil
}
