package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// complete runs the generated bash completion on each command line (the
// word under the cursor last) and returns what it offers for each.
func complete(t *testing.T, script string, lines []string) [][]string {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash on this machine: the completion script is not run")
	}
	f := filepath.Join(t.TempDir(), "coco.bash")
	if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
		t.Fatal(err)
	}
	var sh strings.Builder
	fmt.Fprintf(&sh, "source %q\n", f)
	for _, l := range lines {
		words := strings.Split(l, " ")
		fmt.Fprintf(&sh, "COMP_WORDS=(")
		for _, w := range words {
			fmt.Fprintf(&sh, "%q ", w)
		}
		fmt.Fprintf(&sh, "); COMP_CWORD=%d; COMPREPLY=(); _coco; echo \"${COMPREPLY[*]}\"\n", len(words)-1)
	}
	out, err := exec.Command(bash, "--norc", "--noprofile", "-c", sh.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(lines) {
		t.Fatalf("bash printed %d lines for %d command lines:\n%s", len(got), len(lines), out)
	}
	res := make([][]string, len(got))
	for i, g := range got {
		res[i] = strings.Fields(g)
	}
	return res
}

// `coco completion bash` completes command names, second words and
// options, all from the command table, in a real bash.
func TestCompletionBash(t *testing.T) {
	script := mustCoco(t, "completion", "bash")
	cases := []struct {
		line string
		want []string
	}{
		{"coco ne", []string{"net"}},
		{"coco net ", []string{"create", "list"}},
		{"coco --home /tmp/x dri", []string{"drive"}},
		{"coco --json push k", []string{"key"}},
		{"coco invite home --q", []string{"--qr", "--quiet"}},
		{"coco push key create home --qu", []string{"--quiet"}},
		{"coco up --log-f", []string{"--log-format"}},
		{"coco control --metr", []string{"--metrics"}},
		{"coco comp", []string{"completion"}},
	}
	var lines []string
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	// Every command of the table is offered, word by word.
	for _, c := range commands {
		w := strings.Fields(c.name)
		lines = append(lines, "coco "+w[0][:1])
		if len(w) == 2 {
			lines = append(lines, "coco "+w[0]+" "+w[1][:1])
		}
	}
	got := complete(t, script, lines)
	for i, c := range cases {
		if !slices.Equal(got[i], c.want) {
			t.Errorf("completing %q: %q, want %q", c.line, got[i], c.want)
		}
	}
	for i, l := range lines[len(cases):] {
		w := strings.Fields(l)
		full := ""
		for _, c := range commands {
			cw := strings.Fields(c.name)
			if len(w) == 2 && strings.HasPrefix(cw[0], w[1]) {
				full = cw[0]
			}
			if len(w) == 3 && len(cw) == 2 && cw[0] == w[1] && strings.HasPrefix(cw[1], w[2]) {
				full = cw[1]
			}
			if full != "" && slices.Contains(got[len(cases)+i], full) {
				break
			}
		}
		if full == "" || !slices.Contains(got[len(cases)+i], full) {
			t.Errorf("completing %q offers %q, missing %q", l, got[len(cases)+i], full)
		}
	}
}

// `coco completion zsh` is the bash function under zsh's bashcompinit.
func TestCompletionZsh(t *testing.T) {
	script := mustCoco(t, "completion", "zsh")
	if !strings.HasPrefix(script, "#compdef coco") || !strings.Contains(script, "bashcompinit") || !strings.Contains(script, "complete -o filenames -F _coco coco") {
		t.Fatalf("zsh script:\n%s", script)
	}
	if _, errOut, code := coco(t, "", "completion", "fish"); code != 2 || !strings.Contains(errOut, "bash or zsh") {
		t.Fatalf("completion fish: exit %d %q", code, errOut)
	}
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		t.Skip("no zsh on this machine: the script is checked only for its parts")
	}
	if out, err := exec.Command(zsh, "-n", "-c", script).CombinedOutput(); err != nil {
		t.Fatalf("zsh -n: %v\n%s", err, out)
	}
}
