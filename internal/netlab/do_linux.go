package netlab

import (
	"fmt"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f on an OS thread that has entered the host's network namespace.
// Sockets f opens belong to the host for good, wherever they are used
// afterwards; goroutines f starts do not run inside it. Do is what
// ListenPacket, Listen and DialContext are built on.
func (h *Host) Do(f func() error) error {
	type result struct {
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		// The thread is never unlocked: when this goroutine returns, the
		// runtime ends the thread instead of handing it, still inside the
		// host, to some other goroutine.
		runtime.LockOSThread()
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: p}
			}
		}()
		if err := enter(h.Namespace); err != nil {
			done <- result{err: fmt.Errorf("netlab: enter %s: %w", h.Name, err)}
			return
		}
		done <- result{err: f()}
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}

func enter(ns string) error {
	fd, err := unix.Open(filepath.Join("/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}
