package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// runCompletion prints a shell completion script made from the command
// table: command names, the second words of two-word commands, and each
// command's options as its usage names them.
func runCompletion(ctx context.Context, e *env, args []string) error {
	switch args[0] {
	case "bash":
		return writeBashCompletion(e.stdout)
	case "zsh":
		// zsh runs the bash function through its bashcompinit: one
		// script to keep true, tested in bash.
		fmt.Fprintln(e.stdout, "#compdef coco\n# zsh completion for coco: eval \"$(coco completion zsh)\" in ~/.zshrc")
		fmt.Fprintln(e.stdout, "autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit")
		return writeBashCompletion(e.stdout)
	}
	return usagef("give bash or zsh, not %q", args[0])
}

// commandTable is the command table completion reads; set by init, as the table
// itself names runCompletion.
var commandTable []command

func init() { commandTable = commands }

var optionRE = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// completionTree is what the table offers: first words, the second
// words under each first word, and the options of each command.
func completionTree() (first []string, second map[string][]string, options map[string][]string) {
	second, options = map[string][]string{}, map[string][]string{}
	for _, c := range commandTable {
		w := strings.Fields(c.name)
		if !slices.Contains(first, w[0]) {
			first = append(first, w[0])
		}
		if len(w) == 2 {
			second[w[0]] = append(second[w[0]], w[1])
		}
		opts := optionRE.FindAllString(c.args, -1)
		if c.max == 0 || !c.strict {
			opts = append(opts, "--help")
		}
		slices.Sort(opts)
		options[c.name] = slices.Compact(opts)
	}
	first = append(first, "help")
	slices.Sort(first)
	return first, second, options
}

func writeBashCompletion(w io.Writer) error {
	first, second, options := completionTree()
	var b strings.Builder
	b.WriteString(`# bash completion for coco, made from its command table by
# ` + "`coco completion bash`" + `. Install: coco completion bash > /etc/bash_completion.d/coco
# (or eval "$(coco completion bash)" in ~/.bashrc).
_coco() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local words=() i w
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--home | -home) ((i++)) ;;
		-*) ;;
		*) words+=("$w") ;;
		esac
	done
	if [[ $prev == --home || $prev == -home || $prev == --dir || $prev == --state ]]; then
		COMPREPLY=($(compgen -d -- "$cur"))
		return
	fi
	if ((${#words[@]} == 0)); then
		COMPREPLY=($(compgen -W "` + strings.Join(first, " ") + ` --home --json" -- "$cur"))
		return
	fi
	local cmd=${words[0]}
	case $cmd in
`)
	for _, f := range first {
		if s := second[f]; len(s) > 0 {
			fmt.Fprintf(&b, "\t%s)\n\t\tif ((${#words[@]} == 1)) && [[ $cur != -* ]]; then\n\t\t\tCOMPREPLY=($(compgen -W %q -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n\t\tcase ${words[1]} in %s) cmd=\"$cmd ${words[1]}\" ;; esac\n\t\t;;\n",
				f, strings.Join(s, " "), strings.Join(s, " | "))
		}
	}
	b.WriteString("\tesac\n\tlocal opts=\n\tcase $cmd in\n")
	names := make([]string, 0, len(options))
	for n := range options {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "\t%q) opts=%q ;;\n", n, strings.Join(options[n], " "))
	}
	b.WriteString(`	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts --json" -- "$cur"))
		return
	fi
	COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _coco coco
`)
	_, err := io.WriteString(w, b.String())
	return err
}
