// Package apiconn bounds what clients that have not proved who they are
// can hold of the local API's connections. Anyone on the computer can
// connect to a loopback port; without a bound, another user's few hundred
// silent or trickling connections would use up the daemon's file
// descriptors and keep its owner's CLI from getting in.
//
// Listener counts the connections that have not yet carried an
// authenticated request ("untrusted"), and past its cap closes the oldest
// of them to make room for the newest: the owner's CLI, which connects and
// sends its request at once, is always the newest, and the attacker's
// connections are the ones that have been waiting. A connection is
// trusted for the rest of its life once one request on it passed the
// guard (Trust), so a browser's or the CLI's connection is never cut.
//
// Closing the oldest is not enough on its own: an attacker whose refused
// connections are closed at once can reconnect thousands of times a
// second, so that the owner's connection becomes the oldest before its
// request is read. On Linux the Listener therefore also asks the kernel
// who owns the other end of each loopback connection (/proc/net/tcp):
// the daemon's own user's connections are trusted from the start. Other
// users are exactly who the cap is for.
package apiconn

import (
	"container/list"
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// Listener wraps a net.Listener; see the package comment.
type Listener struct {
	net.Listener
	max        int
	trustOwner bool

	mu        sync.Mutex
	untrusted list.List // of *Conn, oldest first
	evicted   atomic.Int64
}

// NewListener bounds l's untrusted connections to limit (at least 1).
// With trustOwner, connections from this process's own user are trusted
// from the start, where the system can tell (Linux).
func NewListener(l net.Listener, limit int, trustOwner bool) *Listener {
	return &Listener{Listener: l, max: max(1, limit), trustOwner: trustOwner}
}

// Accept returns the next connection, first closing the oldest untrusted
// one if the newcomer would exceed the cap.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	conn := &Conn{Conn: c, l: l}
	if l.trustOwner && sameUser(c) {
		return conn, nil
	}
	var oldest *Conn
	l.mu.Lock()
	conn.elem = l.untrusted.PushBack(conn)
	if l.untrusted.Len() > l.max {
		oldest = l.untrusted.Remove(l.untrusted.Front()).(*Conn)
		oldest.elem = nil
	}
	l.mu.Unlock()
	if oldest != nil {
		l.evicted.Add(1)
		_ = oldest.Conn.Close() // the server's reader sees the close and lets go
	}
	return conn, nil
}

// Untrusted is how many connections are open and not yet trusted.
func (l *Listener) Untrusted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.untrusted.Len()
}

// Evicted is how many untrusted connections were closed for newer ones.
func (l *Listener) Evicted() int64 { return l.evicted.Load() }

func (l *Listener) forget(c *Conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.elem != nil {
		l.untrusted.Remove(c.elem)
		c.elem = nil
	}
}

// Conn is a connection accepted by a Listener.
type Conn struct {
	net.Conn
	l    *Listener
	elem *list.Element // in l.untrusted while untrusted; guarded by l.mu
}

// Close closes the connection and stops counting it.
func (c *Conn) Close() error {
	c.l.forget(c)
	return c.Conn.Close()
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets Trust find the
// connection a request came on.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if conn, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, conn)
	}
	return ctx
}

// Trust marks the connection that carried the request whose context this
// is as trusted: it no longer counts against the cap and is never closed
// to make room.
func Trust(ctx context.Context) {
	if conn, ok := ctx.Value(connKey{}).(*Conn); ok {
		conn.l.forget(conn)
	}
}
