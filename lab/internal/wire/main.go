// Command wire is the lab's lossy, slow wire: it joins two TAP devices
// and carries every Ethernet frame from one to the other after a fixed
// one-way delay, dropping each with a given probability. The kernel of
// the machine the lab runs on has no `tc netem`; this is the userspace
// stand-in (issue 15, item 4). It runs inside a lab namespace:
//
//	wire -a tapa -b tapb -delay 41ms -loss 0.01 [-rate 0] [-seed 1]
//
// It creates both TAP devices (in its own namespace), prints "ready" once
// they exist, and carries frames until it is killed; on exit it prints
// "frames A>B N dropped D" and "frames B>A N dropped D". The lab bridges
// each TAP device to one side. Loss is independent per frame (Bernoulli);
// -rate (bytes/s, 0 = none) adds a bottleneck with a 1,000-frame queue.
package main

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	a := flag.String("a", "tapa", "first TAP device")
	b := flag.String("b", "tapb", "second TAP device")
	delay := flag.Duration("delay", 0, "one-way delay")
	loss := flag.Float64("loss", 0, "probability of dropping each frame")
	rate := flag.Int64("rate", 0, "bottleneck in bytes per second (0: none)")
	seed := flag.Uint64("seed", 1, "random seed of the losses")
	flag.Parse()
	fa, err := openTap(*a)
	if err != nil {
		fail(err)
	}
	fb, err := openTap(*b)
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	var ab, ba dir
	go ab.run(fa, fb, *delay, *loss, *rate, *seed)
	go ba.run(fb, fa, *delay, *loss, *rate, *seed+1)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Printf("frames A>B %d dropped %d\n", ab.frames.Load(), ab.dropped.Load())
	fmt.Printf("frames B>A %d dropped %d\n", ba.frames.Load(), ba.dropped.Load())
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "wire:", err)
	os.Exit(1)
}

// openTap creates (or attaches to) the TAP device name, without packet
// information headers.
func openTap(name string) (int, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req struct {
		name  [unix.IFNAMSIZ]byte
		flags uint16
		_     [22]byte
	}
	copy(req.name[:], name)
	req.flags = unix.IFF_TAP | unix.IFF_NO_PI
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req))); e != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("TUNSETIFF %s: %w", name, e)
	}
	return fd, nil
}

// dir is one direction of the wire.
type dir struct {
	frames, dropped atomic.Int64
}

type frame struct {
	due time.Time
	b   []byte
}

// run reads frames from in and writes them to out after the delay. The
// queue between the reader and the writer is deep enough for the delay at
// a few Gbit/s; a bottleneck rate delays each frame behind the ones before.
func (d *dir) run(in, out int, delay time.Duration, loss float64, rate int64, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed*7919+1))
	q := make(chan frame, 1<<16)
	go func() {
		// A sleep per frame would cap the wire at one frame per timer
		// tick; a frame due within slack of now goes at once instead
		// (at most slack early).
		const slack = 500 * time.Microsecond
		for f := range q {
			if w := time.Until(f.due); w > slack {
				time.Sleep(w)
			}
			unix.Write(out, f.b)
		}
	}()
	buf := make([]byte, 65536)
	var free time.Time // when the bottleneck is next free
	for {
		n, err := unix.Read(in, buf)
		if err != nil {
			if err == unix.EINTR || err == unix.EAGAIN {
				continue
			}
			fail(err)
		}
		d.frames.Add(1)
		if loss > 0 && rng.Float64() < loss {
			d.dropped.Add(1)
			continue
		}
		now := time.Now()
		due := now.Add(delay)
		if rate > 0 {
			if free.Before(now) {
				free = now
			}
			if free.Sub(now) > time.Duration(1000*1500*int64(time.Second)/rate) {
				d.dropped.Add(1) // the bottleneck's queue is full
				continue
			}
			free = free.Add(time.Duration(int64(n) * int64(time.Second) / rate))
			due = free.Add(delay)
		}
		select {
		case q <- frame{due: due, b: append([]byte(nil), buf[:n]...)}:
		default:
			d.dropped.Add(1)
		}
	}
}
