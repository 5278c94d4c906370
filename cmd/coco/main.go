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
	"text/tabwriter"

	"github.com/coconet/coconet/homedir"

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
	// min and max bound the positional arguments (max -1: any number),
	// which the dispatcher checks before run when max is not 0; what says
	// what to give when they are wrong.
	min, max int
	what     string
	// strict has the dispatcher parse the arguments as options first, of
	// which the command has none: "-x" is refused, not taken for an
	// argument.
	strict bool
}

// cmd is a command that checks its own arguments.
func cmd(name, args, summary string, run func(ctx context.Context, e *env, args []string) error) command {
	return command{name: name, args: args, summary: summary, run: run}
}

// want has the dispatcher check that c gets min to max positional
// arguments (max -1: any number), saying "give <what>" otherwise.
func (c command) want(min, max int, what string) command {
	c.min, c.max, c.what = min, max, what
	return c
}

// strictly has the dispatcher refuse options, c having none.
func (c command) strictly() command {
	c.strict = true
	return c
}

// call checks c's arguments as c says, then runs it.
func (c command) call(ctx context.Context, e *env, args []string) error {
	if c.strict {
		pos, err := parse(flag.NewFlagSet(c.name, flag.ContinueOnError), args)
		if err != nil {
			return err
		}
		args = pos
	}
	if c.max != 0 {
		if err := count(args, c.min, c.max, c.what); err != nil {
			return err
		}
	}
	return c.run(ctx, e, args)
}

// count checks that there are min to max arguments (max -1: any number),
// saying "give <what>" otherwise.
func count(args []string, min, max int, what string) error {
	if len(args) < min || (max >= 0 && len(args) > max) {
		return usagef("give %s", what)
	}
	return nil
}

