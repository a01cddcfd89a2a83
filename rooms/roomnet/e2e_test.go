package roomnet

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/audio/sframe"
	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomkey"
)

// closedStage makes a closed room with host h, tickets for everyone in
// spk and listeners, spk on stage unmuted, and waits for every parent.
func closedStage(t *testing.T, h *member, spk, listeners []*member) rooms.RoomID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, err := h.rooms.Create(ctx, "Closed", rooms.TypeClosed, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	id := st.Room
	everyone := append(slices.Clone(spk), listeners...)
	for _, m := range everyone {
		knows(t, m, id)
		ticket, err := rooms.IssueTicket(h.key, id, m.id, time.Now().Add(time.Hour), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := h.rooms.DeliverTicket(ctx, ticket); err != nil {
			t.Fatal(err)
		}
		mustRequest(t, m, id, rooms.KindJoin, nil)
	}
	for _, m := range spk {
		mustRequest(t, h, id, rooms.KindInviteSpeaker, m)
		hasState(t, m, id, "invited", func(s *rooms.SignedState) bool { return slices.Contains(s.Invited, m.id) })
		mustRequest(t, m, id, rooms.KindAcceptInvite, nil)
		hasState(t, m, id, "on stage", func(s *rooms.SignedState) bool { return s.OnStage(m.id) })
		mustRequest(t, m, id, rooms.KindUnmuteSelf, nil)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		for _, m := range everyone {
			if st, ok := m.rooms.Media(id); !ok || st.Parent == "" {
				return fmt.Errorf("%s has no parent yet", m.id)
			}
		}
		return nil
	})
	return id
}

func (c *capture) snapshot(speaker string) []arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.packets[speaker])
}

func epochOf(m *member, id rooms.RoomID) uint64 {
	ms, ok := m.rooms.media.session(id)
	if !ok {
		return 0
	}
	s, _ := ms.keys.ring.Current()
	return s.Epoch
}

// sameEpoch waits until every one of ms holds the epoch h holds, past
// after, and returns it.
func sameEpoch(t *testing.T, id rooms.RoomID, h *member, after uint64, ms ...*member) uint64 {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		e := epochOf(h, id)
		if e <= after {
			return fmt.Errorf("the host %s holds epoch %d", h.id, e)
		}
		for _, m := range ms {
			if got := epochOf(m, id); got != e {
				return fmt.Errorf("%s holds epoch %d, the host %d", m.id, got, e)
			}
		}
		return nil
	})
	return epochOf(h, id)
}

// sealedOnWire: no payload a relay forwarded (wire) is what participant
// c played, and a keyring without the secret opens none.
func sealedOnWire(t *testing.T, id rooms.RoomID, wire, c *capture, speaker peer.ID) {
	t.Helper()
	plain := map[uint16]string{}
	for _, a := range c.snapshot(speaker.String()) {
		plain[a.pkt.SequenceNumber] = string(a.pkt.Payload)
	}
	empty := roomkey.NewKeyring(id)
	onWire := wire.snapshot(speaker.String())
	for _, a := range onWire {
		if plain[a.pkt.SequenceNumber] == string(a.pkt.Payload) {
			t.Fatalf("packet %d crossed the relay in the clear", a.pkt.SequenceNumber)
		}
		if _, err := empty.Decrypt(nil, speaker, a.pkt.Payload); !errors.Is(err, roomkey.ErrNoKey) {
			t.Fatalf("a keyring without the secret: %v", err)
		}
	}
	if len(onWire) < 60 {
		t.Fatalf("only %d packets crossed the relay", len(onWire))
	}
}

// openedLater counts the frames on wire of epochs after first, and how
// many of them keys opens.
func openedLater(wire *capture, speaker peer.ID, first uint64, keys *roomkey.Keyring) (frames, opened int) {
	for _, a := range wire.snapshot(speaker.String()) {
		if hdr, _, err := sframe.ParseHeader(a.pkt.Payload); err != nil || hdr.KID <= first {
			continue
		}
		frames++
		if _, err := keys.Decrypt(nil, speaker, a.pkt.Payload); err == nil {
			opened++
		}
	}
	return frames, opened
}

func keyringOf(m *member, id rooms.RoomID) *roomkey.Keyring {
	ms, _ := m.rooms.media.session(id)
	return ms.keys.ring
}

