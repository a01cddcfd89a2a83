package node

import (
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/p2p"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomnet"
)

var (
	prefHosted  = ds.NewKey("/rooms/hosted")
	prefJoined  = ds.NewKey("/rooms/joined")
	prefTickets = ds.NewKey("/rooms/tickets")
	prefFollows = ds.NewKey("/follows")
	prefBlocks  = ds.NewKey("/blocks")
)

// maxHeldTickets bounds the room tickets a node keeps (a few hundred bytes
// each); expired ones make room.
const maxHeldTickets = 1000

// roomStore is roomnet's Store over the node's datastore.
type roomStore struct{ s *store }

func (r roomStore) SaveState(st *rooms.SignedState) error {
	return r.s.put(context.Background(), prefHosted.ChildString(string(st.Room)), st.Bytes)
}

func (r roomStore) flag(prefix ds.Key, p peer.ID) bool {
	ok, err := r.s.ds.Has(context.Background(), prefix.ChildString(p.String()))
	return err == nil && ok
}

func (r roomStore) Follows(p peer.ID) bool { return r.flag(prefFollows, p) }
func (r roomStore) Blocks(p peer.ID) bool  { return r.flag(prefBlocks, p) }

// blocked lists the peers this node blocked, in one pass over the store.
func (r roomStore) blocked(ctx context.Context) (map[peer.ID]bool, error) {
	out := map[peer.ID]bool{}
	err := r.s.each(ctx, prefBlocks, func(key string, _ []byte) {
		if p, err := peer.Decode(ds.NewKey(key).BaseNamespace()); err == nil {
			out[p] = true
		}
	})
	return out, err
}

// list returns the peers flagged under prefix, at most limit.
func (r roomStore) list(prefix ds.Key, limit int) []peer.ID {
	var out []peer.ID
	err := r.s.each(context.Background(), prefix, func(key string, _ []byte) {
		if p, err := peer.Decode(ds.NewKey(key).BaseNamespace()); err == nil && len(out) < limit {
			out = append(out, p)
		}
	})
	if err != nil {
		r.s.log.Warn("could not list", "what", prefix, "err", err)
	}
	return out
}

func (r roomStore) FollowList() []peer.ID { return r.list(prefFollows, rooms.MaxFollowTags) }
func (r roomStore) BlockList() []peer.ID  { return r.list(prefBlocks, roomnet.MaxBlockList) }

// SaveTicket keeps a ticket issued to this node, one per room: the one that
// lasts longer. When the store is full, expired tickets are forgotten first.
func (r roomStore) SaveTicket(t *rooms.SignedTicket) error {
	ctx := context.Background()
	if old := r.Ticket(t.Room); old != nil && old.Expires.After(t.Expires) {
		return nil
	}
	held, err := r.tickets(ctx, time.Now())
	if err != nil {
		return err
	}
	if _, ok := held[t.Room]; !ok && len(held) >= maxHeldTickets {
		return fmt.Errorf("this node holds %d room tickets, the limit", len(held))
	}
	return r.s.put(ctx, prefTickets.ChildString(string(t.Room)), t.Bytes)
}

func (r roomStore) Ticket(room rooms.RoomID) *rooms.SignedTicket {
	data, err := r.s.get(context.Background(), prefTickets.ChildString(string(room)))
	if err != nil || data == nil {
		return nil
	}
	t, err := rooms.ParseTicket(data)
	if err != nil {
		return nil
	}
	return t
}

// tickets returns the held tickets that have not expired by now, and
// deletes the others.
func (r roomStore) tickets(ctx context.Context, now time.Time) (map[rooms.RoomID]*rooms.SignedTicket, error) {
	out := map[rooms.RoomID]*rooms.SignedTicket{}
	var stale []ds.Key
	err := r.s.each(ctx, prefTickets, func(key string, v []byte) {
		t, err := rooms.ParseTicket(v)
		if err != nil || !now.Before(t.Expires) {
			stale = append(stale, ds.NewKey(key))
			return
		}
		out[t.Room] = t
	})
	for _, k := range stale {
		if err := r.s.ds.Delete(ctx, k); err != nil {
			r.s.log.Warn("could not forget an expired room ticket", "key", k, "err", err)
		}
	}
	return out, err
}

func (r roomStore) setFlag(ctx context.Context, prefix ds.Key, p peer.ID, on bool) error {
	k := prefix.ChildString(p.String())
	if on {
		return r.s.put(ctx, k, []byte{1})
	}
	if err := r.s.ds.Delete(ctx, k); err != nil {
		return fmt.Errorf("delete %s: %w", k, err)
	}
	return nil
}

