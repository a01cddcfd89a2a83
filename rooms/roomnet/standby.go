package roomnet

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/rooms"
)

// Standby links. Failing over to a backup by opening a new link costs a
// PeerConnection, ICE and DTLS after the loss is noticed: 100–200 ms on a
// loaded machine, on top of detection. So a child keeps one standby link,
// to the first backup it would fail over to, connected in advance: the
// backup negotiates the stage's tracks on it but forwards nothing
// (rtc.ChildOptions.Standby). When the parent is lost the child sends one
// activate frame on that link and hears the backup at once; then it wants
// a standby to its next backup.
//
// It does not even wait for the probe: when its parent's RTP stalls, the
// child warms the standby (activates it, but still drops what it sends).
// A speaker's pause silences the backup too, and the parent answers the
// probe: the child cools the standby again (the backup stops forwarding). A frozen parent,
// or one whose own way up broke, leaves the backup with audio the parent
// does not send: its third packet of one speaker ends the parent's link
// (rtc.ErrBackupHeard) and the child moves to the backup, 60 ms into the
// stall plus three packets (held and delivered, not lost). The probe's wait stays as it is: a stall
// the backup cannot tell apart is one where the backup is silent too, a
// pause in which nobody has anything to hear, and on a busy machine a
// shorter wait only moved children off parents that were merely late.
//
// A standby costs the backup a PeerConnection and heartbeats, no packet
// copies, so a backup holds up to BackupOvercommit times its failover
// capacity of them: as many as the host lets it back. Activation turns a
// standby into a child whatever the backup's room (see activateStandby).

// standbyTag names a room's standby links to the connection manager.
func standbyTag(room rooms.RoomID) string { return "room-standby:" + string(room) }

// admitStandby checks that this backup can hold a standby link for child.
func (ms *mediaSession) admitStandby(child peer.ID) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	_, again := ms.standbys[child]
	switch {
	case ms.parent == child:
		return fmt.Errorf("%w: %s is this backup's parent", rooms.ErrNotAllowed, child)
	case ms.children[child] != nil:
		return fmt.Errorf("%w: %s is already a child here", rooms.ErrNotAllowed, child)
	case !again && len(ms.standbys) >= rooms.FailoverCapacity(ms.m.capacity, false)*rooms.BackupOvercommit:
		return fmt.Errorf("%w: backup holds %d standbys", rooms.ErrNoParent, len(ms.standbys))
	}
	return nil
}

// activateStandby makes child's standby link one of this node's children
// (rtc's OnActivate); the child may hand it back (deactivateStandby) if
// it did not need it. It is not refused for want of room: a child warms
// its standby at every stall of its parent's audio, before it knows it
// needs it, and a refusal would end the standby just when it may be
// needed. The child reports where it went, and the host moves it on if
// this node is over its capacity (as for any failover).
func (ms *mediaSession) activateStandby(child peer.ID, link *childLink) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	switch {
	case ms.standbys[child] != link:
		return fmt.Errorf("%w: standby of %s replaced", rooms.ErrNotAllowed, child)
	case ms.parent == child:
		return fmt.Errorf("%w: %s is this backup's parent", rooms.ErrNotAllowed, child)
	}
	delete(ms.standbys, child)
	if old := ms.children[child]; old != nil {
		old.cancel()
	}
	ms.children[child] = link
	ms.subtreeChanged()
	return nil
}

// deactivateStandby makes child's link a standby again (rtc's
// OnDeactivate).
func (ms *mediaSession) deactivateStandby(child peer.ID, link *childLink) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.children[child] != link {
		return
	}
	delete(ms.children, child)
	ms.subtreeChanged()
	if old := ms.standbys[child]; old != nil {
		old.cancel()
	}
	ms.standbys[child] = link
}

// dropChild forgets link, child's child or standby link, when it ends.
func (ms *mediaSession) dropChild(child peer.ID, link *childLink) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.children[child] == link {
		delete(ms.children, child)
		ms.subtreeChanged()
	}
	if ms.standbys[child] == link {
		delete(ms.standbys, child)
	}
}

// standbyLink is a child's standby link to one backup.
type standbyLink struct {
	parent peer.ID
	ctl    *rtc.StandbyControl
	warmed atomic.Bool // the backup was told to forward (k.mu)
	taken  atomic.Bool // it is the link to the parent now
	lost   *lossSignal // ends it, once it is the parent's link
	cancel context.CancelFunc
	ready  atomic.Bool   // its PeerConnection connected
	done   chan struct{} // closed when it ended; err is set then
	err    error
}

// lossSignal is a link's rtc.ParentOptions.Lost, closed at most once.
type lossSignal struct {
	ch   chan struct{}
	once sync.Once
}

func newLossSignal() *lossSignal { return &lossSignal{ch: make(chan struct{})} }

func (l *lossSignal) fire() {
	if l != nil {
		l.once.Do(func() { close(l.ch) })
	}
}

// standbys keeps upstream's standby link: one at a time, to the backup it
// is told it wants.
type standbys struct {
	ms   *mediaSession
	work *group.Group // owned by upstream: every standby's goroutine

	mu  sync.Mutex
	cur *standbyLink
	// a and backup are what want was last told, for a standby closed
	// after a false alarm to be made again.
	a      *rooms.SignedAssignment
	backup peer.ID
	// primary ends the link to the parent now, when a warmed standby
	// hears audio.
	primary *lossSignal
}

func newStandbys(ctx context.Context, ms *mediaSession) *standbys {
	return &standbys{ms: ms, work: group.New(ctx)}
}

