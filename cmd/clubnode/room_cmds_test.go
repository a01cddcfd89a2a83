package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/clubnode/clubnode/node/apiguard"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/home"
)

const testRoomID = "room-aaaaaaaaaaaaaaaaaaaaaaaaaa"

// testNames are the names of testPeer(t, 1) to testPeer(t, 5); a sixth
// member has none.
var testNames = []string{"Hana", "Mo", "Sam", "Lee", "Kim", ""}

// testPeer returns the peer ID of a fixed ed25519 key, so outputs and
// requests can be compared with a real peer ID.
func testPeer(t *testing.T, n byte) string {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	seed[0] = n
	pub, err := crypto.UnmarshalEd25519PublicKey(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id.String()
}

// roomFake is the fake daemon of cli_test.go with the room, follow and
// block routes: the real guard in front of canned answers, published in a
// temp home. It records "METHOD path" of every request and, through
// fakeDaemon.decode, every request body.
type roomFake struct {
	*fakeDaemon
	hallway []apiv1.Room
	state   apiv1.RoomState
	refuse  string // when set, every room action is refused with it

	mu    sync.Mutex
	paths []string
}

func newRoomFake(t *testing.T) *roomFake {
	t.Helper()
	host, mod, speaker := testPeer(t, 1), testPeer(t, 2), testPeer(t, 3)
	f := &roomFake{
		fakeDaemon: &fakeDaemon{home: home.Home{Dir: t.TempDir()}},
		state:      fakeRoomState(t, host, mod, speaker),
	}
	mux := http.NewServeMux()
	mux.HandleFunc(apiv1.RouteMembers, func(w http.ResponseWriter, r *http.Request) {
		var out []apiv1.Member
		for i, name := range testNames { // the sixth has no name
			out = append(out, apiv1.Member{PeerID: testPeer(t, byte(i+1)), Name: name})
		}
		apiv1.WriteJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc(apiv1.RouteHallway, func(w http.ResponseWriter, r *http.Request) {
		apiv1.WriteJSON(w, http.StatusOK, f.hallway)
	})
	mux.HandleFunc(apiv1.RouteCreateRoom, f.handleCreate(host))
	mux.HandleFunc(apiv1.RouteRoom, func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("room") != testRoomID {
			apiv1.WriteError(w, http.StatusNotFound, "no such room: "+r.PathValue("room"))
			return
		}
		apiv1.WriteJSON(w, http.StatusOK, f.state)
	})
	mux.HandleFunc(apiv1.RouteRoomAction, f.handleAction)
	for _, route := range []string{apiv1.RouteFollow, apiv1.RouteBlock} {
		mux.HandleFunc(route, func(w http.ResponseWriter, r *http.Request) {
			var req apiv1.FollowRequest
			if !f.decode(w, r, &req) {
				return
			}
			apiv1.WriteJSON(w, http.StatusOK, struct{}{})
		})
	}
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.Method+" "+r.URL.EscapedPath())
		f.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(apiguard.Guard{Token: testToken}.Wrap(record))
	t.Cleanup(srv.Close)
	if err := home.WriteAPIEndpoint(f.home, strings.TrimPrefix(srv.URL, "http://"), testToken); err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeRoomState is the live room the fake daemon shows: host, mod and
// speaker on stage, two in the audience.
func fakeRoomState(t *testing.T, host, mod, speaker string) apiv1.RoomState {
	return apiv1.RoomState{
		Room: apiv1.Room{
			ID: testRoomID, Title: "Late-night Go", Type: "open", Status: "live",
			Host: host, Speakers: []string{host, mod, speaker}, Listeners: 2,
		},
		Version: 7,
		Stage: []apiv1.RoomSpeaker{
			{PeerID: host, Moderator: true},
			{PeerID: mod, Moderator: true, Muted: true},
			{PeerID: speaker},
		},
		Audience: []string{testPeer(t, 4), testPeer(t, 5)},
		Hands:    []string{testPeer(t, 5)},
		Invited:  []string{testPeer(t, 4)},
		Role:     "listener",
	}
}

// handleCreate answers room create with a new room hosted by host.
func (f *roomFake) handleCreate(host string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req apiv1.CreateRoomRequest
		if !f.decode(w, r, &req) {
			return
		}
		st := apiv1.RoomState{
			Room: apiv1.Room{ID: testRoomID, Title: req.Title, Type: req.Type, Status: "live", Host: host,
				Speakers: []string{host}, Start: req.Start},
			Version: 1,
			Stage:   []apiv1.RoomSpeaker{{PeerID: host, Moderator: true}},
			Role:    "host",
		}
		if !req.Start.IsZero() {
			st.Status = "scheduled"
		}
		apiv1.WriteJSON(w, http.StatusOK, st)
	}
}

// handleAction answers a room action with the next state, a ticket, or
// the refusal f is set to give.
func (f *roomFake) handleAction(w http.ResponseWriter, r *http.Request) {
	var req apiv1.RoomActionRequest
	if !f.decode(w, r, &req) {
		return
	}
	if f.refuse != "" {
		apiv1.WriteError(w, http.StatusForbidden, f.refuse)
		return
	}
	if r.PathValue("action") == apiv1.ActionTicket {
		apiv1.WriteJSON(w, http.StatusOK, apiv1.RoomTicket{
			Room: r.PathValue("room"), For: req.Peer, Ticket: "clubnode-ticket-XYZ",
			Expires: time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC),
		})
		return
	}
	st := f.state
	st.Version++
	apiv1.WriteJSON(w, http.StatusOK, st)
}