// SaveJoined keeps the state of a room this node is in, for a restart.
func (r roomStore) SaveJoined(st *rooms.SignedState) error {
	return r.s.put(context.Background(), prefJoined.ChildString(string(st.Room)), st.Bytes)
}

// ForgetJoined drops a room this node is out of.
func (r roomStore) ForgetJoined(id rooms.RoomID) error {
	if err := r.s.ds.Delete(context.Background(), prefJoined.ChildString(string(id))); err != nil {
		return fmt.Errorf("%w: forget room %s: %w", ErrStorage, id, err)
	}
	return nil
}

// states lists the room states kept under prefix (hosted or joined).
func (r roomStore) states(ctx context.Context, prefix ds.Key) []*rooms.SignedState {
	var out []*rooms.SignedState
	_ = r.s.each(ctx, prefix, func(key string, v []byte) {
		st, err := rooms.ParseState(v)
		if err != nil {
			r.s.log.Warn("skipping damaged stored room", "key", key, "err", err)
			return
		}
		out = append(out, st)
	})
	return out
}

// startRooms runs the rooms service once the node is a member, takes back
// the rooms it was hosting when it stopped, and goes back into those it
// was in.
func (n *Node) startRooms(ctx context.Context) error {
	svc, err := roomnet.New(roomnet.Config{P2P: n.p2p, Key: n.key, Store: roomStore{n.store}, Logger: n.cfg.Logger, Now: n.cfg.Now,
		AnnounceInterval: n.cfg.RoomAnnounceInterval, MediaStall: n.cfg.MediaStall,
		Media: n.rtc, RelayCapacity: n.cfg.Settings.RelayCapacity, StandbyLinks: n.cfg.Settings.StandbyLinks, Traits: n.placeTraits,
		TURNServers: n.turnServers,
		OnChange:    func(rooms.RoomID) { n.wakeUI() }})
	if err != nil {
		return err
	}
	n.rooms.Store(svc)
	store := roomStore{n.store}
	for _, st := range store.states(ctx, prefHosted) {
		if err := svc.Restore(ctx, st); err != nil {
			n.log.Warn("could not take back a hosted room", "room", st.Room, "err", err)
		}
	}
	for _, st := range store.states(ctx, prefJoined) {
		svc.Rejoin(st)
	}
	return nil
}

func (n *Node) roomService() (*roomnet.Service, error) {
	svc := n.rooms.Load()
	if svc == nil {
		return nil, p2p.ErrNotMember
	}
	return svc, nil
}

func roomInfo(a *rooms.Announcement) apiv1.Room {
	out := apiv1.Room{ID: string(a.Room), Title: a.Title, Type: a.Type.String(), Status: a.Status.String(),
		Host: a.Host.String(), Speakers: []string{}, Listeners: int(a.Listeners), Start: a.Start}
	for _, p := range a.Speakers {
		out.Speakers = append(out.Speakers, p.String())
	}
	return out
}

func (n *Node) roomState(st *rooms.SignedState) apiv1.RoomState {
	a := rooms.AnnouncementOf(&st.State, 0, time.Time{})
	out := apiv1.RoomState{Room: roomInfo(&a), Version: st.Version, Stage: []apiv1.RoomSpeaker{},
		Audience: ids(st.Audience), Hands: ids(st.Hands), Invited: ids(st.Invited), Role: st.RoleOf(n.ID()).String(),
		Actions: n.roomActions(&st.State)}
	for _, sp := range st.Speakers {
		out.Stage = append(out.Stage, apiv1.RoomSpeaker{PeerID: sp.Peer.String(), Muted: sp.Muted, Moderator: st.IsModerator(sp.Peer)})
	}
	if svc := n.rooms.Load(); svc != nil {
		if m, ok := svc.Media(st.Room); ok {
			out.Audio = &apiv1.RoomAudio{Backups: ids(m.Backups), Children: ids(m.Children), Subtree: m.Subtree,
				PacketsIn: m.Forwarder.PacketsIn, Verified: m.Guard.Released, Refused: m.Guard.Refusals(),
				Links: n.roomLinks(st.Room)}
			if m.Parent != "" {
				out.Audio.Parent = m.Parent.String()
			}
			if m.Standby != "" {
				out.Audio.Standby = m.Standby.String()
			}
		}
	}
	return out
}

func ids(ps []peer.ID) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

