package node

import (
	"context"
	"fmt"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
)

var prefReminders = ds.NewKey("/rooms/reminders")

const (
	maxReminders = 100 // rooms one node may ask to be reminded of
	maxNotices   = 20  // notices the event stream carries, newest last
	// forgetAfter is how long a room may be missing from the hallway
	// before its return counts as new (announcements expire and come
	// back; that is not a new room).
	forgetAfter = 10 * time.Minute
)

// Remind asks for, or drops, a notice when a scheduled room starts.
func (n *Node) Remind(ctx context.Context, req apiv1.RemindRequest) (apiv1.RemindRequest, error) {
	room, err := rooms.ParseRoomID(req.Room)
	if err != nil {
		return req, invalid("%w", err)
	}
	k := prefReminders.ChildString(string(room))
	if !req.On {
		if err := n.store.ds.Delete(ctx, k); err != nil {
			return req, fmt.Errorf("delete %s: %w", k, err)
		}
		return req, nil
	}
	if have := n.reminders(ctx); !have[string(room)] && len(have) >= maxReminders {
		return req, invalid("at most %d reminders at once: drop one first", maxReminders)
	}
	return req, n.store.put(ctx, k, []byte{1})
}

// reminders are the rooms this node asked to be reminded of.
func (n *Node) reminders(ctx context.Context) map[string]bool {
	out := map[string]bool{}
	err := n.store.each(ctx, prefReminders, func(key string, _ []byte) {
		out[ds.NewKey(key).BaseNamespace()] = true
	})
	if err != nil {
		n.log.Warn("could not list reminders", "err", err)
	}
	return out
}

// notices updates the notifier with the hallway as it is now and returns
// the recent notices, for the event stream.
func (n *Node) notices(ctx context.Context, hall []apiv1.Room, members []apiv1.Member) []apiv1.Notice {
	follows := map[string]bool{}
	for _, p := range (roomStore{n.store}).FollowList() {
		follows[p.String()] = true
	}
	names := map[string]string{}
	for _, m := range members {
		names[m.PeerID] = m.Name
	}
	name := func(p string) string {
		if names[p] != "" {
			return names[p]
		}
		if id, err := peer.Decode(p); err == nil {
			s := id.String()
			return s[len(s)-6:]
		}
		return p
	}
	reminded := n.reminders(ctx)
	out, fired := n.web.notify.update(hall, follows, reminded, name, n.cfg.Now())
	for _, room := range fired {
		if _, err := n.Remind(ctx, apiv1.RemindRequest{Room: room}); err != nil {
			n.log.Warn("could not drop a reminder that fired", "room", room, "err", err)
		}
	}
	return out
}

// notifier decides, from one look at the hallway to the next, what is
// worth a notification: a followed member starting a room or going on a
// stage, a reminded room starting. The first look only learns the
// hallway: what was there before the daemon (or the network) started is
// not news.
type notifier struct {
	mu     sync.Mutex
	primed bool
	seen   map[string]*seenRoom
	recent []apiv1.Notice
	boot   int64 // tells apart the IDs of one daemon's run from another's
	seq    int
}

type seenRoom struct {
	live     bool
	speakers map[string]bool
	lastSeen time.Time
}

func (nt *notifier) update(hall []apiv1.Room, follows, reminded map[string]bool, name func(string) string, now time.Time) (recent []apiv1.Notice, fired []string) {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	if nt.seen == nil {
		nt.seen, nt.boot = map[string]*seenRoom{}, now.UnixNano()
	}
	for _, r := range hall {
		was, known := nt.seen[r.ID]
		live := r.Status == "live"
		speakers := map[string]bool{}
		for _, p := range r.Speakers {
			speakers[p] = true
		}
		if nt.primed && live && (!known || !was.live) {
			if reminded[r.ID] {
				nt.add(now, apiv1.NoticeReminder, r.ID, r.Title+" is starting", "The room you asked to be reminded of is live: join it from the hallway.")
				fired = append(fired, r.ID)
			} else if follows[r.Host] {
				nt.add(now, apiv1.NoticeRoomStarted, r.ID, name(r.Host)+" started a room", r.Title)
			}
		}
		if nt.primed && live && known && was.live {
			for _, p := range r.Speakers {
				if follows[p] && !was.speakers[p] && p != r.Host {
					nt.add(now, apiv1.NoticeOnStage, r.ID, name(p)+" is on stage", "in "+r.Title)
				}
			}
		}
		nt.seen[r.ID] = &seenRoom{live: live, speakers: speakers, lastSeen: now}
	}
	for id, s := range nt.seen {
		if now.Sub(s.lastSeen) > forgetAfter {
			delete(nt.seen, id)
		}
	}
	nt.primed = true
	return append([]apiv1.Notice{}, nt.recent...), fired
}

func (nt *notifier) add(now time.Time, kind, room, title, body string) {
	nt.seq++
	nt.recent = append(nt.recent, apiv1.Notice{ID: fmt.Sprintf("%x-%d", nt.boot, nt.seq), Time: now, Kind: kind,
		Room: room, Title: title, Body: body})
	if len(nt.recent) > maxNotices {
		nt.recent = nt.recent[len(nt.recent)-maxNotices:]
	}
}
