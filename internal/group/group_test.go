package group

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCloseCancelsAndWaits(t *testing.T) {
	g := New(context.Background())
	var done atomic.Int32
	started := make(chan struct{}, 3)
	for range 3 {
		if !g.Go(func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
			done.Add(1)
		}) {
			t.Fatal("Go refused work before Close")
		}
	}
	for range 3 {
		<-started
	}
	g.Close()
	if n := done.Load(); n != 3 {
		t.Fatalf("Close returned with %d of 3 goroutines finished", n)
	}
	if g.Go(func(context.Context) { t.Error("ran after Close") }) {
		t.Fatal("Go accepted work after Close")
	}
	g.Close() // twice is fine
}

func TestParentEndsGroup(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	g := New(parent)
	stopped := make(chan struct{})
	g.Go(func(ctx context.Context) { <-ctx.Done(); close(stopped) })
	cancel()
	<-stopped
	g.Close()
}

func TestSleep(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a sleep that ran its course said it was cut short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("a sleep whose context ended said it ran its course")
	}
}

func TestEnterCountsACallersGoroutine(t *testing.T) {
	g := New(context.Background())
	leave, ok := g.Enter()
	if !ok {
		t.Fatal("Enter refused before Close")
	}
	g.Stop()
	if g.Context().Err() == nil {
		t.Fatal("Stop left the context running")
	}
	if _, ok := g.Enter(); ok {
		t.Fatal("Enter accepted after Stop")
	}
	waited := make(chan struct{})
	go func() { g.Wait(); close(waited) }()
	select {
	case <-waited:
		t.Fatal("Wait returned while an entered goroutine had not left")
	case <-time.After(20 * time.Millisecond):
	}
	leave()
	<-waited
}
