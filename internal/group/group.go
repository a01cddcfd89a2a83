// Package group runs goroutines that belong to one owner: they share a
// context, the owner's Close cancels it and waits for every one of them,
// and once closing starts no new one is let in. It is what each
// long-lived part of clubnode (a node, a room service, a media session)
// would otherwise write by hand around a WaitGroup.
//
// golang.org/x/sync/errgroup is close, but it neither refuses work after
// Wait has begun nor cancels on Close, which is the part that makes
// shutdown safe here.
package group

import (
	"context"
	"sync"
	"time"
)

// Group is a set of goroutines with one lifetime. The zero value is not
// usable; make one with New.
type Group struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closing bool
	wg      sync.WaitGroup
}

// New makes a group whose context ends with parent's or at Close.
func New(parent context.Context) *Group {
	ctx, cancel := context.WithCancel(parent)
	return &Group{ctx: ctx, cancel: cancel}
}

// Context is the group's context: it ends when the group closes.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs fn in a goroutine of the group, with the group's context. Once
// Close has begun it runs nothing and returns false.
func (g *Group) Go(fn func(ctx context.Context)) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn(g.ctx)
	}()
	return true
}

// Enter counts the calling goroutine as one of the group's until it calls
// leave: for a goroutine the group did not start, such as a library's
// callback, that Close must wait for. Once Close has begun it returns
// false and nothing to call.
func (g *Group) Enter() (leave func(), ok bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return nil, false
	}
	g.wg.Add(1)
	return g.wg.Done, true
}

// Close cancels the group's context and waits for its goroutines. It is
// safe to call more than once, and from several goroutines, but not from
// a goroutine of the group itself (it would wait for itself).
func (g *Group) Close() {
	g.Stop()
	g.Wait()
}

// Stop is the first half of Close: from now on Go and Enter refuse work,
// and the group's context is cancelled. An owner whose goroutines also
// end when it closes something (a connection they read) closes it
// between Stop and Wait.
func (g *Group) Stop() {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	g.cancel()
}

// Wait is the second half of Close: it waits for the group's goroutines.
func (g *Group) Wait() { g.wg.Wait() }

// Sleep waits d, or until ctx ends; it reports whether the whole d passed.
// A goroutine that paces itself sleeps this way, so that it stops as soon
// as its owner closes.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
