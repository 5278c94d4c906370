// Command allbench runs every comparison script under bench/ with --json,
// one after the other, and writes one table of their figures: job, metric,
// coconet's figure, the peer's, the ratio (higher is better for coconet),
// the goal an issue set and whether it is met. -json writes the same rows
// as JSON, so that figures can be tracked from one run to the next.
//
// bench/all.sh runs it from the repository root. bench/nat.sh is left out:
// it runs the NAT lab (root, network namespaces) and measures times to a
// path, not a comparison; run it on its own.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

// scripts are the comparison scripts, in the order they run.
var scripts = []string{"messaging", "stream", "rpc", "pubsub", "tunnel", "home", "control", "push", "controlattack", "pushflood"}

// row is one figure of one job.
type row struct {
	Job     string  `json:"job"`
	Metric  string  `json:"metric"`
	Unit    string  `json:"unit,omitempty"`
	Coconet float64 `json:"coconet"`
	Peer    string  `json:"peer,omitempty"`
	PeerVal float64 `json:"peer_value,omitempty"`
	// Ratio is higher-is-better for coconet (1 is parity), as each script
	// prints it; 0 where there is no peer.
	Ratio float64 `json:"ratio,omitempty"`
	Goal  string  `json:"goal,omitempty"`
	// Met is "yes", "no", or "" without a goal.
	Met string `json:"met,omitempty"`
}

// job is one script's run.
type job struct {
	Script  string  `json:"script"`
	Seconds float64 `json:"seconds"`
	OK      bool    `json:"ok"`
	Error   string  `json:"error,omitempty"`
	Raw     string  `json:"raw_json_file,omitempty"`
}

type report struct {
	Started  time.Time `json:"started"`
	Commit   string    `json:"commit,omitempty"`
	Jobs     []job     `json:"jobs"`
	Rows     []row     `json:"rows"`
	Note     string    `json:"note"`
	GoalsMet int       `json:"goals_met"`
	Goals    int       `json:"goals"`
}

func main() {
	var (
		jsonOut bool
		only    string
		skip    string
		out     string
		timeout time.Duration
	)
	flag.BoolVar(&jsonOut, "json", false, "print JSON instead of a table")
	flag.StringVar(&only, "only", "", "comma-separated scripts to run (default all: "+strings.Join(scripts, ",")+")")
	flag.StringVar(&skip, "skip", "", "comma-separated scripts to leave out")
	flag.StringVar(&out, "out", "", "directory for each script's JSON and stderr (default: a new temporary directory)")
	flag.DurationVar(&timeout, "timeout", 15*time.Minute, "longest one script may run; past it its process group is killed and it counts as failed")
	flag.Parse()
	if out == "" {
		d, err := os.MkdirTemp("", "bench-all-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "allbench:", err)
			os.Exit(1)
		}
		out = d
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "allbench:", err)
		os.Exit(1)
	}
	run := scripts
	if only != "" {
		run = strings.Split(only, ",")
	}
	skipped := strings.Split(skip, ",")
	rep := report{Started: time.Now().UTC(), Note: "ratio: higher is better for coconet (1 = parity); each script's own README section says how it is computed. Figures of a shared machine move from run to run: compare ratios of one run."}
	if b, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		rep.Commit = strings.TrimSpace(string(b))
	}
	failed := false
	for _, name := range run {
		if slices.Contains(skipped, name) {
			continue
		}
		if !slices.Contains(scripts, name) {
			fmt.Fprintf(os.Stderr, "allbench: no comparison script %q (have %s)\n", name, strings.Join(scripts, ", "))
			os.Exit(2)
		}
		j, rows := runScript(name, out, timeout)
		rep.Jobs = append(rep.Jobs, j)
		rep.Rows = append(rep.Rows, rows...)
		if !j.OK {
			failed = true
		}
	}
	for i := range rep.Rows {
		applyGoal(&rep.Rows[i])
		if rep.Rows[i].Goal != "" {
			rep.Goals++
			if rep.Rows[i].Met == "yes" {
				rep.GoalsMet++
			}
		}
	}
	if jsonOut {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printTable(os.Stdout, rep)
		fmt.Fprintf(os.Stderr, "each script's JSON and stderr: %s\n", out)
	}
	if failed {
		os.Exit(1)
	}
}

