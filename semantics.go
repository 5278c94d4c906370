package coconet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/coconet/coconet/node"
	"github.com/coconet/coconet/stream"
	"github.com/coconet/coconet/transfer"
	"github.com/coconet/coconet/tunnel"
)

// Tunnels and file copies, composed from the engine's streams.

// Expose publishes a local TCP service (HOST:PORT) to the network as name.
// access says who may open it: by default the owner and admins only (and
// this user's own nodes); a refused guest reads "alice's tunnel ssh is not
// open to guests; ask alice to allow you".
func (n *Node) Expose(ctx context.Context, name, target string, access ...Access) (*tunnel.Exposed, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	return tunnel.Expose(ctx, e.Streams(), name, target, e.Logf, access...)
}

// OpenTunnel listens on listen (e.g. "127.0.0.1:8080") and forwards each
// connection to the service a member exposed as name.
func (n *Node) OpenTunnel(ctx context.Context, to, name, listen string) (*tunnel.Opened, error) {
	e := n.engine()
	if e == nil {
		return nil, ErrNotStarted
	}
	ids, err := e.PeerNodes(to)
	if err != nil {
		return nil, err
	}
	return tunnel.Open(ctx, e.Streams(), ids[0], name, listen, e.Logf)
}

// SendFile copies a file to a member that is receiving (ReceiveFiles),
// resuming an interrupted copy and checking its SHA-256 at the end.
// progress, if not nil, gets the bytes done and the phase ("hash", "send").
func (n *Node) SendFile(ctx context.Context, to, path string, progress func(phase string, done, total int64)) (transfer.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return transfer.Result{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return transfer.Result{}, err
	}
	if !st.Mode().IsRegular() {
		return transfer.Result{}, fmt.Errorf("%s is not a regular file", path)
	}
	report := func(phase string) func(int64) {
		if progress == nil {
			return nil
		}
		return func(d int64) { progress(phase, d, st.Size()) }
	}
	sum, err := transfer.HashFile(ctx, f, report("hash"))
	if err != nil {
		return transfer.Result{}, err
	}
	c, err := n.Dial(ctx, to, transfer.Service)
	if err != nil {
		if errors.Is(err, stream.ErrUnknownService) {
			return transfer.Result{}, fmt.Errorf("%s is not receiving files; ask them to run `coco receive %s --dir DIR`", to, n.Info().Name)
		}
		if errors.Is(err, stream.ErrNotAllowed) {
			return transfer.Result{}, fmt.Errorf("%s refused the file: %w", to, err)
		}
		return transfer.Result{}, err
	}
	defer c.Close()
	return transfer.Send(ctx, c, filepath.Base(path), st.Size(), sum, f, report("send"))
}

// ReceiveOptions shape ReceiveFiles.
type ReceiveOptions struct {
	// Allow says who may send files: by default the owner and admins only
	// (and this user's own nodes).
	Allow Access
	// MaxSize refuses larger files; 0 means transfer.DefaultMaxSize
	// (4 GiB), a negative value no limit.
	MaxSize int64
}

// ReceiveFiles accepts file copies into dir until ctx ends. accept, if not
// nil, decides per file; onEvent reports each file. Files are taken from
// the members opts.Allow admits (by default the owner and admins only), up
// to opts.MaxSize, under plain names not starting with a dot; the sender
// learns only the base name a file was stored under.
func (n *Node) ReceiveFiles(ctx context.Context, dir string, accept func(node.Sender, string, int64) error, onEvent func(transfer.Event), opts ...ReceiveOptions) error {
	var o ReceiveOptions
	if len(opts) > 0 {
		o = opts[len(opts)-1]
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%s is not a directory to receive into", dir)
	}
	l, err := n.ListenFiles(o.Allow)
	if err != nil {
		return err
	}
	rc := &transfer.Receiver{Dir: dir, Accept: accept, OnEvent: onEvent, MaxSize: o.MaxSize}
	return rc.Serve(ctx, l)
}

// ListenFiles listens for file copies (transfer.Service) from the members
// allow admits, for a transfer.Receiver to serve; ReceiveFiles does both.
func (n *Node) ListenFiles(allow Access) (net.Listener, error) {
	if allow.What == "" {
		allow.What = "file receive"
	}
	l, err := n.Listen(transfer.Service, allow)
	if err != nil {
		return nil, fmt.Errorf("files for %q are already being received (another `coco receive` runs): %w", n.Info().Name, err)
	}
	return l, nil
}