// close ends any standby and waits for it.
func (k *standbys) close() {
	k.want(nil, "")
	k.work.Close()
}

// want keeps a standby link to backup, under assignment a, and ends any
// other; backup "" ends it. A standby to backup that is up or being set
// up is kept as it is.
func (k *standbys) want(a *rooms.SignedAssignment, backup peer.ID) {
	if !k.ms.m.standbyLinks {
		return // off (Config.StandbyLinks): fail over with a new link
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.a, k.backup = a, backup
	if k.cur != nil && k.cur.parent == backup && !isClosed(k.cur.done) {
		return
	}
	k.restart()
}

// restart ends the standby and starts one to the backup wanted; k.mu is
// held.
func (k *standbys) restart() {
	if k.cur != nil {
		k.cur.cancel()
		k.cur = nil
	}
	if k.backup == "" || k.work.Context().Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(k.work.Context())
	sb := &standbyLink{parent: k.backup, ctl: rtc.NewStandbyControl(), lost: newLossSignal(), cancel: cancel,
		done: make(chan struct{})}
	k.cur = sb
	a := k.a
	if !k.work.Go(func(context.Context) { k.keep(ctx, a, sb) }) {
		k.cur = nil // upstream is stopping
		cancel()
		close(sb.done)
	}
}

// parentOptions sets what a link needs once it is the link to the
// parent: its loss signal and the stall hook.
func (k *standbys) parentOptions(lost *lossSignal, opts *rtc.ParentOptions) {
	opts.Lost, opts.OnStall = lost.ch, k.onStall
}

// primaryIs records the link to the parent now, by its loss signal: a
// warmed standby that hears audio ends it.
func (k *standbys) primaryIs(lost *lossSignal) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.primary = lost
}

// onStall warms the standby when the parent's RTP stalls and cools it
// again when the parent answers or its flow comes back.
func (k *standbys) onStall(stalled bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sb := k.cur
	switch {
	case sb == nil:
	case stalled && sb.ready.Load():
		sb.warmed.Store(true)
		sb.ctl.Warm()
	case !stalled && sb.warmed.Load():
		sb.warmed.Store(false)
		sb.ctl.Cool()
	}
}

// onHeard is a warmed standby's first packet: the backup has audio the
// parent does not send. The parent's link is ended and the standby
// delivers from this packet on, before that link is torn down and
// upstream takes the standby (rtc's OnHeard).
func (k *standbys) onHeard(sb *standbyLink) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur != sb || !sb.warmed.Load() {
		return false
	}
	k.primary.fire()
	sb.taken.Store(true)
	sb.ctl.Deliver()
	return true
}

// keep runs sb's link, and links again after a growing pause while it is
// still wanted and was not taken as the link to the parent.
func (k *standbys) keep(ctx context.Context, a *rooms.SignedAssignment, sb *standbyLink) {
	defer close(sb.done)
	pause := time.Second
	for {
		opts := rtc.ParentOptions{Standby: sb.ctl, OnConnected: func() { sb.ready.Store(true) },
			OnHeard: func() bool { return k.onHeard(sb) }}
		k.parentOptions(sb.lost, &opts)
		sb.err = k.ms.dialParent(ctx, standbyProto, linkHello{Assignment: a.Bytes, Standby: true},
			standbyTag(k.ms.room), sb.parent, opts)
		sb.ready.Store(false)
		if sb.taken.Load() || ctx.Err() != nil {
			return // it was the parent's link, or is no longer wanted
		}
		k.ms.m.log.Debug("standby link ended", "room", k.ms.room, "backup", sb.parent, "err", sb.err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		pause = min(2*pause, 16*time.Second)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// readyPeer is the backup of a standby connected and not activated, or
// "" (also for a nil k).
func (k *standbys) readyPeer() peer.ID {
	if k == nil {
		return ""
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cur == nil || !k.cur.ready.Load() {
		return ""
	}
	return k.cur.parent
}

// ready reports a standby connected and not activated.
func (k *standbys) ready() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.cur != nil && k.cur.ready.Load()
}

// take hands over the standby to backup if it is connected, for the
// caller to activate and run as its parent link; otherwise it ends it
// and returns nil.
func (k *standbys) take(backup peer.ID) *standbyLink {
	k.mu.Lock()
	defer k.mu.Unlock()
	sb := k.cur
	if sb == nil || sb.parent != backup {
		return nil
	}
	k.cur = nil
	if !sb.ready.Load() {
		sb.cancel()
		return nil
	}
	return sb
}

// runStandby activates sb, now the link to the parent, and runs it until
// it ends or ctx does.
func (ms *mediaSession) runStandby(ctx context.Context, k *standbys, sb *standbyLink) error {
	ms.m.failovers.Add(1)
	ms.m.standbyActivations.Add(1)
	k.primaryIs(sb.lost)
	sb.taken.Store(true)
	sb.ctl.Deliver()
	stop := context.AfterFunc(ctx, sb.cancel)
	defer stop()
	<-sb.done
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return sb.err
}

// nextBackup is the backup upstream would fail over to after its
// target: the first of cur's not tried yet, while they are valid.
func (u *upstreamState) nextBackup(now time.Time) peer.ID {
	if u.cur == nil || !now.Before(u.cur.BackupsExpire) {
		return ""
	}
	for _, b := range u.cur.Backups {
		if b != u.target && !slices.Contains(u.tried, b) {
			return b
		}
	}
	return ""
}
