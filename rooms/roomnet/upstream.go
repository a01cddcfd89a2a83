package roomnet

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/rooms"
)

// upstream keeps this node linked to a parent while it is not the host:
// ask the host where to hang and open that link. When the link is lost
// the node fails over to its assignment's backup parents, best first,
// without asking anyone (each admits it by the assignment alone), and
// tells the host where it went; the host answers with fresh backups, or a
// better place to move to. With no backup left it asks the host again,
// avoiding the parent it lost. Silent deaths are noticed from the stalled
// audio (rtc.ParentOptions.Stall), so the gap a child hears is about the
// stall, a probe's timeout and one link set-up to a known node.
func (ms *mediaSession) upstream(ctx context.Context) {
	var up upstreamState
	k := newStandbys(ctx, ms)
	ms.mu.Lock()
	ms.standby = k
	ms.mu.Unlock()
	defer func() {
		ms.mu.Lock()
		ms.standby = nil
		ms.mu.Unlock()
		k.close()
	}()
	for ctx.Err() == nil {
		st, ok := ms.m.states.State(ms.room)
		if !ok || st.Host == ms.self() {
			up = upstreamState{}
			k.want(nil, "")
			if !ms.waitWake(ctx, 0) {
				return
			}
			continue
		}
		if up.target == "" {
			a, err := ms.askParentOf(ctx, st, up.avoid, "")
			if err != nil {
				ms.m.log.Debug("no parent yet", "room", ms.room, "err", err)
				if !ms.waitWake(ctx, retryBackoff) {
					return
				}
				continue
			}
			up.use(a)
		}
		target := up.target
		moved, replaced, err := ms.runLink(ctx, st, &up, k)
		if ctx.Err() != nil {
			return
		}
		switch {
		case moved != nil:
			up.use(moved)
		case replaced:
			up = upstreamState{avoid: ms.takeAvoid()} // set when it left a parent it reported
		default:
			ms.m.repairs.Add(1)
			up.lost(target, ms.m.now())
		}
		ms.m.log.Info("lost parent", "room", ms.room, "parent", target, "moved", replaced,
			"next", up.target, "err", err)
	}
}

// upstreamState is upstream's record of where it hangs.
type upstreamState struct {
	cur    *rooms.SignedAssignment // the assignment in force: its backups apply
	target peer.ID                 // the parent to link to next, cur's or a backup; "" asks the host
	avoid  peer.ID                 // the parent last lost, for the host
	tried  []peer.ID               // parents of cur's family tried since it came
}

func (u *upstreamState) use(a *rooms.SignedAssignment) {
	u.cur, u.target, u.tried = a, a.Parent, nil
}

// lost records that the link to parent was lost, and picks the next
// backup not tried yet, or none (then upstream asks the host).
func (u *upstreamState) lost(parent peer.ID, now time.Time) {
	if u.cur == nil || parent == u.cur.Parent || u.avoid == "" {
		u.avoid = parent
	}
	u.tried = append(u.tried, parent)
	u.target = ""
	if u.cur == nil || !now.Before(u.cur.BackupsExpire) {
		return
	}
	for _, b := range u.cur.Backups {
		if !slices.Contains(u.tried, b) {
			u.target = b
			return
		}
	}
}

// runLink links to up.target until the link ends: by activating the
// standby link to it if k has one ready, or by a new link. Meanwhile k
// keeps a standby to the next backup. A failover (the target
// is a backup) is reported to the host meanwhile: its answer naming the
// same parent becomes up.cur (fresh backups, and a standby to the first);
// one naming another parent
// ends the link and is returned as moved. replaced says the link was ended
// from outside (applyState) or by such a move, not lost.
func (ms *mediaSession) runLink(ctx context.Context, st *rooms.SignedState, up *upstreamState, k *standbys) (moved *rooms.SignedAssignment, replaced bool, err error) {
	linkCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ms.mu.Lock()
	ms.parent, ms.linkCancel, ms.backups = up.target, cancel, up.cur.Backups
	ms.mu.Unlock()
	defer func() {
		ms.mu.Lock()
		ms.parent, ms.linkCancel, ms.backups = "", nil, nil
		ms.mu.Unlock()
	}()
	var (
		mu     sync.Mutex
		answer *rooms.SignedAssignment
	)
	onStage := st.OnStage(ms.self())
	report := group.New(linkCtx)
	if target, avoid := up.target, up.avoid; target != up.cur.Parent {
		report.Go(func(ctx context.Context) {
			a, err := ms.askParentOf(ctx, st, avoid, target)
			if err != nil {
				ms.m.log.Debug("failover not confirmed by the host", "room", ms.room, "under", target, "err", err)
				return
			}
			mu.Lock()
			answer = a
			mu.Unlock()
			if a.Parent != target {
				cancel() // the host has a better place: move there
				return
			}
			ms.mu.Lock()
			ms.backups = a.Backups
			ms.mu.Unlock()
			if !onStage {
				k.want(a, (&upstreamState{cur: a, target: target}).nextBackup(ms.m.now()))
			}
		})
	}
	sb := k.take(up.target)
	if onStage {
		// A speaker's uplink is heard only by the host: it keeps no
		// standby to a backup that would drop it.
		k.want(nil, "")
	} else {
		k.want(up.cur, up.nextBackup(ms.m.now()))
	}
	if sb != nil {
		err = ms.runStandby(linkCtx, k, sb)
	} else {
		lost := newLossSignal()
		k.primaryIs(lost)
		var opts rtc.ParentOptions
		k.parentOptions(lost, &opts)
		err = ms.linkParent(linkCtx, up.cur, up.target, opts)
	}
	replaced = linkCtx.Err() != nil && ctx.Err() == nil
	cancel()
	report.Close()
	switch {
	case answer == nil:
	case answer.Parent == up.target:
		up.cur, up.tried = answer, nil
	default:
		return answer, true, err
	}
	return nil, replaced, err
}