// commands are coco's commands, in the order `coco help` lists them.
var commands = []command{
	cmd("call", "NET MEMBER SERVICE [PAYLOAD] [--timeout 10s]", "call a member's request/reply service (every node serves coco.info and coco.echo)", runCall),
	cmd("consortium delete", "NET KEY [--table T]", "delete a key of the consortium's store; answers once committed", runConsDelete),
	cmd("consortium genesis", "NAME IDENTITY-FILE… [--participant CERT]… [--recovery K]", "write a consortium's genesis: the identity files' users are its members, their nodes its validating nodes", runConsGenesis),
	cmd("consortium get", "NET KEY [--table T]", "read a key of the consortium's store", runConsGet),
	cmd("consortium identity", "NET", "your consortium member certificate (derived from your seed) and your node's entry", runConsIdentity).want(1, 1, "the network").strictly(),
	cmd("consortium proposals", "NET", "list the consortium's proposals", runConsProposals).want(1, 1, "the network").strictly(),
	cmd("consortium propose", "NET ACTION [ARG]", "propose a change of the constitution (add_member CERT, remove_member ID, add_node IDENTITY-FILE…)", runConsPropose).want(2, 3, "the network, an action and its argument"),
	cmd("consortium range", "NET [PREFIX] [--table T] [--from KEY] [--to KEY] [--limit N]", "read keys of the consortium's store in order, a page at a time", runConsRange),
	cmd("consortium recovery", "share NET [--out FILE] | submit NET FILE | status NET", "disaster recovery: open your share of the ledger secret, give a node a share (k rebuild it), see a node's state", runConsRecovery),
	cmd("consortium put", "NET KEY VALUE [--table T] [--receipt FILE]", "write a key of the consortium's store; answers once committed", runConsPut),
	cmd("consortium rekey", "NET", "propose a new ledger secret for the private tables (new recovery shares; old ones stop working once accepted)", runConsRekey).want(1, 1, "the network").strictly(),
	cmd("consortium start", "NET GENESIS [--join] [--api ADDR]", "start this node's validating node of the consortium the genesis file describes", runConsStart),
	cmd("consortium status", "NET", "the consortium's leader, applied index, voters, members and nodes", runConsStatus).want(1, 1, "the network").strictly(),
	cmd("consortium verify-receipt", "FILE (--genesis GENESIS | --key HEX)", "check a transaction's receipt offline", runConsVerify),
	cmd("consortium vote", "NET PROPOSAL yes|no", "vote on a proposal (members only)", runConsVote).want(3, 3, "the network, the proposal and yes or no").strictly(),
	cmd("consortium withdraw", "NET PROPOSAL", "withdraw your own open proposal", runConsWithdraw).want(2, 2, "the network and the proposal").strictly(),
	cmd("control", "[--listen MULTIADDR]… [--state DIR] [--etcd URL,…|none] [--plans FILE] [--owners FILE] [--relay-duration D] [--relay-data BYTES] [--api HOST:PORT [--api-tls-cert F --api-tls-key F] [--service-key F]] [--metrics ADDR] [--quiet] [--log-format text|json] [--log-level L]", "run a control plane: rendezvous, address reflection, relay, usage limits; the developer REST API with --api", runControl),
	cmd("demo", "[--keep]", "watch three people share a private network and a simulated home, on this machine, in a few seconds", runDemo),
	cmd("device add", "NET CODE", "claim a device into a network with the code it shows (owner only)", runDeviceAdd).want(2, 2, "the network and the device's claim code").strictly(),
	cmd("device list", "NET", "list a network's devices", runDeviceList).want(1, 1, "the network").strictly(),
	cmd("device remove", "NET DEVICE", "take a device out of a network (owner only); it is cut off at once", runDeviceRemove).want(2, 2, "the network and the device (name or node ID)").strictly(),
	cmd("copy", "FILE NET:MEMBER", "send a file to a member who runs `coco receive` (resumes, checks SHA-256)", runCopy).want(2, 2, "the file and NET:MEMBER"),
	cmd("receive", "NET --dir DIR [--allow admin|guest|device|MEMBER…] [--max-size 4GiB]", "accept files sent to you into DIR while this runs (from the owner and admins unless --allow says more)", runReceive),
	cmd("resource list", "NET [--zone ZONE]", "list the resources you may use across the network's devices", runResourceList),
	cmd("cmd", "NET RESOURCE CAPABILITY COMMAND [k=v…]", "run a command on a resource, e.g. coco cmd home lamp level set level=40", runCmd).want(4, -1, "the network, the resource, the capability and the command (then k=v arguments)"),
	cmd("watch", "NET [RESOURCE]", "print live attribute changes (current values first)", runWatch).want(1, 2, "the network (and a resource)"),
	cmd("grant", "NET USER --resource R|--zone Z --capability C [--command X] [--days tue,thu --from 09:00 --to 09:30 --tz Asia/Kolkata] [--valid-from T] [--until T]", "let a guest use a capability, on a schedule", runGrant),
	cmd("grant list", "NET", "list the grants", runGrantList).want(1, 1, "the network"),
	cmd("revoke", "NET GRANT", "revoke a grant (by ID or a prefix of it); devices stop honouring it at once", runRevoke).want(2, 2, "the network and the grant"),
	cmd("zone create", "NET ZONE", "create a zone", runZoneCreate).want(2, 2, "the network and the zone's name (quote names with spaces)"),
	cmd("zone list", "NET", "list the zones and the resources in them", runZoneList).want(1, 1, "the network"),
	cmd("zone add", "NET ZONE RESOURCE…", "put resources in a zone", runZoneAdd).want(3, -1, "the network, the zone and one or more resources"),
	cmd("zone move", "NET ZONE RESOURCE…", "move resources from their zone to another", runZoneMove).want(3, -1, "the network, the zone and one or more resources"),
	cmd("zone remove", "NET RESOURCE…", "take resources out of their zone", runZoneRemove).want(2, -1, "the network and one or more resources"),
	cmd("zone delete", "NET ZONE", "delete an empty zone", runZoneDelete).want(2, 2, "the network and the zone"),
	cmd("scene create", "NET NAME --action RESOURCE:CAPABILITY:COMMAND[:k=v…]… [--replace]", "create a scene: commands run together", runSceneCreate),
	cmd("scene list", "NET", "list the scenes", runSceneList).want(1, 1, "the network"),
	cmd("scene run", "NET NAME", "run every action of a scene at once and report each", runSceneRun).want(2, 2, "the network and the scene"),
	cmd("scene delete", "NET NAME", "delete a scene", runSceneDelete).want(2, 2, "the network and the scene"),
	cmd("init", "[--name NAME]", "create your identity (a parent seed) in the home directory", runInit),
	cmd("key export", "", "print your identity as 24 words to keep on paper", runKeyExport),
	cmd("key split", "--shares N --threshold K", "split your paper key into N word shares, any K of which bring it back (one per trusted person)", runKeySplit),
	cmd("key combine", "(shares on stdin, one a line)", "rebuild your paper key from K shares of `coco key split`", runKeyCombine),
	cmd("key restore", "[--name NAME]  (words on stdin)", "bring an identity back from its 24 words, typed or as `coco key export` prints them (coco key export | coco key restore)", runKeyRestore),
	cmd("send", "NET MEMBER TEXT", "send an acknowledged message to a member", runSend).want(3, -1, "the network, the member and the text"),
	cmd("listen", "NET", "print messages as they arrive (Ctrl-C to stop)", runListen).want(1, 1, "the network's name"),
	cmd("peers", "NET", "show member nodes: path, address, round-trip time", runPeers).want(1, 1, "the network's name"),
	cmd("net create", "NAME [--kind user|developer]", "create a private network that you own", runNetCreate),
	cmd("net list", "", "list your networks", runNetList),
	cmd("net apikey create", "NET --api URL --scope S[,S…] [--expiry D] [--delegate enroll,revoke,acl]", "make an API key for a developer network's REST API (owner only); prints it once", runAPIKeyCreate),
	cmd("net apikey revoke", "NET ID --api URL", "revoke an API key (owner only)", runAPIKeyRevoke),
	cmd("members", "NET", "list a network's members, roles and nodes", runMembers).want(1, 1, "the network's name"),
	cmd("invite", "NET --role admin|guest [--ttl 24h] [--uses N] [--qr] [--quiet]", "make an invite code (--qr: also as a QR code; --quiet: only the code)", runInvite),
	cmd("net authkey create", "NET [--reusable] [--ephemeral] [--tag T]… [--expiry 24h] [--control ADDR]…", "mint an auth key a node of a developer network joins with (coco up --authkey KEY)", runAuthKeyCreate),
	cmd("net service add", "NET --scope enroll,revoke,acl [--expiry 720h] [--name N] [--key UID]", "delegate a service key of a developer network (a control plane, your backend)", runServiceAdd),
	cmd("net service revoke", "NET KEY", "withdraw a service key's delegation", runServiceRevoke),
	cmd("join", "CODE", "join a network with an invite code", runJoin).want(1, 1, "the invite code"),
	cmd("remove", "NET MEMBER", "remove a member; their nodes are cut off at once", runRemove).want(2, 2, "the network and the member"),
	cmd("ota authorize", "NET DEVICE IMAGE --version V [--model M]", "authorize a firmware image for a device (owner only); the device fetches, verifies and applies it", runOTAAuthorize),
	cmd("ota status", "NET", "what firmware each device runs, and how its update goes", runOTAStatus).want(1, 1, "the network").strictly(),
	cmd("ota list", "NET", "list the firmware images authorized in a network", runOTAList).want(1, 1, "the network").strictly(),
	cmd("ota withdraw", "NET DEVICE VERSION", "take back an authorization (owner only); a device that has not installed it stops", runOTAWithdraw).want(3, 3, "the network, the device and the version").strictly(),
	cmd("drive create", "NAME --net NET  (or NET/NAME)", "create a drive shared by the network's owner and admins, encrypted, synced between their nodes", runDriveCreate),
	cmd("drive list", "NET", "list the drives this node holds in a network", runDriveList).want(1, 1, "the network").strictly(),
	cmd("drive ls", "NET/NAME [PATH]", "list a drive's files (under PATH)", runDriveLs).want(1, 2, "the drive as NET/NAME (and a path)").strictly(),
	cmd("drive put", "NET/NAME PATH [FILE|-]", "write FILE (default: PATH; -: stdin) to PATH in the drive", runDrivePut).want(2, 3, "the drive as NET/NAME, the path in it (and the local file)").strictly(),
	cmd("drive get", "NET/NAME PATH [FILE|-]", "read PATH from the drive into FILE (default: stdout), fetching it from member nodes", runDriveGet).want(2, 3, "the drive as NET/NAME, the path in it (and the local file)").strictly(),
	cmd("drive rm", "NET/NAME PATH…", "delete files from a drive", runDriveRm).want(2, -1, "the drive as NET/NAME and one or more paths").strictly(),
	cmd("drive mv", "NET/NAME FROM TO", "rename a file (a conflict copy onto its file: keep that version)", runDriveMv).want(3, 3, "the drive as NET/NAME, the path and the new path").strictly(),
	cmd("drive history", "NET/NAME PATH", "list every version of a file", runDriveHistory).want(2, 2, "the drive as NET/NAME and the path").strictly(),
	cmd("drive conflicts", "NET/NAME", "list the conflict copies concurrent edits left", runDriveConflicts).want(1, 1, "the drive as NET/NAME").strictly(),
	cmd("drive status", "NET/NAME [--copies 3]", "which peers hold which writers' logs, and a warning for logs held by too few", runDriveStatus),
	cmd("drive sync", "NET/NAME [DIR] [--once]", "sync a drive now with every member node reached; with DIR, keep that folder in two-way sync with the drive", runDriveSync),
	cmd("drive mount", "NET/NAME [DIR] [--listen 127.0.0.1:0]", "mount a drive at DIR (FUSE), or serve it as WebDAV on loopback for a file manager", runDriveMount),
	cmd("drive bandwidth", "NET/NAME [--limit 2MB/s] [--schedule \"mon-fri 19:00-07:00\"] [--tz ZONE]", "show or set a drive's rate limit on this node, and when content (not logs) moves", runDriveBandwidth),
	cmd("drive replicate", "NET/NAME", "hold a drive blind: store and serve its logs without its key", runDriveReplicate).want(1, 1, "the drive as NET/NAME").strictly(),
	cmd("pub", "NET TOPIC MSG [--retain] [--qos 0|1]", "publish a message on a topic", runPub),
	cmd("sub", "NET PATTERN [--qos 0|1]", "print messages on topics matching PATTERN (+ and # wildcards)", runSub),
	cmd("push-server", "NET --listen HOST:PORT", "run a push server for tiny devices (the P2Pcluster protocol; --dialect coconet: newline-framed) while this runs; an admin's node becomes a named push server", runPushServer),
	cmd("push key", "create|list|revoke|rotate NET [KEY|ACCOUNT] [--account A] [--quiet]", "manage the account keys devices use with push servers (admins)", runPushKey),
	cmd("push server", "add|remove|list NET [NODE]", "name the nodes that may run push servers and read the account keys (admins)", runPushServerNames),
	cmd("push group", "NET [ID [PARENT]] [--root] [--remove] [--account A]", "put ID in the push tree under PARENT (--root: at the top), or list the tree", runPushGroup),
	cmd("push router", "add|attach|detach|remove|list NET [NAME [ID]] [--account A]", "manage mesh routers and the ids attached to them", runPushRouter),
	cmd("push alias", "NET [ALIAS [ID]] [--remove] [--account A]", "make ALIAS name ID (again after replacing a device), or list aliases", runPushAlias),
	cmd("tunnel expose", "NET NAME HOST:PORT [--allow admin|guest|device|MEMBER…]", "publish a local TCP service to the network as NAME while this runs (to the owner and admins unless --allow says more)", runExpose),
	cmd("tunnel open", "NET MEMBER/NAME [--listen 127.0.0.1:PORT]", "forward a local port to a member's exposed service while this runs", runOpen),
	cmd("up", "[--listen-host IP] [--no-mdns] [--control ADDR]... [--device --name NAME [--sim zigbee]] [--web ADDR|off] [--quiet] [--log-format text|json] [--log-level L]", "run your nodes in the foreground (one per network; or this machine as a device)", runUp),
	cmd("app", "[--no-open] [--logout-all]", "open the network app in a browser (a one-time login link); --logout-all ends every session", runApp),
	cmd("status", "", "show the daemon and its nodes", runStatus),
	cmd("completion", "bash|zsh", "print a shell completion script (eval \"$(coco completion bash)\")", runCompletion).want(1, 1, "bash or zsh").strictly(),
	cmd("usage", "NET", "show the network's control-plane traffic this month against its plan", runUsage).want(1, 1, "the network's name"),
}

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
	e := &env{home: homedir.DefaultHome(), stdin: stdin, stdout: stdout, stderr: stderr}
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
	// Two- and three-word commands: "net create", "net authkey create", …
	for _, c := range commands {
		if strings.Count(c.name, " ") == 2 && len(cargs) > 1 && c.name == name+" "+cargs[0]+" "+cargs[1] {
			name, cargs = c.name, cargs[2:]
			break
		}
		if strings.Count(c.name, " ") == 1 && len(cargs) > 0 && c.name == name+" "+cargs[0] {
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
		err := c.call(ctx, e, cargs)
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

// parseN is parse, then count of the positionals.
func parseN(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	return pos, count(pos, min, max, what)
}

func flagList(fs *flag.FlagSet) string {
	var out []string
	fs.VisitAll(func(f *flag.Flag) { out = append(out, "--"+f.Name) })
	return strings.Join(out, " ")
}

// show prints what a call returned: its error, or v as output does.
func show[T any](e *env, v T, err error, human func(w io.Writer)) error {
	if err != nil {
		return err
	}
	return e.output(v, human)
}

// table writes one row of rows each under header, in aligned columns, or
// the sentence empty instead when there are no rows (and empty is not "").
func table[T any](w io.Writer, rows []T, empty, header string, row func(tw io.Writer, r T)) {
	if len(rows) == 0 && empty != "" {
		fmt.Fprintln(w, empty)
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		row(tw, r)
	}
	tw.Flush()
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
