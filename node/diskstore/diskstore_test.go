package diskstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/clubnode/clubnode/internal/testutil"

	ds "github.com/ipfs/go-datastore"
	leveldb "github.com/ipfs/go-ds-leveldb"
)

// smallDisk mounts a tmpfs of size bytes for the test (root only) and
// unmounts it at the end.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is made with a tmpfs mount, which needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d,mode=0700", size)); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file until the disk is full and returns its path.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// The last pages: the file system's own slack.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			return path
		}
	}
}

// TestFullDiskThenRoom: a write fails while the disk is full, and writes
// work again once there is room, without a restart; the log says the
// datastore was reopened. Plain go-ds-leveldb stays stuck on the error.
func TestFullDiskThenRoom(t *testing.T) {
	ctx := context.Background()
	for _, plain := range []bool{true, false} {
		t.Run(map[bool]string{true: "plain go-ds-leveldb", false: "Store"}[plain], func(t *testing.T) {
			dir := smallDisk(t, 8<<20)
			var log testutil.LockedBuffer
			var d ds.Batching
			var err error
			if plain {
				d, err = leveldb.NewDatastore(filepath.Join(dir, "db"), nil)
			} else {
				d, err = Open(filepath.Join(dir, "db"), slog.New(slog.NewTextHandler(&log, nil)))
			}
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Put(ctx, ds.NewKey("/before"), []byte("kept")); err != nil {
				t.Fatal(err)
			}
			filler := fill(t, dir)
			value := bytes.Repeat([]byte("x"), 64<<10)
			if err := d.Put(ctx, ds.NewKey("/full"), value); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("a write to a full disk: %v, want ENOSPC", err)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			err = d.Put(ctx, ds.NewKey("/after"), []byte("room again"))
			if plain {
				if err == nil {
					t.Skip("go-ds-leveldb recovers by itself now: Store's reopening is no longer needed")
				}
				return
			}
			if err != nil {
				t.Fatalf("a write once the disk has room: %v", err)
			}
			for k, want := range map[string]string{"/before": "kept", "/after": "room again"} {
				if got, err := d.Get(ctx, ds.NewKey(k)); err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", k, got, err, want)
				}
			}
			b, _ := d.Batch(ctx)
			b.Put(ctx, ds.NewKey("/batch"), []byte("ok"))
			if err := b.Commit(ctx); err != nil {
				t.Errorf("a batch after the reopen: %v", err)
			}
			if !strings.Contains(log.String(), "datastore reopened after a failed write") || !strings.Contains(log.String(), "the disk is full") {
				t.Errorf("the log does not say the datastore was reopened, and why:\n%s", log.String())
			}
		})
	}
}

// TestOpenErrorsNameTheCause: a full disk, a read-only disk and a lock
// held by another daemon each say so, instead of one guess for all.
func TestOpenErrorsNameTheCause(t *testing.T) {
	t.Run("lock held", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "db")
		first, err := Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		_, err = Open(path, nil)
		wantCause(t, err, "another clubnode daemon")
	})
	t.Run("full disk", func(t *testing.T) {
		dir := smallDisk(t, 1<<20)
		fill(t, dir)
		_, err := Open(filepath.Join(dir, "db"), nil)
		wantCause(t, err, "the disk is full")
	})
	t.Run("read-only disk", func(t *testing.T) {
		dir := smallDisk(t, 4<<20)
		d, err := Open(filepath.Join(dir, "db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			t.Skipf("remount read-only: %v", err)
		}
		_, err = Open(filepath.Join(dir, "db"), nil)
		wantCause(t, err, "the disk is read-only")
	})
	t.Run("permission", func(t *testing.T) {
		// Root passes permission checks, so the error is made by hand.
		err := &fs.PathError{Op: "open", Path: "/home/other/.clubnode/datastore/LOCK", Err: syscall.EACCES}
		if got := Cause(err); !strings.Contains(got, "another user") {
			t.Errorf("Cause(EACCES) = %q", got)
		}
	})
}

func wantCause(t *testing.T, err error, cause string) {
	t.Helper()
	if err == nil {
		t.Fatal("Open succeeded")
	}
	if !strings.Contains(err.Error(), cause) {
		t.Errorf("error %q does not say %q", err, cause)
	}
	if cause != "another clubnode daemon" && strings.Contains(err.Error(), "another clubnode daemon") {
		t.Errorf("error %q blames another daemon", err)
	}
}
