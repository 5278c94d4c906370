// Command drivebench compares the drive (package drive: content-defined
// chunks, sealed, synced between two replicas over loopback TCP) with
// rsync over ssh (its own sshd on 127.0.0.1) and with a local rsync, in
// one run: initial sync of one big file and of many small files, and the
// re-sync after 1 MiB changes in the middle of the big file. Run it
// through bench/drive.sh, which installs rsync and openssh-server.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/coconet/coconet/drive"
	"github.com/coconet/coconet/identity"
)

type config struct {
	size, files, total int64
	noSSH, json        bool
	batch              int
}

func main() {
	var cfg config
	flag.Int64Var(&cfg.size, "size", 1<<30, "bytes of the big file")
	flag.Int64Var(&cfg.files, "files", 10000, "number of small files")
	flag.Int64Var(&cfg.total, "total", 1<<30, "bytes of all small files together")
	flag.BoolVar(&cfg.noSSH, "no-ssh", false, "skip rsync over ssh")
	flag.BoolVar(&cfg.json, "json", false, "print JSON")
	flag.IntVar(&cfg.batch, "batch", 256, "files per group commit on the drive's sender (1: a commit per file)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "drivebench:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if err := run(cfg); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "drivebench:", err)
		os.Exit(1)
	}
}

type result struct {
	Case  string  `json:"case"`
	Drive float64 `json:"drive_s"`
	// The drive's time by phase: A puts the files, A syncs with B, B
	// writes the files out.
	Put      float64 `json:"drive_put_s"`
	Sync     float64 `json:"drive_sync_s"`
	Out      float64 `json:"drive_out_s"`
	RsyncSSH float64 `json:"rsync_ssh_s,omitempty"`
	Rsync    float64 `json:"rsync_local_s"`
	// RatioSSH is rsync-over-ssh time / drive time: above 1, the drive is
	// faster.
	RatioSSH float64 `json:"ratio_vs_rsync_ssh,omitempty"`
	Ratio    float64 `json:"ratio_vs_rsync_local"`
}

func run(cfg config) error {
	root, err := os.MkdirTemp("", "drivebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	rsh := ""
	if !cfg.noSSH {
		var stop func()
		rsh, stop, err = setupSSH(root)
		if err != nil {
			return err
		}
		defer stop()
	}
	pair, err := newPair(root)
	if err != nil {
		return err
	}
	pair.batch = max(1, cfg.batch)
	defer pair.close()
	var results []result

	// One big file.
	big := filepath.Join(root, "src-big")
	os.MkdirAll(big, 0o700)
	if err := writeRandom(filepath.Join(big, "big.bin"), cfg.size, 1); err != nil {
		return err
	}
	r, err := measure("big file, initial", big, root, rsh, pair)
	if err != nil {
		return err
	}
	results = append(results, r)
	f, err := os.OpenFile(filepath.Join(big, "big.bin"), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	mib := make([]byte, 1<<20)
	for i := range mib {
		mib[i] = byte(rand.Uint32())
	}
	f.WriteAt(mib, cfg.size/2)
	f.Close()
	if r, err = measure("big file, 1 MiB changed", big, root, rsh, pair); err != nil {
		return err
	}
	results = append(results, r)

	// Many small files.
	small := filepath.Join(root, "src-small")
	for i := range cfg.files {
		p := filepath.Join(small, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.dat", i))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := writeRandom(p, cfg.total/cfg.files, uint64(i+2)); err != nil {
			return err
		}
	}
	if r, err = measure(fmt.Sprintf("%d files, initial", cfg.files), small, root, rsh, pair); err != nil {
		return err
	}
	results = append(results, r)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	heap := float64(ms.HeapInuse) / (1 << 20)

	if cfg.json {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{"results": results, "heap_mib_both_replicas": heap})
	}
	fmt.Printf("drive (2 replicas, loopback TCP, fsync on) vs rsync -a over ssh (own sshd on 127.0.0.1) vs local rsync -a\n")
	fmt.Printf("%-28s %10s %12s %10s %14s %12s\n", "case", "drive s", "rsync-ssh s", "rsync s", "ssh/drive", "local/drive")
	for _, r := range results {
		fmt.Printf("%-28s %10.2f %12.2f %10.2f %14.2f %12.2f\n", r.Case, r.Drive, r.RsyncSSH, r.Rsync, r.RatioSSH, r.Ratio)
	}
	for _, r := range results {
		fmt.Printf("drive phases, %s: put %.2f s, sync %.2f s, write out %.2f s\n", r.Case, r.Put, r.Sync, r.Out)
	}
	fmt.Printf("heap in use with both replicas holding everything: %.1f MiB (goal for one replica with 10,000 files: < 100 MB)\n", heap)
	return nil
}

func writeRandom(p string, n int64, seed uint64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 7))
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<16)
	for n > 0 {
		for i := 0; i < len(buf); i += 8 {
			v := r.Uint64()
			for j := 0; j < 8 && i+j < len(buf); j++ {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		k := min(n, int64(len(buf)))
		w.Write(buf[:k])
		n -= k
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// measure syncs src to a destination with each tool; the destinations
// are kept across calls so a second call measures an incremental sync.
func measure(name, src, root, rsh string, p *pair) (result, error) {
	res := result{Case: name}
	dst := func(tool string) string { return filepath.Join(root, "dst-"+tool+"-"+filepath.Base(src)) }
	t0 := time.Now()
	if err := p.syncDir(src, dst("drive"), &res); err != nil {
		return res, fmt.Errorf("drive: %w", err)
	}
	res.Drive = time.Since(t0).Seconds()
	if err := sameTree(src, dst("drive")); err != nil {
		return res, fmt.Errorf("drive: %w", err)
	}
	if rsh != "" {
		user := os.Getenv("USER")
		if user == "" {
			user = "root"
		}
		t0 = time.Now()
		if b, err := exec.Command("rsync", "-a", "-e", rsh, src+"/", user+"@127.0.0.1:"+dst("ssh")+"/").CombinedOutput(); err != nil {
			return res, fmt.Errorf("rsync over ssh: %v: %s", err, b)
		}
		res.RsyncSSH = time.Since(t0).Seconds()
		res.RatioSSH = res.RsyncSSH / res.Drive
	}
	t0 = time.Now()
	if b, err := exec.Command("rsync", "-a", src+"/", dst("local")+"/").CombinedOutput(); err != nil {
		return res, fmt.Errorf("rsync: %v: %s", err, b)
	}
	res.Rsync = time.Since(t0).Seconds()
	res.Ratio = res.Rsync / res.Drive
	return res, nil
}

func sameTree(a, b string) error {
	return filepath.Walk(a, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		x, _ := os.ReadFile(p)
		y, err := os.ReadFile(filepath.Join(b, rel))
		if err != nil || !bytes.Equal(x, y) {
			return fmt.Errorf("%s differs at the destination", rel)
		}
		return nil
	})
}

// pair is two members of one drive, each serving on loopback TCP.
type pair struct {
	a, b   *drive.Drive
	ra, rb *drive.Replica
	ln     net.Listener
	wg     sync.WaitGroup
	stores []*drive.Store
	put    map[string]time.Time // mtimes already put, by path
	batch  int                  // files per group commit
}

func newPair(root string) (*pair, error) {
	s, err := identity.NewSeed()
	if err != nil {
		return nil, err
	}
	addr := drive.GroupAddress(s.GroupKey("bench"))
	p := &pair{put: map[string]time.Time{}}
	for i, who := range []string{"a", "b"} {
		st, err := drive.OpenStore(filepath.Join(root, "store-"+who), addr, drive.StoreOptions{})
		if err != nil {
			return nil, err
		}
		p.stores = append(p.stores, st)
		seed, _ := identity.NewSeed()
		d, err := drive.Open(st, s.DriveSecret(addr), seed.DriveWriterKey(addr), drive.Options{})
		if err != nil {
			return nil, err
		}
		if i == 0 {
			p.a, p.ra = d, drive.NewReplica(st, drive.ReplicaOptions{})
		} else {
			p.b, p.rb = d, drive.NewReplica(st, drive.ReplicaOptions{})
		}
	}
	p.ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.rb.Serve(context.Background(), "a", c)
			}()
		}
	}()
	return p, nil
}