// runScript runs bench/NAME.sh --json and turns its JSON into rows.
func runScript(name, out string, timeout time.Duration) (job, []row) {
	j := job{Script: name + ".sh", Raw: filepath.Join(out, name+".json")}
	fmt.Fprintf(os.Stderr, "allbench: %s.sh --json ...\n", name)
	start := time.Now()
	var stdout bytes.Buffer
	logf, err := os.Create(filepath.Join(out, name+".stderr"))
	if err != nil {
		j.Error = err.Error()
		return j, nil
	}
	defer logf.Close()
	cmd := exec.Command("bash", filepath.Join("bench", name+".sh"), "--json")
	cmd.Stdout = &stdout
	cmd.Stderr = logf
	// Its own process group, so that a script that hangs goes with
	// everything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		j.Error = err.Error()
		return j, nil
	}
	timer := time.AfterFunc(timeout, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err = cmd.Wait()
	if !timer.Stop() {
		err = fmt.Errorf("killed after %v: %w", timeout, err)
	}
	j.Seconds = math.Round(time.Since(start).Seconds()*10) / 10
	os.WriteFile(j.Raw, stdout.Bytes(), 0o644)
	if err != nil {
		j.Error = fmt.Sprintf("%v (see %s)", err, logf.Name())
		fmt.Fprintf(os.Stderr, "allbench: %s.sh failed: %s\n", name, j.Error)
		return j, nil
	}
	rows, err := parse(name, stdout.Bytes())
	if err != nil {
		j.Error = fmt.Sprintf("reading its JSON: %v (see %s)", err, j.Raw)
		fmt.Fprintf(os.Stderr, "allbench: %s.sh: %s\n", name, j.Error)
		return j, nil
	}
	j.OK = true
	for i := range rows {
		rows[i].Job = name
	}
	return j, rows
}

// lastJSON decodes the last JSON value a script printed (some print a
// line or two of progress on stdout first).
func lastJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	var last json.RawMessage
	for {
		var m json.RawMessage
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			// Skip a line of text before the JSON.
			i := bytes.IndexAny(b[dec.InputOffset():], "\n")
			if i < 0 {
				break
			}
			b = b[int(dec.InputOffset())+i+1:]
			dec = json.NewDecoder(bytes.NewReader(b))
			continue
		}
		last = m
	}
	if last == nil {
		return fmt.Errorf("no JSON in the output")
	}
	return json.Unmarshal(last, v)
}

// parse reads one script's JSON.
func parse(name string, b []byte) ([]row, error) {
	switch name {
	case "pubsub":
		return parsePubsub(b)
	case "control":
		return parseControl(b)
	case "controlattack":
		return parseControlAttack(b)
	case "pushflood":
		return parsePushFlood(b)
	}
	// The others print {"rows": [{"metric", "unit", "coconet", <peer>, "ratio"}]}.
	var v struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := lastJSON(b, &v); err != nil {
		return nil, err
	}
	if len(v.Rows) == 0 {
		return nil, fmt.Errorf("no rows")
	}
	var out []row
	for _, r := range v.Rows {
		base := row{Metric: str(r["metric"]), Unit: str(r["unit"]), Coconet: num(r["coconet"])}
		switch name {
		case "home":
			base.Coconet = num(r["home"])
			base.Peer, base.PeerVal, base.Ratio = "raw rpc echo", num(r["reference"]), num(r["ratio"])
		case "tunnel":
			ssh, tcp := base, base
			ssh.Peer, ssh.PeerVal, ssh.Ratio = "ssh -L", num(r["ssh_l"]), num(r["ratio_vs_ssh"])
			tcp.Peer, tcp.PeerVal, tcp.Ratio = "plain TCP", num(r["plain_tcp"]), num(r["ratio_vs_tcp"])
			out = append(out, ssh, tcp)
			continue
		case "push":
			base.Peer, base.PeerVal, base.Ratio = str(r["vs"]), num(r["other"]), num(r["ratio"])
		case "rpc":
			base.Peer, base.PeerVal, base.Ratio = "NATS", num(r["nats"]), num(r["ratio"])
		default: // messaging, stream
			base.Peer, base.PeerVal, base.Ratio = "raw go-libp2p", num(r["raw_libp2p"]), num(r["ratio"])
		}
		out = append(out, base)
	}
	return out, nil
}

