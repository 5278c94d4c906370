package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/identity"
	"github.com/coconet/coconet/identity/keyshare"
)

type idOut struct {
	User string `json:"user"`
	Name string `json:"name"`
	Home string `json:"home"`
}

func runInit(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	name := fs.String("name", "", "your display name")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	id, err := homedir.Init(e.home, *name)
	if err != nil {
		return err
	}
	return e.output(idOut{id.ID().String(), id.Name, e.home}, func(w io.Writer) {
		fmt.Fprintf(w, "Created identity %q (user %s) in %s.\n", id.Name, id.ID().Short(), e.home)
		fmt.Fprintln(w, "Back it up now with `coco key export` and keep the words on paper.")
	})
}

func runKeyExport(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	id, err := homedir.LoadIdentity(e.home)
	if err != nil {
		return err
	}
	words := id.Seed.Mnemonic()
	return e.output(struct {
		User  string `json:"user"`
		Words string `json:"words"`
	}{id.ID().String(), words}, func(w io.Writer) {
		fmt.Fprintf(w, "Paper key for %q (user %s). Anyone with these words is you:\n\n", id.Name, id.ID().Short())
		f := strings.Fields(words)
		for i := 0; i < len(f); i += 6 {
			for j := i; j < i+6; j++ {
				fmt.Fprintf(w, "%2d. %-10s", j+1, f[j])
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, "\nRestore with: coco key restore  (type or pipe the words)")
	})
}

func runKeyRestore(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("key restore", flag.ContinueOnError)
	name := fs.String("name", "", "display name for the restored identity")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usagef("the words are read from stdin, not arguments")
	}
	b, err := io.ReadAll(bufio.NewReader(io.LimitReader(e.stdin, 64<<10)))
	if err != nil {
		return err
	}
	words, err := paperWords(string(b))
	if err != nil {
		return err
	}
	seed, err := identity.SeedFromMnemonic(words)
	if err != nil {
		return fmt.Errorf("%v; check the words against your paper key", err)
	}
	n := *name
	if old, err := identity.Load(e.home); err == nil {
		if old.ID() != seed.UserID() {
			return fmt.Errorf("%s already holds another identity (%s); restore into an empty --home", e.home, old.ID().Short())
		}
		if n == "" {
			n = old.Name
		}
	}
	if n == "" {
		n = "restored"
	}
	id := &identity.Identity{Name: n, Seed: seed}
	if err := identity.Save(e.home, id); err != nil {
		return err
	}
	return e.output(idOut{id.ID().String(), id.Name, e.home}, func(w io.Writer) {
		fmt.Fprintf(w, "Restored identity %q (user %s) in %s.\n", id.Name, id.ID().Short(), e.home)
	})
}

func runKeySplit(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("key split", flag.ContinueOnError)
	n := fs.Int("shares", 5, "how many shares (one per trusted person)")
	k := fs.Int("threshold", 3, "how many shares bring the key back")
	if _, err := parseN(fs, args, 0, 0, "only --shares and --threshold"); err != nil {
		return err
	}
	if *k < 2 || *k > *n || *n > 255 {
		return usagef("need 2 <= --threshold <= --shares <= 255")
	}
	id, err := homedir.LoadIdentity(e.home)
	if err != nil {
		return err
	}
	shares, err := keyshare.Split(id.Seed, *n, *k)
	if err != nil {
		return err
	}
	lines := make([]string, len(shares))
	for i, s := range shares {
		lines[i] = s.String()
	}
	return e.output(struct {
		User   string   `json:"user"`
		Shares []string `json:"shares"`
	}{id.ID().String(), lines}, func(w io.Writer) {
		fmt.Fprintf(w, "%d shares of the paper key of %q (user %s); any %d bring it back, fewer tell nothing.\nGive each to one trusted person, on paper or as a QR code of the line:\n\n", *n, id.Name, id.ID().Short(), *k)
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
		fmt.Fprintf(w, "\nRebuild with: coco key combine  (%d share lines on stdin), then coco key restore\n", *k)
	})
}

func runKeyCombine(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 {
		return usagef("the shares are read from stdin, one a line, not arguments")
	}
	var shares []keyshare.Share
	sc := bufio.NewScanner(io.LimitReader(e.stdin, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		s, err := keyshare.Parse(line)
		if err != nil {
			return fmt.Errorf("share %d: %w", len(shares)+1, err)
		}
		shares = append(shares, s)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	seed, err := keyshare.Combine(shares)
	if err != nil {
		return err
	}
	words := seed.Mnemonic()
	return e.output(struct {
		User  string `json:"user"`
		Words string `json:"words"`
	}{seed.UserID().String(), words}, func(w io.Writer) {
		fmt.Fprintf(w, "Paper key of user %s rebuilt from %d shares. Anyone with these words is you:\n\n%s\n\nRestore with: coco key restore  (pipe the words)\n", seed.UserID().Short(), len(shares), words)
	})
}

// paperWords reads the words of a paper key as typed or as `coco key
// export` prints them. In export's layout ("1. word  2. word …" under a
// header line) the word after each number is taken, in the numbers'
// order, and the other lines are ignored; text without numbers is the
// words themselves.
func paperWords(text string) (string, error) {
	f := strings.Fields(text)
	byNum := map[int]string{}
	high := 0
	for i := 0; i+1 < len(f); i++ {
		num, ok := strings.CutSuffix(f[i], ".")
		n, err := strconv.Atoi(num)
		if !ok || err != nil || n < 1 || n > 48 {
			continue
		}
		if _, dup := byNum[n]; dup {
			return "", fmt.Errorf("word %d is there twice; give each numbered word once", n)
		}
		byNum[n] = f[i+1]
		high = max(high, n)
		i++
	}
	if len(byNum) == 0 {
		return text, nil
	}
	words := make([]string, 0, high)
	var missing []string
	for n := 1; n <= high; n++ {
		w, ok := byNum[n]
		if !ok {
			missing = append(missing, strconv.Itoa(n))
		}
		words = append(words, w)
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("words numbered %s are missing", strings.Join(missing, ", "))
	}
	return strings.Join(words, " "), nil
}
