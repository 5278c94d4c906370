package control_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/control"
)

// TestKV: the generic namespace others keep records in (API keys,
// revocation lists) is shared by replicas over one etcd, bounded in key
// and value size, and honours lifetimes; the memory store behaves alike.
func TestKV(t *testing.T) {
	dir := t.TempDir()
	st1 := openEtcd(t, control.EtcdConfig{Dir: filepath.Join(dir, "a")})
	t.Cleanup(func() { st1.Close() })
	st2 := openEtcd(t, control.EtcdConfig{Endpoints: st1.Endpoints()})
	t.Cleanup(func() { st2.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for name, kvs := range map[string][2]control.KV{
		"etcd":   {st1.KV(), st2.KV()},
		"memory": {control.NewMemStore().KV(), nil},
	} {
		w, r := kvs[0], kvs[1]
		if r == nil {
			r = w
		}
		if err := w.Put(ctx, "apikeys", "net1/k1", []byte("v1"), 0); err != nil {
			t.Fatalf("%s: put: %v", name, err)
		}
		if v, err := r.Get(ctx, "apikeys", "net1/k1"); err != nil || string(v) != "v1" {
			t.Fatalf("%s: get from the other replica = %q, %v", name, v, err)
		}
		if m, err := r.List(ctx, "apikeys", "net1/"); err != nil || len(m) != 1 || string(m["net1/k1"]) != "v1" {
			t.Fatalf("%s: list = %v, %v", name, m, err)
		}
		if m, _ := r.List(ctx, "apikeysX", ""); len(m) != 0 {
			t.Fatalf("%s: a namespace lists another's keys: %v", name, m)
		}
		if err := w.Delete(ctx, "apikeys", "net1/k1"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, "apikeys", "net1/k1"); !errors.Is(err, control.ErrNotFound) {
			t.Fatalf("%s: get after delete: %v, want ErrNotFound", name, err)
		}
		for what, err := range map[string]error{
			"huge value":      w.Put(ctx, "ns", "k", make([]byte, control.MaxKVValue+1), 0),
			"huge key":        w.Put(ctx, "ns", strings.Repeat("k", control.MaxKVName+1), nil, 0),
			"slash in ns":     w.Put(ctx, "a/b", "k", nil, 0),
			"empty namespace": w.Put(ctx, "", "k", nil, 0),
		} {
			if !errors.Is(err, control.ErrKVBounds) {
				t.Errorf("%s: %s: %v, want ErrKVBounds", name, what, err)
			}
		}
		if err := w.Put(ctx, "ns", "ttl", []byte("x"), time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, "ns", "ttl"); err != nil {
			t.Fatalf("%s: a key with a lifetime is gone at once: %v", name, err)
		}
	}
}