// Hallway lists the rooms this node may see.
func (n *Node) Hallway(ctx context.Context) ([]apiv1.Room, error) {
	svc, err := n.roomService()
	if err != nil {
		return nil, err
	}
	blocked, err := (roomStore{n.store}).blocked(ctx)
	if err != nil {
		return nil, err
	}
	tickets, err := (roomStore{n.store}).tickets(ctx, n.cfg.Now())
	if err != nil {
		return nil, err
	}
	v := rooms.StaticViewer{Peer: n.ID(), Keys: svc.FollowKeys(), Blocked: blocked, Tickets: tickets}
	out := []apiv1.Room{}
	for _, a := range svc.Hallway(v) {
		out = append(out, roomInfo(&a.Announcement))
	}
	rankHallway(out, (roomStore{n.store}).FollowList())
	reminded := n.reminders(ctx)
	for i := range out {
		out[i].Reminded = reminded[out[i].ID]
	}
	return out, nil
}

// rankHallway counts in each room the people this node follows (host and
// speakers: the announcement names no listeners) and puts first the
// rooms with most of them, then those with most listeners, as Clubhouse's
// hallway does.
func rankHallway(hall []apiv1.Room, follows []peer.ID) {
	followed := make(map[string]bool, len(follows))
	for _, p := range follows {
		followed[p.String()] = true
	}
	for i := range hall {
		r := &hall[i]
		people := append([]string{r.Host}, r.Speakers...)
		seen := map[string]bool{}
		for _, p := range people {
			if followed[p] && !seen[p] {
				seen[p] = true
				r.Followed++
			}
		}
	}
	slices.SortStableFunc(hall, func(a, b apiv1.Room) int {
		if c := cmp.Compare(b.Followed, a.Followed); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Listeners, a.Listeners); c != 0 {
			return c
		}
		return strings.Compare(a.Title, b.Title)
	})
}

// CreateRoom starts or schedules a room hosted by this node.
func (n *Node) CreateRoom(ctx context.Context, req apiv1.CreateRoomRequest) (apiv1.RoomState, error) {
	svc, err := n.roomService()
	if err != nil {
		return apiv1.RoomState{}, err
	}
	typ := rooms.TypeOpen
	if req.Type != "" {
		if typ, err = rooms.ParseRoomType(req.Type); err != nil {
			return apiv1.RoomState{}, invalid("%w", err)
		}
	}
	st, err := svc.Create(ctx, req.Title, typ, req.Start)
	if err != nil {
		return apiv1.RoomState{}, invalid("%w", err)
	}
	return n.roomState(st), nil
}

// Room shows a room this node takes part in.
func (n *Node) Room(_ context.Context, id string) (apiv1.RoomState, error) {
	svc, err := n.roomService()
	if err != nil {
		return apiv1.RoomState{}, err
	}
	room, err := rooms.ParseRoomID(id)
	if err != nil {
		return apiv1.RoomState{}, invalid("%w", err)
	}
	st, ok := svc.State(room)
	if !ok {
		return apiv1.RoomState{}, fmt.Errorf("this node is %w %s (join it first)", rooms.ErrNotInRoom, room)
	}
	return n.roomState(st), nil
}

// actionKind reads a room action's name: a request kind's name, or an
// old name from apiv1.ActionAliases.
func actionKind(action string) (rooms.Kind, error) {
	if now, ok := apiv1.ActionAliases[action]; ok {
		action = now
	}
	kind, err := rooms.ParseKind(action)
	if err != nil {
		return 0, fmt.Errorf("room action %q: %w", action, ErrNotFound)
	}
	return kind, nil
}

// roomActions is what this node may do in st, for apiv1.RoomActions.
func (n *Node) roomActions(st *rooms.State) apiv1.RoomActions {
	acts := rooms.ActionsFor(st, n.ID())
	out := apiv1.RoomActions{Self: kindNames(acts.Self), Peers: make(map[string][]string, len(acts.Peers))}
	for p, kinds := range acts.Peers {
		out.Peers[p.String()] = kindNames(kinds)
	}
	return out
}

func kindNames(kinds []rooms.Kind) []string {
	out := make([]string, 0, len(kinds))
	for _, k := range kinds {
		out = append(out, k.String())
	}
	return out
}