func parsePubsub(b []byte) ([]row, error) {
	var v struct {
		Results []struct {
			System string             `json:"system"`
			Rates  map[string]float64 `json:"msgs_per_s"`
			P50    float64            `json:"latency_p50_ns"`
			P99    float64            `json:"latency_p99_ns"`
			CPU    map[string]float64 `json:"cpu_us_per_delivery"`
		} `json:"results"`
	}
	if err := lastJSON(b, &v); err != nil {
		return nil, err
	}
	if len(v.Results) == 0 || v.Results[0].System != "coconet" {
		return nil, fmt.Errorf("no coconet results")
	}
	c := v.Results[0]
	var names []string
	for k := range c.Rates {
		names = append(names, k)
	}
	slices.Sort(names)
	var out []row
	for _, o := range v.Results[1:] {
		for _, k := range names {
			if o.Rates[k] == 0 {
				continue
			}
			out = append(out, row{Metric: k, Unit: "msg/s per subscriber", Coconet: c.Rates[k], Peer: o.System, PeerVal: o.Rates[k], Ratio: c.Rates[k] / o.Rates[k]})
		}
		for _, k := range names {
			if o.CPU[k] == 0 || c.CPU[k] == 0 {
				continue
			}
			out = append(out, row{Metric: "CPU per delivery, " + k, Unit: "µs", Coconet: c.CPU[k], Peer: o.System, PeerVal: o.CPU[k], Ratio: o.CPU[k] / c.CPU[k]})
		}
		out = append(out, row{Metric: "latency p50", Unit: "µs", Coconet: c.P50 / 1e3, Peer: o.System, PeerVal: o.P50 / 1e3, Ratio: o.P50 / c.P50})
	}
	return out, nil
}

func parseControl(b []byte) ([]row, error) {
	var v struct {
		Throughput []struct {
			Transport string  `json:"transport"`
			Direct    float64 `json:"direct_gbit_s"`
			Relayed   float64 `json:"relayed_gbit_s"`
			Ratio     float64 `json:"relayed_over_direct"`
			DirectCPU float64 `json:"direct_cpu_s_per_gb"`
			HostsCPU  float64 `json:"relayed_hosts_cpu_s_per_gb"`
			RelayCPU  float64 `json:"relay_cpu_s_per_gb"`
		} `json:"throughput"`
		Capacity struct {
			PerSecond float64 `json:"registrations_per_s"`
			Renewals  float64 `json:"renewals_per_s"`
			CPU       float64 `json:"cpu_us_per_registration"`
			RenewCPU  float64 `json:"cpu_us_per_renewal"`
		} `json:"capacity"`
	}
	if err := lastJSON(b, &v); err != nil {
		return nil, err
	}
	var out []row
	for _, t := range v.Throughput {
		out = append(out, row{Metric: "relayed throughput, " + t.Transport, Unit: "Gbit/s", Coconet: t.Relayed, Peer: "direct " + t.Transport, PeerVal: t.Direct, Ratio: t.Ratio})
		if cpu := t.HostsCPU + t.RelayCPU; cpu > 0 && t.DirectCPU > 0 {
			out = append(out, row{Metric: "CPU per GB relayed (hosts + relay), " + t.Transport, Unit: "s/GB", Coconet: cpu, Peer: "direct " + t.Transport, PeerVal: t.DirectCPU, Ratio: t.DirectCPU / cpu})
		}
	}
	out = append(out,
		row{Metric: "registrations/s, first", Unit: "1/s", Coconet: v.Capacity.PerSecond},
		row{Metric: "registrations/s, renewal", Unit: "1/s", Coconet: v.Capacity.Renewals},
		row{Metric: "CPU per registration, first", Unit: "µs", Coconet: v.Capacity.CPU},
		row{Metric: "CPU per registration, renewal", Unit: "µs", Coconet: v.Capacity.RenewCPU},
	)
	return out, nil
}

func parseControlAttack(b []byte) ([]row, error) {
	var v []struct {
		Binary     string  `json:"binary"`
		PeakRSSMB  float64 `json:"peak_rss_mb"`
		ProbeMaxMs float64 `json:"member_register_lookup_max_ms"`
		ProbeFails int     `json:"member_probe_failures"`
	}
	if err := lastJSON(b, &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("no results")
	}
	r := v[len(v)-1] // this checkout's binary
	return []row{
		{Metric: "peak RSS under attack", Unit: "MB", Coconet: r.PeakRSSMB},
		{Metric: "member register + lookup max under attack", Unit: "ms", Coconet: r.ProbeMaxMs},
		{Metric: "member probe failures under attack", Coconet: float64(r.ProbeFails)},
	}, nil
}

