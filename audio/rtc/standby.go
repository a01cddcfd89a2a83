package rtc

import "sync/atomic"

// Standby links. A child that knows its backup parent in advance keeps a
// link to it connected (ICE, DTLS, the stage's tracks negotiated) on which
// the backup forwards nothing, so that failing over costs one frame on the
// link's stream instead of a new connection. The child drives it with a
// StandbyControl: Warm has the backup forward (kindActivate) while the
// child still drops what comes, Cool stops it again (kindDeactivate), and
// Deliver makes it the child's link to its parent. The backup serves it
// with ChildOptions.Standby and sends packets only while it is activated.

// Standby states, in the order a link goes through them.
const (
	standbyIdle int32 = iota // the backup forwards nothing
	standbyWarm              // the backup forwards, the child drops it
	standbyLive              // the link is the child's way in
)

// StandbyControl drives a standby link from outside DialParent
// (ParentOptions.Standby). Its methods may be called from any goroutine,
// before or while the link runs, and any number of times; the link acts on
// the latest. Once Deliver was called, Warm and Cool do nothing. One
// control may serve several links to the same backup one after another.
type StandbyControl struct {
	want atomic.Int32
	poke chan struct{} // capacity 1: the link's loop reads want again
}

// NewStandbyControl makes a control for an idle standby link.
func NewStandbyControl() *StandbyControl {
	return &StandbyControl{poke: make(chan struct{}, 1)}
}

// Warm has the backup forward while the child still drops what comes
// (ParentOptions.OnHeard is told of the first packet).
func (c *StandbyControl) Warm() { c.set(standbyWarm) }

// Cool has a warmed backup stop forwarding.
func (c *StandbyControl) Cool() { c.set(standbyIdle) }

// Deliver makes the link the child's link to its parent, for good.
func (c *StandbyControl) Deliver() { c.set(standbyLive) }

func (c *StandbyControl) set(s int32) {
	for {
		cur := c.want.Load()
		if cur == standbyLive || cur == s {
			return
		}
		if c.want.CompareAndSwap(cur, s) {
			break
		}
	}
	select {
	case c.poke <- struct{}{}:
	default: // a poke is pending: the loop reads the latest
	}
}

// standbyStep brings the link to the state its control wants: the frame
// to the parent if its forwarding changes, then the child's own side.
func (p *parentEnd) standbyStep() error {
	want := p.opts.Standby.want.Load()
	forwarding := want != standbyIdle
	if forwarding != p.forwarding {
		kind := kindActivate
		if !forwarding {
			kind = kindDeactivate
		}
		if err := p.send(signalFrame{Kind: kind}); err != nil {
			return err
		}
		p.forwarding = forwarding
		p.heard.Store(false)
		p.warmGen.Add(1)
	}
	if want == standbyLive && !p.live {
		p.goLive()
	}
	return nil
}