// RoomAction sends a request to a room's host.
func (n *Node) RoomAction(ctx context.Context, id, action string, req apiv1.RoomActionRequest) (any, error) {
	svc, err := n.roomService()
	if err != nil {
		return nil, err
	}
	room, err := rooms.ParseRoomID(id)
	if err != nil {
		return nil, invalid("%w", err)
	}
	var target peer.ID
	if req.Peer != "" {
		if target, err = peer.Decode(req.Peer); err != nil {
			return nil, invalid("%q is not a peer ID: %w", req.Peer, err)
		}
	}
	if action == apiv1.ActionTicket {
		return n.issueTicket(svc, room, target)
	}
	kind, err := actionKind(action)
	if err != nil {
		return nil, err
	}
	var ticket *rooms.SignedTicket
	if req.Ticket != "" {
		raw, err := base64.RawURLEncoding.DecodeString(req.Ticket)
		if err != nil {
			return nil, invalid("room ticket: %w", err)
		}
		if ticket, err = rooms.ParseTicket(raw); err != nil {
			return nil, invalid("%w", err)
		}
	}
	st, err := svc.Request(ctx, room, kind, target, ticket)
	if err != nil {
		return nil, err
	}
	var left []string
	if kind == rooms.KindJoin {
		left = n.leaveOthers(ctx, svc, room)
	}
	if ticket != nil && ticket.Holder == n.ID() {
		// Keep the ticket that let this node in: the closed room stays in
		// its hallway, and the next join presents it by itself.
		if err := svc.KeepTicket(ticket); err != nil {
			n.log.Warn("could not keep the room ticket", "room", room, "err", err)
		}
	}
	out := n.roomState(st)
	out.Left = left
	return out, nil
}

// leaveOthers makes a join the node's one room: it leaves every other
// room it is in, as Clubhouse and Spaces do, after the join succeeded (a
// refused join leaves the node where it was). It returns the rooms left.
// A host leaving hands its room to a moderator, or ends it.
func (n *Node) leaveOthers(ctx context.Context, svc *roomnet.Service, joined rooms.RoomID) []string {
	var left []string
	for _, id := range svc.RoomIDs() {
		st, ok := svc.State(id)
		if id == joined || !ok || !st.InRoom(n.ID()) || st.Status == rooms.StatusEnded {
			continue
		}
		if _, err := svc.Request(ctx, id, rooms.KindLeave, "", nil); err != nil {
			n.log.Warn("joined a room but could not leave another", "joined", joined, "room", id, "err", err)
			continue
		}
		left = append(left, string(id))
	}
	return left
}

func (n *Node) issueTicket(svc *roomnet.Service, room rooms.RoomID, holder peer.ID) (apiv1.RoomTicket, error) {
	if holder == "" {
		return apiv1.RoomTicket{}, invalid("a ticket needs the peer it is for")
	}
	st, ok := svc.State(room)
	if !ok || (st.Host != n.ID() && st.Creator != n.ID()) {
		return apiv1.RoomTicket{}, fmt.Errorf("%w: only the room's host or creator can issue tickets", rooms.ErrNotAllowed)
	}
	expires := n.cfg.Now().Add(7 * 24 * time.Hour)
	t, err := rooms.IssueTicket(n.key, room, holder, expires, n.cfg.Now())
	if err != nil {
		return apiv1.RoomTicket{}, err
	}
	out := apiv1.RoomTicket{Room: string(room), For: holder.String(), Ticket: base64.RawURLEncoding.EncodeToString(t.Bytes), Expires: expires}
	// Hand it to the holder's node now if it is reachable; if not, the
	// ticket text goes to the holder by other means (room join --ticket).
	if err := svc.DeliverTicket(context.Background(), t); err != nil {
		out.NotDelivered = err.Error()
	} else {
		out.Delivered = true
	}
	return out, nil
}

// Follow follows or unfollows a member.
func (n *Node) Follow(ctx context.Context, req apiv1.FollowRequest) (apiv1.FollowRequest, error) {
	return n.setFlag(ctx, prefFollows, req)
}

// Block blocks or unblocks a member.
func (n *Node) Block(ctx context.Context, req apiv1.FollowRequest) (apiv1.FollowRequest, error) {
	return n.setFlag(ctx, prefBlocks, req)
}

func (n *Node) setFlag(ctx context.Context, prefix ds.Key, req apiv1.FollowRequest) (apiv1.FollowRequest, error) {
	p, err := peer.Decode(req.Peer)
	if err != nil {
		return req, invalid("%q is not a peer ID: %w", req.Peer, err)
	}
	if p == n.ID() {
		return req, invalid("that is this node itself")
	}
	if err := (roomStore{n.store}).setFlag(ctx, prefix, p, req.On); err != nil {
		return req, err
	}
	if svc := n.rooms.Load(); prefix == prefBlocks && svc != nil {
		// The hosts of the rooms this node moderates enforce its blocks.
		// The block itself is kept whatever happens; a host that cannot
		// be reached gets the list when this node next hears from it.
		if err := svc.BlocksChanged(ctx); err != nil {
			n.log.Warn("block list not given to every host", "err", err)
		}
	}
	return req, nil
}