// TestClosedRoomEndToEnd: in a closed room the relays carry ciphertext;
// participants hear the speaker, before and across a key change; an
// outsider gets no key from the host and recovers nothing from what a
// relay carries; a removed participant's keys open nothing sent after.
func TestClosedRoomEndToEnd(t *testing.T) {
	caps := []int{2, 0, 2, 0, 0, 0}
	ms := startMembersWith(t, len(caps), patientMedia(t, caps))
	h, s, relay, stay, gone, outsider := ms[0], ms[1], ms[2], ms[3], ms[4], ms[5]
	id := closedStage(t, h, []*member{s}, []*member{relay, stay, gone})
	sid := s.id.String()
	first := sameEpoch(t, id, h, 0, s, relay, stay, gone)
	played := map[*member]*capture{}
	for _, m := range []*member{relay, stay, gone} {
		played[m] = listen(t, m, id)
	}
	wire := rawListen(t, relay, id) // what a relay forwards

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sp := speak(t, ctx, s, id, audiotest.Speech(2*time.Second, 1))
	testutil.Eventually(t, 10*time.Second, func() error {
		for m, c := range played {
			if n := c.count(sid); n < 60 {
				return fmt.Errorf("%s played %d packets", m.id, n)
			}
		}
		return nil
	})
	for m, c := range played {
		heard(t, "participant "+m.id.String()[:12], c, s.id, sp)
	}
	sealedOnWire(t, id, wire, played[stay], s.id)
	// An outsider asking the host for the key is refused.
	if _, err := keyProto.Call(ctx, outsider.p2p.MemberHost(), h.id, keyRequest{Room: string(id)}); err == nil {
		t.Fatal("the host gave the room key to a non-participant")
	}

	// Remove one participant while the speaker speaks: the host starts a
	// new epoch, the others follow it and keep hearing.
	goneKeys := keyringOf(gone, id)
	var wg sync.WaitGroup
	var sp2 *speaker
	changed := time.Now()
	wg.Add(1)
	go func() { defer wg.Done(); sp2 = speak(t, ctx, s, id, audiotest.Speech(4*time.Second, 2)) }()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := played[stay].countSince(sid, changed); n < 25 {
			return fmt.Errorf("%d packets of the second speech so far", n)
		}
		return nil
	})
	mustRequest(t, h, id, rooms.KindRemove, gone)
	sameEpoch(t, id, h, first, s, relay, stay)
	wg.Wait()
	for _, m := range []*member{relay, stay} {
		heardTail(t, "participant across the key change", played[m].after(changed), s.id, sp2)
	}
	// What the relay carried after the change: the removed participant's
	// keyring opens none of the new epoch's frames.
	newFrames, opened := openedLater(wire.after(changed), s.id, first, goneKeys)
	if opened != 0 || newFrames < 50 {
		t.Fatalf("removed participant's keys opened %d of %d frames of the new epoch", opened, newFrames)
	}
	t.Logf("epoch %d → %d; the removed participant opened 0 of %d frames of the new epoch", first, epochOf(h, id), newFrames)
}

// TestClosedRoomTakeover: a closed room's host dies while its speaker
// speaks; the moderator takes the room over and starts a new epoch; the
// participants who stay follow it and hear the speaker again, and the old
// host's keys open none of the new epoch's frames (a host that left must
// not hear what follows either).
func TestClosedRoomTakeover(t *testing.T) {
	caps := []int{3, 0, 3, 0}
	ms := startMembersWith(t, len(caps), func(i int, c *Config) {
		patientMedia(t, caps)(i, c)
		c.PresenceTimeout = time.Second
	})
	h, s, mod, l := ms[0], ms[1], ms[2], ms[3]
	id := closedStage(t, h, []*member{s, mod}, []*member{l})
	mustRequest(t, h, id, rooms.KindMakeModerator, mod)
	hasState(t, l, id, "a moderator", func(st *rooms.SignedState) bool { return st.IsModerator(mod.id) })
	first := sameEpoch(t, id, h, 0, s, mod, l)
	oldKeys := keyringOf(h, id)
	sid := s.id.String()
	played, wire := listen(t, l, id), rawListen(t, l, id)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var sp *speaker
	start := time.Now()
	wg.Add(1)
	go func() { defer wg.Done(); sp = speak(t, ctx, s, id, audiotest.Speech(10*time.Second, 3)) }()
	testutil.Eventually(t, 10*time.Second, func() error {
		if n := played.countSince(sid, start); n < 25 {
			return fmt.Errorf("the listener played %d packets before the host died", n)
		}
		return nil
	})
	h.close()
	hasState(t, l, id, "the moderator hosts", func(st *rooms.SignedState) bool { return st.Host == mod.id })
	second := sameEpoch(t, id, mod, first, s, l)
	rotated := time.Now()
	testutil.Eventually(t, 15*time.Second, func() error {
		if n := played.countSince(sid, rotated); n < 50 {
			return fmt.Errorf("the listener played %d packets since the new epoch", n)
		}
		return nil
	})
	wg.Wait()
	heardTail(t, "participant after the takeover", played.after(rotated), s.id, sp)
	frames, opened := openedLater(wire.after(rotated), s.id, first, oldKeys)
	if opened != 0 || frames < 50 {
		t.Fatalf("the old host's keys opened %d of %d frames of the new epoch", opened, frames)
	}
	t.Logf("host died: epoch %d → %d under the new host; the old host's keys opened 0 of %d new frames", first, second, frames)
}