func parsePushFlood(b []byte) ([]row, error) {
	type lat struct {
		P50 float64 `json:"p50_us"`
		P99 float64 `json:"p99_us"`
	}
	var v struct {
		During struct {
			Status     lat `json:"status"`
			StatusFail int `json:"status_failures"`
			Push       lat `json:"push"`
			PushFail   int `json:"push_failures"`
		} `json:"during"`
	}
	if err := lastJSON(b, &v); err != nil {
		return nil, err
	}
	d := v.During
	return []row{
		{Metric: "coco status p50 during the flood", Unit: "µs", Coconet: d.Status.P50},
		{Metric: "coco status failures during the flood", Coconet: float64(d.StatusFail)},
		{Metric: "push p99 during the flood", Unit: "µs", Coconet: d.Push.P99},
		{Metric: "push failures during the flood", Coconet: float64(d.PushFail)},
	}, nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// goal is a target an issue set for one figure: on the ratio, or (no
// peer) on coconet's own figure.
type goal struct {
	job, metric, peer string // job and peer exact, metric a substring; "" matches all
	onRatio           bool
	atLeast           bool
	value             float64
	text              string
}

var goals = []goal{
	{job: "pubsub", metric: "1KiB", peer: "NATS", onRatio: true, atLeast: true, value: 1, text: "≥ 1× NATS (issue 16)"},
	{job: "pubsub", metric: "B 1→", peer: "Mosquitto", onRatio: true, atLeast: true, value: 2, text: "≥ 2× Mosquitto (issue 4)"},
	{job: "rpc", metric: "p50", onRatio: true, atLeast: true, value: 1, text: "p50 ≤ NATS (issue 4)"},
	{job: "tunnel", metric: "throughput", peer: "ssh -L", onRatio: true, atLeast: true, value: 1.5, text: "≥ 1.5× ssh -L (issue 16)"},
	{job: "stream", metric: "throughput", onRatio: true, atLeast: true, value: 1, text: "≥ 1.0× raw (issue 16)"},
	{job: "home", metric: "command round trip p50", onRatio: true, atLeast: true, value: 0.8, text: "≥ 0.8 (issue 16)"},
	{job: "control", metric: "relayed throughput", onRatio: true, atLeast: true, value: 0.6, text: "≥ 0.6 (issue 16)"},
	{job: "control", metric: "registrations/s", atLeast: true, value: 10000, text: "≥ 10,000/s (issue 16)"},
	{job: "controlattack", metric: "peak RSS", value: 300, text: "< 300 MB (issue 10)"},
	{job: "controlattack", metric: "register + lookup max", value: 2000, text: "≤ 2 s (issue 10)"},
	{job: "controlattack", metric: "failures", value: 0, text: "0 (issue 10)"},
	{job: "pushflood", metric: "failures", value: 0, text: "0 (issue 10)"},
}

func applyGoal(r *row) {
	for _, g := range goals {
		if g.job != r.Job || !strings.Contains(r.Metric, g.metric) || (g.peer != "" && r.Peer != g.peer) {
			continue
		}
		if (g.onRatio && r.Peer == "") || (strings.HasPrefix(r.Metric, "CPU per") && !strings.HasPrefix(g.metric, "CPU per")) {
			continue // the goals are on rates and latencies, not on CPU
		}
		v := r.Coconet
		if g.onRatio {
			v = r.Ratio
		}
		ok := v <= g.value
		if g.atLeast {
			ok = v >= g.value
		}
		r.Goal, r.Met = g.text, map[bool]string{true: "yes", false: "no"}[ok]
		return
	}
}

func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case v == 0:
		return "0"
	case a >= 1000:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func printTable(w io.Writer, rep report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "job\tmetric\tunit\tcoconet\tpeer\tpeer figure\tratio\tgoal\tmet?")
	for _, r := range rep.Rows {
		peer, pv, ratio := r.Peer, "", ""
		if peer != "" {
			pv, ratio = fmtNum(r.PeerVal), fmt.Sprintf("%.2f", r.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Job, r.Metric, r.Unit, fmtNum(r.Coconet), peer, pv, ratio, r.Goal, r.Met)
	}
	tw.Flush()
	fmt.Fprintln(w)
	for _, j := range rep.Jobs {
		state := "ok"
		if !j.OK {
			state = "FAILED: " + j.Error
		}
		fmt.Fprintf(w, "%s (%.0f s): %s\n", j.Script, j.Seconds, state)
	}
	fmt.Fprintf(w, "goals met: %d of %d; commit %s, %s\n", rep.GoalsMet, rep.Goals, rep.Commit, rep.Started.Format(time.RFC3339))
	fmt.Fprintln(w, rep.Note)
}
