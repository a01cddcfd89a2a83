package main

import (
	"container/heap"
	"time"
)

// The event queue is written here rather than taken from a simulation
// library: what a discrete-event simulator needs is a priority queue of
// closures ordered by time, with ties broken by the order they were
// scheduled so that a seed always gives the same run. container/heap
// gives the queue in a few lines; the Go simulation libraries around
// (process-oriented, goroutine per entity) would make the order of
// simultaneous events depend on the scheduler, the one thing a seeded run
// must not do.

type event struct {
	at  time.Duration
	seq uint64
	fn  func()
}

type eventQueue struct {
	items []event
	seq   uint64
	now   time.Duration
}

func (q *eventQueue) Len() int { return len(q.items) }
func (q *eventQueue) Less(i, j int) bool {
	a, b := &q.items[i], &q.items[j]
	return a.at < b.at || (a.at == b.at && a.seq < b.seq)
}
func (q *eventQueue) Swap(i, j int) { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *eventQueue) Push(x any)    { q.items = append(q.items, x.(event)) }
func (q *eventQueue) Pop() any {
	e := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return e
}

// at schedules fn at time t (never before now).
func (q *eventQueue) at(t time.Duration, fn func()) {
	q.seq++
	heap.Push(q, event{at: max(t, q.now), seq: q.seq, fn: fn})
}

// after schedules fn d from now.
func (q *eventQueue) after(d time.Duration, fn func()) { q.at(q.now+d, fn) }

// run executes events in order until the queue is empty or the next one
// is past end.
func (q *eventQueue) run(end time.Duration) {
	for q.Len() > 0 && q.items[0].at <= end {
		e := heap.Pop(q).(event)
		q.now = e.at
		e.fn()
	}
	q.now = max(q.now, end)
}