// lastPath returns "METHOD path" of the last request, "" if none came.
func (f *roomFake) lastPath() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.paths) == 0 {
		return ""
	}
	return f.paths[len(f.paths)-1]
}

func (f *roomFake) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.paths)
}

func (f *roomFake) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, append([]string{"--home", f.home.Dir}, args...)...)
}

func TestRoomCreate(t *testing.T) {
	f := newRoomFake(t)
	// A month ahead, on the minute: rooms are scheduled at most a year ahead.
	at := time.Now().UTC().AddDate(0, 1, 0).Truncate(time.Minute)
	out, err := f.run(t, "room", "create", "--title", "Late-night Go", "--type", "social", "--at", at.Format("2006-01-02T15:04Z07:00"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.lastPath(), "POST "+apiv1.PathRooms; got != want {
		t.Errorf("request %q, want %q", got, want)
	}
	if got, want := f.lastRequest(t), (apiv1.CreateRoomRequest{Title: "Late-night Go", Type: "social", Start: at}); !reflect.DeepEqual(got, want) {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}
	want := `scheduled social room "Late-night Go" for ` + formatTime(at) + "\nid:         " + testRoomID + "\n"
	if out != want {
		t.Errorf("output %q, want %q", out, want)
	}

	// Now, open by default, and --json prints the room's state.
	out, err = f.run(t, "room", "create", "--title", "  Now  ", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.lastRequest(t), (apiv1.CreateRoomRequest{Title: "Now", Type: "open"}); !reflect.DeepEqual(got, want) {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}
	var st apiv1.RoomState
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.ID != testRoomID || st.Role != "host" || st.Status != "live" {
		t.Errorf("--json output %q: %+v, %v", out, st, err)
	}
}

func TestRoomCreateStart(t *testing.T) {
	want := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-12-01T20:00Z", "2026-12-01T20:00:00Z", "2026-12-01T21:00+01:00", "2026-12-01T21:00:00+01:00"} {
		got, err := parseStart(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseStart(%q) = %v, %v; want %v", s, got, err, want)
		}
	}
	for _, s := range []string{"", "2026-12-01", "2026-12-01T20:00", "2026-12-01 20:00Z", "tomorrow"} {
		if _, err := parseStart(s); err == nil {
			t.Errorf("parseStart(%q) succeeded", s)
		}
	}

	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	req, err := createRoomRequest("t", "closed", "2026-12-01T21:00+01:00", true, now)
	if err != nil || req.Start != want || req.Start.Location() != time.UTC {
		t.Errorf("createRoomRequest = %+v, %v; want the start in UTC", req, err)
	}
	if _, err := createRoomRequest("t", "open", "2026-10-31T23:59Z", true, now); err == nil || !strings.Contains(err.Error(), "in the past") {
		t.Errorf("a start in the past: err = %v", err)
	}
	if _, err := createRoomRequest("t", "open", "9999-01-01T00:00Z", true, now); err == nil || !strings.Contains(err.Error(), "days ahead") {
		t.Errorf("a start in the year 9999: err = %v", err)
	}
}

func TestRoomList(t *testing.T) {
	f := newRoomFake(t)
	out, err := f.run(t, "room", "list")
	if err != nil {
		t.Fatal(err)
	}
	if out != "no rooms in your hallway\n" {
		t.Errorf("empty hallway: %q", out)
	}
	out, err = f.run(t, "room", "list", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("empty hallway --json: %q, %v", out, err)
	}

	at := time.Date(2099, 12, 1, 20, 0, 0, 0, time.UTC)
	f.hallway = []apiv1.Room{
		f.state.Room,
		{ID: "room-baaaaaaaaaaaaaaaaaaaaaaaaa", Title: "Book\x1b[2Jclub", Type: "closed", Status: "scheduled", Host: testPeer(t, 2), Start: at},
	}
	out, err = f.run(t, "room", "list")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.lastPath(); got != "GET "+apiv1.PathRooms {
		t.Errorf("request %q", got)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("output %q: want a header and two rows", out)
	}
	for i, want := range [][]string{
		{"ID", "TITLE", "TYPE", "STATUS", "HOST", "SPEAKERS", "LISTENERS", "START"},
		{testRoomID, "Late-night", "Go", "open", "live", "Hana", "(" + shortID(testPeer(t, 1)) + ")", "3", "2", "-"},
		append([]string{"room-baaaaaaaaaaaaaaaaaaaaaaaaa", `Book\u001b[2Jclub`, "closed", "scheduled", "Mo", "(" + shortID(testPeer(t, 2)) + ")", "0", "0"},
			strings.Fields(formatTime(at))...),
	} {
		if got := strings.Fields(lines[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("line %d = %q, want fields %q", i, lines[i], want)
		}
	}

	out, err = f.run(t, "room", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got) != 2 || got[1]["id"] != "room-baaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("--json output %q: %v", out, err)
	}
}

func TestRoomShow(t *testing.T) {
	f := newRoomFake(t)
	// The room ID is read in any case and sent in its canonical form.
	out, err := f.run(t, "room", "show", strings.ToUpper(testRoomID))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := f.lastPath(), "GET "+apiv1.PathRoom+testRoomID; got != want {
		t.Errorf("request %q, want %q", got, want)
	}
	// Names next to short IDs, as the members list has them.
	who := func(n byte) string { return testNames[n-1] + " (" + shortID(testPeer(t, n)) + ")" }
	want := "room:       " + testRoomID + "\n" +
		"title:      Late-night Go\n" +
		"type:       open\n" +
		"status:     live\n" +
		"host:       " + who(1) + "\n" +
		"start:      -\n" +
		"listeners:  2\n" +
		"your role:  listener\n" +
		"stage (3):\n" +
		"  " + who(1) + "  host, moderator\n" +
		"  " + who(2) + "    moderator, muted\n" +
		"  " + who(3) + "\n" +
		"audience (2):\n" +
		"  " + who(4) + "\n" +
		"  " + who(5) + "\n" +
		"raised hands (1):\n" +
		"  " + who(5) + "\n" +
		"invited (1):\n" +
		"  " + who(4) + "\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}

	out, err = f.run(t, "room", "show", testRoomID, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st apiv1.RoomState
	if err := json.Unmarshal([]byte(out), &st); err != nil || !reflect.DeepEqual(st, f.state) {
		t.Errorf("--json = %+v, %v; want %+v", st, err, f.state)
	}

	_, err = f.run(t, "room", "show", "room-caaaaaaaaaaaaaaaaaaaaaaaaa")
	if err == nil || err.Error() != "no such room: room-caaaaaaaaaaaaaaaaaaaaaaaaa" {
		t.Errorf("unknown room: err = %v", err)
	}
}

func TestRoomActions(t *testing.T) {
	f := newRoomFake(t)
	p := testPeer(t, 9)
	tests := []struct {
		args   []string
		action string
		req    apiv1.RoomActionRequest
		out    string
	}{
		{[]string{"join", testRoomID}, "join", apiv1.RoomActionRequest{},
			`joined "Late-night Go" (` + testRoomID + ") as listener\n"},
		{[]string{"join", testRoomID, "--ticket", "clubnode-ticket-XYZ"}, "join", apiv1.RoomActionRequest{Ticket: "clubnode-ticket-XYZ"},
			`joined "Late-night Go" (` + testRoomID + ") as listener\n"},
		{[]string{"leave", testRoomID}, "leave", apiv1.RoomActionRequest{}, "left " + testRoomID + "\n"},
		{[]string{"hand", testRoomID, "up"}, "hand-up", apiv1.RoomActionRequest{}, "raised your hand in " + testRoomID + "\n"},
		{[]string{"hand", testRoomID, "down"}, "hand-down", apiv1.RoomActionRequest{}, "lowered your hand in " + testRoomID + "\n"},
		{[]string{"invite-speaker", testRoomID, p}, "invite-speaker", apiv1.RoomActionRequest{Peer: p},
			"invited " + p + " to speak in " + testRoomID + "\n"},
		{[]string{"move-to-audience", testRoomID, p}, "move-to-audience", apiv1.RoomActionRequest{Peer: p},
			"moved " + p + " to the audience of " + testRoomID + "\n"},
		{[]string{"mute", testRoomID}, "mute", apiv1.RoomActionRequest{}, "muted yourself in " + testRoomID + "\n"},
		{[]string{"mute", testRoomID, p}, "mute", apiv1.RoomActionRequest{Peer: p}, "muted " + p + " in " + testRoomID + "\n"},
		{[]string{"unmute", testRoomID}, "unmute", apiv1.RoomActionRequest{}, "unmuted yourself in " + testRoomID + "\n"},
		{[]string{"remove", testRoomID, p}, "remove", apiv1.RoomActionRequest{Peer: p},
			"removed " + p + " from " + testRoomID + "; they cannot rejoin it\n"},
		{[]string{"make-moderator", testRoomID, p}, "make-moderator", apiv1.RoomActionRequest{Peer: p},
			"made " + p + " a moderator of " + testRoomID + "\n"},
		{[]string{"step-down", testRoomID}, "step-down", apiv1.RoomActionRequest{}, "stepped down to the audience of " + testRoomID + "\n"},
		{[]string{"accept", testRoomID}, "accept", apiv1.RoomActionRequest{}, "accepted: you are on the stage of " + testRoomID + "\n"},
		{[]string{"decline", testRoomID}, "decline", apiv1.RoomActionRequest{}, "declined the invitation to speak in " + testRoomID + "\n"},
		{[]string{"end", testRoomID}, "end", apiv1.RoomActionRequest{}, "ended " + testRoomID + "\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:1], " ")+"/"+tt.action, func(t *testing.T) {
			out, err := f.run(t, append([]string{"room"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := f.lastPath(), "POST "+apiv1.PathRoom+testRoomID+"/"+tt.action; got != want {
				t.Errorf("request %q, want %q", got, want)
			}
			if got := f.lastRequest(t); got != tt.req {
				t.Errorf("daemon got %+v, want %+v", got, tt.req)
			}
			if out != tt.out {
				t.Errorf("output %q, want %q", out, tt.out)
			}
		})
	}

	// --json prints the room's state after the action.
	out, err := f.run(t, "room", "hand", testRoomID, "up", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var st apiv1.RoomState
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Version != f.state.Version+1 || st.ID != testRoomID {
		t.Errorf("--json output %q: %+v, %v", out, st, err)
	}

	// A refusal is the daemon's message as is.
	f.refuse = "a listener may not mute others"
	_, err = f.run(t, "room", "mute", testRoomID, p)
	if err == nil || oneLine(err) != f.refuse {
		t.Errorf("refused: err = %v", err)
	}
}

func TestRoomTicket(t *testing.T) {
	f := newRoomFake(t)
	p := testPeer(t, 9)
	out, err := f.run(t, "room", "ticket", testRoomID, "--for", p)
	if err != nil {
		t.Fatal(err)
	}
	if out != "clubnode-ticket-XYZ\n" {
		t.Errorf("output %q, want just the ticket line", out)
	}
	if got, want := f.lastPath(), "POST "+apiv1.PathRoom+testRoomID+"/ticket"; got != want {
		t.Errorf("request %q, want %q", got, want)
	}
	if got, want := f.lastRequest(t), (apiv1.RoomActionRequest{Peer: p}); got != want {
		t.Errorf("daemon got %+v, want %+v", got, want)
	}
	out, err = f.run(t, "room", "ticket", testRoomID, "--for", p, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var tk apiv1.RoomTicket
	if err := json.Unmarshal([]byte(out), &tk); err != nil || tk.For != p || tk.Room != testRoomID || tk.Ticket != "clubnode-ticket-XYZ" {
		t.Errorf("--json output %q: %+v, %v", out, tk, err)
	}
}

// A ticket the daemon could not hand to the holder's node: stdout is still
// just the ticket, and stderr says how the holder uses it.
func TestRoomTicketNotDelivered(t *testing.T) {
	f := newRoomFake(t) // its daemon answers delivered: false
	p := testPeer(t, 9)
	root := newRootCommand()
	var stdout, stderr bytes.Buffer
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	root.SetArgs([]string{"--home", f.home.Dir, "room", "ticket", testRoomID, "--for", p})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "clubnode-ticket-XYZ\n" {
		t.Errorf("stdout %q, want just the ticket line", stdout.String())
	}
	if want := "clubnode room join " + testRoomID + " --ticket TICKET"; !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q does not say %q", stderr.String(), want)
	}
}

func TestFollowBlock(t *testing.T) {
	f := newRoomFake(t)
	p := testPeer(t, 9)
	tests := []struct {
		cmd, path string
		on        bool
		out       string
	}{
		{"follow", apiv1.PathFollows, true, "following " + p + "\n"},
		{"unfollow", apiv1.PathFollows, false, "no longer following " + p + "\n"},
		{"block", apiv1.PathBlocks, true, "blocked " + p + "\n"},
		{"unblock", apiv1.PathBlocks, false, "unblocked " + p + "\n"},
	}
	for _, tt := range tests {
		out, err := f.run(t, tt.cmd, p)
		if err != nil {
			t.Fatalf("%s: %v", tt.cmd, err)
		}
		if got, want := f.lastPath(), "POST "+tt.path; got != want {
			t.Errorf("%s: request %q, want %q", tt.cmd, got, want)
		}
		want := apiv1.FollowRequest{Peer: p, On: tt.on}
		if got := f.lastRequest(t); got != want {
			t.Errorf("%s: daemon got %+v, want %+v", tt.cmd, got, want)
		}
		if out != tt.out {
			t.Errorf("%s: output %q, want %q", tt.cmd, out, tt.out)
		}
		out, err = f.run(t, tt.cmd, p, "--json")
		if err != nil {
			t.Fatal(err)
		}
		var got apiv1.FollowRequest
		if err := json.Unmarshal([]byte(out), &got); err != nil || got != want {
			t.Errorf("%s --json output %q: %+v, %v", tt.cmd, out, got, err)
		}
	}
}

// Arguments are checked before the daemon is asked anything.
func TestRoomArgValidation(t *testing.T) {
	f := newRoomFake(t)
	p := testPeer(t, 9)
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"room", "hand", testRoomID, "sideways"}, `hand "sideways": want up or down`},
		{[]string{"room", "hand", testRoomID}, "wrong number of arguments (1); usage: clubnode room hand ROOM up|down"},
		{[]string{"room", "hand", "up", testRoomID}, `"up" is not a room ID`},
		{[]string{"room", "invite-speaker", p, testRoomID}, `"` + p + `" is not a room ID`},
		{[]string{"room", "invite-speaker", testRoomID}, "wrong number of arguments (1)"},
		{[]string{"room", "remove", testRoomID, p, p}, "wrong number of arguments (3)"},
		{[]string{"room", "mute", testRoomID, p, p}, "wrong number of arguments (3)"},
		{[]string{"room", "unmute", testRoomID, p}, "wrong number of arguments (2)"},
		{[]string{"room", "join", "room-sh0rt"}, `"room-sh0rt" is not a room ID`},
		{[]string{"room", "join", "short"}, `"short" is not a room ID`},
		{[]string{"room", "join", testRoomID, "--ticket", " "}, "--ticket is empty"},
		{[]string{"room", "show"}, "wrong number of arguments (0)"},
		{[]string{"room", "ticket", testRoomID}, "--for PEER_ID"},
		{[]string{"room", "ticket", testRoomID, "--for", " "}, `--for: an empty peer`},
		{[]string{"room", "create"}, "--title"},
		{[]string{"room", "create", "--title", " "}, "--title"},
		{[]string{"room", "create", "--title", strings.Repeat("x", 101)}, "101 characters long, the limit is 100"},
		{[]string{"room", "create", "--title", "t", "--type", "public"}, `--type "public": want open, social, closed or supporters`},
		{[]string{"room", "create", "--title", "t", "--at", "tomorrow"}, `--at "tomorrow"`},
		{[]string{"room", "create", "--title", "t", "--at", "2020-01-01T00:00Z"}, "in the past"},
		{[]string{"room", "list", "extra"}, "unknown command"},
		{[]string{"room", "hnad", testRoomID, "up"}, `unknown command "hnad"`},
		{[]string{"follow"}, "wrong number of arguments (0)"},
		{[]string{"unblock", testRoomID}, "is a room ID, not a peer"},
	}
	for _, tt := range tests {
		_, err := f.run(t, tt.args...)
		if err == nil || !strings.Contains(oneLine(err), tt.wantErr) {
			t.Errorf("%q: err = %v, want one containing %q", tt.args, err, tt.wantErr)
		}
	}
	if n := f.count(); n != 0 {
		t.Errorf("%d requests reached the daemon, want none", n)
	}
}

func TestRoomTitleClean(t *testing.T) {
	if got, want := clean("Late\tnight\x1b[31m Go\u0085 \xff \u202eünïcode 🎙"), `Late\tnight\u001b[31m Go\u0085 `+"\uFFFD "+`\u202eünïcode 🎙`; got != want {
		t.Errorf("clean = %q, want %q", got, want)
	}
}

// TestPeopleAndRoomsByWhatYouType: a PEER argument may be a name or the
// start of a peer ID, a ROOM argument the start of a room ID; ambiguous
// input lists the candidates.
func TestPeopleAndRoomsByWhatYouType(t *testing.T) {
	f := newRoomFake(t)
	f.hallway = []apiv1.Room{f.state.Room,
		{ID: "room-abaaaaaaaaaaaaaaaaaaaaaaaa", Title: "Second", Type: "open", Status: "live", Host: testPeer(t, 2)}}
	sam := testPeer(t, 3)
	for _, arg := range []string{"sam", "Sam", sam[:20]} {
		if _, err := f.run(t, "room", "invite-speaker", "room-aa", arg); err != nil {
			t.Fatalf("invite-speaker %q: %v", arg, err)
		}
		if got, want := f.lastPath(), "POST "+apiv1.PathRoom+testRoomID+"/"+apiv1.ActionInviteSpeaker; got != want {
			t.Errorf("request %q, want %q", got, want)
		}
		if got := f.lastRequest(t); got != (apiv1.RoomActionRequest{Peer: sam}) {
			t.Errorf("%q: daemon got %+v", arg, got)
		}
	}
	_, err := f.run(t, "room", "invite-speaker", testRoomID, "12D3KooW")
	if err == nil || !strings.Contains(err.Error(), `"12D3KooW" could be 6 members: `) || !strings.Contains(err.Error(), "Sam (") {
		t.Errorf("ambiguous prefix: %v", err)
	}
	_, err = f.run(t, "room", "show", "room-a")
	if err == nil || !strings.Contains(err.Error(), `"room-a" could be 2 rooms`) || !strings.Contains(err.Error(), "Second") {
		t.Errorf("ambiguous room: %v", err)
	}
	_, err = f.run(t, "follow", "nobody")
	if err == nil || !strings.Contains(err.Error(), `no member is called "nobody"`) {
		t.Errorf("unknown name: %v", err)
	}
}
