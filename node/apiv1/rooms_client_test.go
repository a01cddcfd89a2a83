package apiv1_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/node/apiguard"
	"github.com/clubnode/clubnode/node/apiv1"
)

const testRoom = "room-aaaaaaaaaaaaaaaaaaaaaaaaaa"

// roomCall is one request the fake room daemon received.
type roomCall struct {
	method, path string
	room, action string // path values, when the route has them
	body         string
}

// roomDaemon serves the room routes behind the real guard, through the
// same mux patterns the daemon registers, and records every request.
type roomDaemon struct {
	srv *httptest.Server

	mu    sync.Mutex
	calls []roomCall
}

func newRoomDaemon(t *testing.T) *roomDaemon {
	t.Helper()
	d := &roomDaemon{}
	state := apiv1.RoomState{
		Room: apiv1.Room{
			ID: testRoom, Title: "Late-night Go", Type: "open", Status: "live",
			Host: "peerH", Speakers: []string{"peerH"}, Listeners: 1,
		},
		Version:  3,
		Stage:    []apiv1.RoomSpeaker{{PeerID: "peerH", Moderator: true}},
		Audience: []string{"peerA"},
		Role:     "listener",
	}
	mux := http.NewServeMux()
	mux.HandleFunc(apiv1.RouteHallway, func(w http.ResponseWriter, r *http.Request) {
		d.record(r, "")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("null"))
	})
	mux.HandleFunc(apiv1.RouteCreateRoom, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateRoomRequest
		if !d.decode(w, r, &req) {
			return
		}
		s := state
		s.Title, s.Type, s.Start, s.Role = req.Title, req.Type, req.Start, "host"
		apiv1.WriteJSON(w, 200, s)
	})
	mux.HandleFunc(apiv1.RouteRoom, func(w http.ResponseWriter, r *http.Request) {
		d.record(r, "")
		if r.PathValue("room") != testRoom {
			apiv1.WriteError(w, http.StatusNotFound, "no such room: "+r.PathValue("room"))
			return
		}
		apiv1.WriteJSON(w, 200, state)
	})
	mux.HandleFunc(apiv1.RouteRoomAction, func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.RoomActionRequest
		if !d.decode(w, r, &req) {
			return
		}
		if r.PathValue("action") == apiv1.ActionTicket {
			apiv1.WriteJSON(w, 200, apiv1.RoomTicket{
				Room: r.PathValue("room"), For: req.Peer, Ticket: "clubnode-ticket-XYZ",
				Expires: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
			})
			return
		}
		if r.PathValue("action") == apiv1.ActionInviteSpeaker && req.Peer == "peerZ" {
			apiv1.WriteError(w, http.StatusForbidden, "listener may not invite-speaker")
			return
		}
		s := state
		s.Version++
		apiv1.WriteJSON(w, 200, s)
	})
	for _, route := range []string{apiv1.RouteFollow, apiv1.RouteBlock} {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			var req apiv1.FollowRequest
			if !d.decode(w, r, &req) {
				return
			}
			apiv1.WriteJSON(w, 200, req)
		})
	}
	d.srv = httptest.NewServer(apiguard.Guard{Token: token}.Wrap(mux))
	t.Cleanup(d.srv.Close)
	return d
}

// decode reads a request body strictly, as the daemon does, and records
// the call with the body in its canonical JSON form.
func (d *roomDaemon) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := apiv1.ReadJSON(r, v); err != nil {
		apiv1.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	body, _ := json.Marshal(v)
	d.record(r, string(body))
	return true
}

func (d *roomDaemon) record(r *http.Request, body string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, roomCall{
		method: r.Method, path: r.URL.EscapedPath(),
		room: r.PathValue("room"), action: r.PathValue("action"), body: body,
	})
}

func (d *roomDaemon) last(t *testing.T) roomCall {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.calls) == 0 {
		t.Fatal("daemon received no request")
	}
	return d.calls[len(d.calls)-1]
}

func (d *roomDaemon) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

func (d *roomDaemon) client() *apiv1.Client {
	return apiv1.NewClient(strings.TrimPrefix(d.srv.URL, "http://"), token)
}