func (p *pair) Open(ctx context.Context, _ drive.PeerID) (io.ReadWriteCloser, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", p.ln.Addr().String())
}

func (p *pair) close() {
	p.ln.Close()
	p.wg.Wait()
	for _, s := range p.stores {
		s.Close()
	}
}

// syncDir puts every file of src changed since the last call into a,
// syncs a with b over TCP, and writes b's files out under dst.
func (p *pair) syncDir(src, dst string, res *result) error {
	t0 := time.Now()
	prefix := filepath.Base(src)
	pb := p.a.PutBatch()
	err := filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		name := prefix + "/" + filepath.ToSlash(rel)
		if t, ok := p.put[name]; ok && t.Equal(fi.ModTime()) {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pb.Put(name, f); err != nil {
			return err
		}
		p.put[name] = fi.ModTime()
		if pb.Len() >= p.batch {
			_, err = pb.Commit()
		}
		return err
	})
	if err != nil {
		return err
	}
	if _, err := pb.Commit(); err != nil {
		return err
	}
	res.Put = time.Since(t0).Seconds()
	t0 = time.Now()
	if _, err := p.ra.Sync(context.Background(), p, "b"); err != nil {
		return err
	}
	res.Sync = time.Since(t0).Seconds()
	t0 = time.Now()
	defer func() { res.Out = time.Since(t0).Seconds() }()
	for _, fi := range p.b.List() {
		rel, ok := strings.CutPrefix(fi.Path, prefix+"/")
		if !ok {
			continue
		}
		out := filepath.Join(dst, filepath.FromSlash(rel))
		if st, err := os.Stat(out); err == nil && st.ModTime().Equal(fi.MTime) && st.Size() == fi.Size {
			continue
		}
		os.MkdirAll(filepath.Dir(out), 0o700)
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 64<<10)
		if err := p.b.Get(fi.Path, w); err != nil {
			f.Close()
			return err
		}
		if err := errors.Join(w.Flush(), f.Close()); err != nil {
			return err
		}
		os.Chtimes(out, fi.MTime, fi.MTime)
	}
	return nil
}

// setupSSH runs sshd on 127.0.0.1 with its own config, host key and
// authorized key under root, and returns the ssh command rsync uses.
func setupSSH(root string) (rsh string, stop func(), err error) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, e := os.Stat("/usr/sbin/sshd"); e != nil {
			return "", nil, fmt.Errorf("sshd not found (bench/drive.sh installs openssh-server)")
		}
		sshd = "/usr/sbin/sshd"
	}
	dir := filepath.Join(root, "ssh")
	os.MkdirAll(dir, 0o700)
	for _, k := range []string{"host_key", "client_key"} {
		if b, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("ssh-keygen: %v: %s", err, b)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client_key.pub"))
	if err != nil {
		return "", nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
LogLevel ERROR
`, port, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	os.MkdirAll("/run/sshd", 0o755)
	srv := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log bytes.Buffer
	srv.Stderr = &log
	if err := srv.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { srv.Process.Kill(); srv.Wait() }
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, e := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); e == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("sshd did not listen: %s", log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rsh = fmt.Sprintf("ssh -p %d -i %s/client_key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR", port, dir)
	return rsh, stop, nil
}
