package rtc

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
)

// A child with a standby link to its backup hears again after its parent
// froze as soon as the stall is noticed: one activate frame, not a new
// connection. Until then the standby carries nothing. The same freeze
// without a standby, re-parenting with a new link, is the yardstick.
func TestStandbyTakesOverFromFrozenParent(t *testing.T) {
	var fresh, standby time.Duration
	t.Run("new link", func(t *testing.T) {
		r := newLostRig(t, 60*time.Millisecond)
		frozen := time.Now()
		r.kill(frozenParent)
		detected := r.awaitLoss(t, frozenParent, frozen)
		fresh = r.resumeWith(t, frozen, detected, nil)
	})
	t.Run("standby", func(t *testing.T) {
		r := newLostRig(t, 60*time.Millisecond)
		ctl := NewStandbyControl()
		sb := r.standby(t, ParentOptions{Standby: ctl})
		r.checkSilent(t)
		frozen := time.Now()
		r.kill(frozenParent)
		detected := r.awaitLoss(t, frozenParent, frozen)
		standby = r.resumeWith(t, frozen, detected, ctl.Deliver)
		sb.up(t)
	})
	if t.Failed() {
		return
	}
	t.Logf("from the loss to the first packet: new link %s, standby %s", fresh.Round(time.Millisecond), standby.Round(time.Millisecond))
	if standby >= fresh {
		t.Errorf("the standby's first packet came %s after the loss, no sooner than a new link's (%s)", standby, fresh)
	}
}

// A child that warms its standby when its parent's RTP stalls (the backup
// forwards, the child still drops it) learns from the backup's first
// packet that the parent is the one that stopped: the parent's link ends
// with ErrBackupHeard long before a probe could time out (5 s here), and
// the standby delivers.
func TestWarmStandbyEndsAStalledParent(t *testing.T) {
	ctl, lost := NewStandbyControl(), make(chan struct{})
	var heard sync.Once
	r := newLostRigWith(t, ParentOptions{Stall: 60 * time.Millisecond, ProbeTimeout: 5 * time.Second, Lost: lost,
		OnStall: func(stalled bool) {
			if stalled {
				ctl.Warm()
			}
		}}, ChildOptions{})
	sb := r.standby(t, ParentOptions{Standby: ctl, OnHeard: func() bool {
		heard.Do(func() { close(lost) })
		return false
	}})
	r.checkSilent(t)
	frozen := time.Now()
	want := lostCase{want: []error{ErrBackupHeard}}
	r.kill(frozenParent)
	detected := r.awaitLoss(t, want, frozen)
	r.resumeWith(t, frozen, detected, ctl.Deliver)
	sb.up(t)
}

// A warmed standby that the child cools again (its parent answered)
// stops forwarding, on the same link, and can be warmed again. While the
// parent still delivers, what the warmed backup sends does not count as
// the backup having audio the parent lacks: on a busy machine a stall is
// often a parent only late, and the flow watcher may cool the standby
// only after the backup's packets came.
func TestStandbyCoolsAndWarmsAgain(t *testing.T) {
	r := newLostRig(t, 0)
	ctl := NewStandbyControl()
	heard := make(chan struct{}, 4)
	sb := r.standby(t, ParentOptions{Standby: ctl, OnHeard: func() bool {
		heard <- struct{}{}
		return false
	}})
	for round := range 2 {
		before := r.newParent.Stats().Forwarded
		ctl.Warm()
		testutil.Eventually(t, 5*time.Second, func() error {
			if n := r.newParent.Stats().Forwarded - before; n < 3*heardAfter {
				return errorf("round %d: the warmed standby forwarded %d packets", round, n)
			}
			return nil
		})
		select {
		case <-heard:
			t.Fatalf("round %d: the backup was heard while the parent still delivered", round)
		default:
		}
		ctl.Cool()
		testutil.Eventually(t, 5*time.Second, func() error {
			if st := r.newParent.Stats(); st.Standbys != 1 || st.Children != 0 {
				return errorf("the backup has %d standbys and %d children after the cool", st.Standbys, st.Children)
			}
			return nil
		})
	}
	r.checkSilent(t)
	sb.up(t)
}

// frozenParent is a process that stopped: its stream and network go
// silent, nothing is closed.
var frozenParent = lostCase{name: "frozen", cutNetwork: true, freezeStream: true, keepStreamOpen: true, want: []error{ErrStalled}}

// standby links the child to the rig's second parent as a standby (po
// names its control) and waits until it connected.
func (r *lostRig) standby(t *testing.T, po ParentOptions) *runningLink {
	connected := make(chan struct{})
	po.OnConnected = func() { close(connected) }
	l := connect(t, newTestAPI(t, Config{}), r.newParent, newTestAPI(t, Config{}), r.child, ChildOptions{Standby: true}, po)
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the standby link did not connect in 10 s")
	}
	return l
}

// checkSilent fails the test if the standby parent, fed the same packets
// as the first, forwards any of them while 25 more arrive from the first,
// or if the child has heard any twice.
func (r *lostRig) checkSilent(t *testing.T) {
	n, forwarded := len(r.got.payloads("alice")), r.newParent.Stats().Forwarded
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(r.got.payloads("alice")) < n+25 {
			return errors.New("the first parent's audio stopped")
		}
		return nil
	})
	if st := r.newParent.Stats(); st.Forwarded != forwarded || st.Standbys != 1 || st.Children != 0 {
		t.Fatalf("the standby parent forwarded %d packets while not activated (%d standbys, %d children)",
			st.Forwarded-forwarded, st.Standbys, st.Children)
	}
	seen := map[string]bool{}
	for _, p := range r.got.payloads("alice") {
		if seen[p] {
			t.Fatalf("%s arrived twice: the standby forwards before it is activated", p)
		}
		seen[p] = true
	}
}

// resumeWith re-parents the child after the loss: through a new link, or
// by calling activate on a standby one. It returns how long after the
// loss was detected the first packet came.
func (r *lostRig) resumeWith(t *testing.T, frozen time.Time, detected time.Duration, activate func()) time.Duration {
	before := len(r.got.payloads("alice"))
	lastBefore := r.got.lastArrival("alice")
	lostAt := time.Now()
	if activate != nil {
		activate()
	} else {
		l := connect(t, newTestAPI(t, Config{}), r.newParent, newTestAPI(t, Config{}), r.child, ChildOptions{}, ParentOptions{})
		defer l.stop()
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if len(r.got.payloads("alice")) <= before {
			return errors.New("no audio from the new parent yet")
		}
		return nil
	})
	first := r.got.arrivals("alice")[before]
	t.Logf("audio gap: %s (detection %s, then %s)", first.Sub(lastBefore).Round(time.Millisecond),
		detected.Round(time.Millisecond), first.Sub(lostAt).Round(time.Millisecond))
	return first.Sub(lostAt)
}