func TestClientRooms(t *testing.T) {
	d := newRoomDaemon(t)
	c := d.client()
	ctx := t.Context()
	check := func(want roomCall) {
		t.Helper()
		if got := d.last(t); got != want {
			t.Errorf("daemon got %+v\n              want %+v", got, want)
		}
	}

	rooms, err := c.Hallway(ctx)
	if err != nil || rooms == nil || len(rooms) != 0 {
		t.Errorf("Hallway = %#v, %v; want an empty non-nil list", rooms, err)
	}
	check(roomCall{method: "GET", path: apiv1.PathRooms})

	at := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	st, err := c.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Late-night Go", Type: "social", Start: at})
	if err != nil || st.Type != "social" || !st.Start.Equal(at) || st.Role != "host" {
		t.Errorf("CreateRoom = %+v, %v", st, err)
	}
	check(roomCall{method: "POST", path: apiv1.PathRooms, body: `{"title":"Late-night Go","type":"social","start":"2026-12-01T20:00:00Z"}`})
	// A room that starts now sends no start at all.
	if _, err := c.CreateRoom(ctx, apiv1.CreateRoomRequest{Title: "Now", Type: "open"}); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathRooms, body: `{"title":"Now","type":"open"}`})

	st, err = c.Room(ctx, testRoom)
	if err != nil || st.ID != testRoom || st.Version != 3 || len(st.Stage) != 1 || !st.Stage[0].Moderator {
		t.Errorf("Room = %+v, %v", st, err)
	}
	check(roomCall{method: "GET", path: apiv1.PathRoom + testRoom, room: testRoom})

	st, err = c.RoomAction(ctx, testRoom, apiv1.ActionJoin, apiv1.RoomActionRequest{Ticket: "tkt"})
	if err != nil || st.Version != 4 {
		t.Errorf("RoomAction = %+v, %v", st, err)
	}
	check(roomCall{method: "POST", path: apiv1.PathRoom + testRoom + "/join", room: testRoom, action: "join", body: `{"ticket":"tkt"}`})

	if _, err := c.RoomAction(ctx, testRoom, apiv1.ActionMute, apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathRoom + testRoom + "/mute", room: testRoom, action: "mute", body: `{}`})

	// Room and action are one path segment each, whatever they contain.
	if _, err := c.RoomAction(ctx, "odd/room id", "hand-up", apiv1.RoomActionRequest{}); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathRoom + "odd%2Froom%20id/hand-up", room: "odd/room id", action: "hand-up", body: `{}`})

	tk, err := c.RoomTicket(ctx, testRoom, "peerB")
	if err != nil || tk.Ticket != "clubnode-ticket-XYZ" || tk.For != "peerB" || tk.Room != testRoom {
		t.Errorf("RoomTicket = %+v, %v", tk, err)
	}
	check(roomCall{method: "POST", path: apiv1.PathRoom + testRoom + "/ticket", room: testRoom, action: "ticket", body: `{"peer":"peerB"}`})

	if err := c.Follow(ctx, "peerB", true); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathFollows, body: `{"peer":"peerB","on":true}`})
	if err := c.Follow(ctx, "peerB", false); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathFollows, body: `{"peer":"peerB","on":false}`})
	if err := c.Block(ctx, "peerC", true); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathBlocks, body: `{"peer":"peerC","on":true}`})
	if err := c.Block(ctx, "peerC", false); err != nil {
		t.Fatal(err)
	}
	check(roomCall{method: "POST", path: apiv1.PathBlocks, body: `{"peer":"peerC","on":false}`})
}

func TestClientRoomErrors(t *testing.T) {
	d := newRoomDaemon(t)
	c := d.client()
	ctx := t.Context()

	_, err := c.Room(ctx, "room-nope")
	var apiErr *apiv1.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || err.Error() != "no such room: room-nope" {
		t.Errorf("Room of an unknown room: err = %v", err)
	}
	_, err = c.RoomAction(ctx, testRoom, apiv1.ActionInviteSpeaker, apiv1.RoomActionRequest{Peer: "peerZ"})
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden || err.Error() != "listener may not invite-speaker" {
		t.Errorf("refused action: err = %v", err)
	}

	// Calls that cannot be right fail before any request.
	before := d.count()
	for name, call := range map[string]func() error{
		"Room empty id":       func() error { _, err := c.Room(ctx, ""); return err },
		"RoomAction empty id": func() error { _, err := c.RoomAction(ctx, "", apiv1.ActionJoin, apiv1.RoomActionRequest{}); return err },
		"RoomAction empty action": func() error {
			_, err := c.RoomAction(ctx, testRoom, "", apiv1.RoomActionRequest{})
			return err
		},
		"RoomAction ticket": func() error {
			_, err := c.RoomAction(ctx, testRoom, apiv1.ActionTicket, apiv1.RoomActionRequest{Peer: "p"})
			return err
		},
		"RoomTicket empty id":   func() error { _, err := c.RoomTicket(ctx, "", "peerB"); return err },
		"RoomTicket empty peer": func() error { _, err := c.RoomTicket(ctx, testRoom, ""); return err },
		"Follow empty peer":     func() error { return c.Follow(ctx, "", true) },
		"Block empty peer":      func() error { return c.Block(ctx, "", true) },
	} {
		if err := call(); err == nil {
			t.Errorf("%s succeeded", name)
		}
	}
	if n := d.count(); n != before {
		t.Errorf("%d invalid calls reached the daemon", n-before)
	}
}

// The JSON the client sends and reads is the documented wire format.
func TestRoomJSON(t *testing.T) {
	st := apiv1.RoomState{
		Room:  apiv1.Room{ID: testRoom, Title: "t", Type: "open", Status: "scheduled", Host: "h", Start: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)},
		Stage: []apiv1.RoomSpeaker{{PeerID: "h", Moderator: true, Muted: true}},
		Role:  "host",
	}
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"` + testRoom + `","title":"t","type":"open","status":"scheduled","host":"h","speakers":null,"listeners":0,` +
		`"start":"2026-12-01T20:00:00Z","followed":0,"version":0,"stage":[{"peer_id":"h","muted":true,"moderator":true}],` +
		`"audience":null,"hands":null,"invited":null,"role":"host","actions":{"self":null,"peers":null}}`
	if string(data) != want {
		t.Errorf("RoomState JSON\n got %s\nwant %s", data, want)
	}
	var back apiv1.RoomState
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, st) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}
