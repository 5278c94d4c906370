package lab

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// proc is a long-running program inside a lab namespace whose output the
// test reads line by line. stop ends it; it is idempotent.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd

	mu    sync.Mutex
	lines []string      // stdout
	out   bytes.Buffer  // stdout
	all   bytes.Buffer  // stdout and stderr
	more  chan struct{} // closed and replaced on every new line
	done  chan struct{} // closed when the output ends
	once  sync.Once
	ended chan struct{} // closed when Wait returns
}

// startProc starts name with args in namespace ns. Its stdout is read as
// lines; stderr only goes to output.
func startProc(t *testing.T, label, ns string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: label, more: make(chan struct{}), done: make(chan struct{}), ended: make(chan struct{})}
	p.cmd = Command(ns, name, args...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, (*stderrWriter)(p)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.ended)
	}()
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.out.WriteString(sc.Text() + "\n")
			p.all.WriteString(sc.Text() + "\n")
			close(p.more)
			p.more = make(chan struct{})
			p.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	t.Cleanup(p.stop)
	return p
}

// waitLine returns the first line starting with prefix, waiting up to
// within for it to appear.
func (p *proc) waitLine(prefix string, within time.Duration) (string, error) {
	deadline := time.After(within)
	for i := 0; ; {
		p.mu.Lock()
		for ; i < len(p.lines); i++ {
			if strings.HasPrefix(p.lines[i], prefix) {
				l := p.lines[i]
				p.mu.Unlock()
				return l, nil
			}
		}
		more := p.more
		p.mu.Unlock()
		select {
		case <-more:
		case <-p.done:
			return "", fmt.Errorf("%s ended without a %q line:\n%s", p.name, prefix, p.output())
		case <-deadline:
			return "", fmt.Errorf("%s: no %q line after %v:\n%s", p.name, prefix, within, p.output())
		}
	}
}

type stderrWriter proc

func (w *stderrWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.all.Write(b)
}

// stdout is what the program printed on stdout so far.
func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// output is everything the program printed so far.
func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.all.String()
}

// stop interrupts the program and waits for it, killing it after 10 s.
func (p *proc) stop() {
	p.once.Do(func() {
		if p.cmd.Process == nil {
			return
		}
		p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.ended:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-p.ended
		}
		<-p.done
	})
}

// kill ends the program at once (SIGKILL: a crash, no goodbye to its
// peers) and waits for it; stop is a no-op afterwards.
func (p *proc) kill() {
	p.once.Do(func() {
		if p.cmd.Process == nil {
			return
		}
		p.cmd.Process.Kill()
		<-p.ended
		<-p.done
	})
}

var (
	buildMu  sync.Mutex
	builtBin = map[string]string{}
)

// buildTool builds a main package of this module once per test binary
// (into the directory of the coco binary) and returns its path.
func buildTool(t *testing.T, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if bin, ok := builtBin[pkg]; ok {
		return bin
	}
	bin := filepath.Join(filepath.Dir(cocoBin), filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	builtBin[pkg] = bin
	return bin
}
