package node

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/clubnode/clubnode/identity"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/node/apiguard"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/node/eventstream"
	"github.com/clubnode/clubnode/node/home"
	"github.com/clubnode/clubnode/node/session"
	"github.com/clubnode/clubnode/node/webui"
	"github.com/clubnode/clubnode/rooms"
)

// Poll intervals of the event stream. The node's state (hallway, rooms,
// members) is sent when the node says it changed (wakeUI); the slow poll
// only catches what nobody announced. The speakers' audio levels drive the
// speaking rings and must follow speech closely.
const (
	uiStateInterval  = 3 * time.Second
	uiLevelsInterval = 100 * time.Millisecond
)

// stateSource is the index of pollState among the hub's sources.
const stateSource = 0

// webUI is what the browser app needs from the node: sessions, the event
// stream and the app's files.
type webUI struct {
	sessions *session.Manager
	hub      *eventstream.Hub
	app      *webui.Handler
	watch    roomWatch

	settingsMu sync.Mutex // one config file write at a time
	// startFile is the config file as it was when the daemon started
	// (ok false: there was none), to tell what the daemon's flags set
	// from what the file set, and what was saved since (settings.go).
	startFile   home.Config
	startFileOK bool
	notify      notifier // what is worth a notification (notify.go)
}

func newWebUI(n *Node) (*webUI, error) {
	app, err := webui.New()
	if err != nil {
		return nil, err
	}
	// Cookies are scoped to a host, not a port: the port in the name keeps
	// two daemons on one machine from signing each other's browsers out.
	_, port, err := net.SplitHostPort(n.APIAddr())
	if err != nil {
		return nil, fmt.Errorf("web UI: API address: %w", err)
	}
	w := &webUI{app: app, sessions: session.NewManager(session.Config{CookieName: "clubnode_session_" + port, Now: n.cfg.Now,
		Store: sessionStore{n.store}, Logger: n.log}),
		watch: roomWatch{in: map[string]bool{}}}
	w.startFile, w.startFileOK = n.readStartFile()
	w.hub, err = eventstream.New(eventstream.Config{Logger: n.log, Sources: []eventstream.Source{
		{Poll: n.pollState, Interval: uiStateInterval},
		{Poll: n.pollLevels, Interval: uiLevelsInterval},
	}})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// httpHandler is everything the local HTTP server answers: the API behind
// the full guard, the app and the login link behind the Host check.
func (n *Node) httpHandler() http.Handler {
	guard := apiguard.Guard{Token: n.token, Logger: n.log, Sessions: n.web.sessions}
	mux := http.NewServeMux()
	mux.Handle("/api/", guard.Wrap(n.authenticated(n.routes())))
	mux.Handle(apiv1.RouteLogin, guard.WrapPublic(http.HandlerFunc(n.login)))
	// Liveness says nothing, so it needs no token: probes (systemd,
	// monitoring) call it without one.
	mux.HandleFunc(apiv1.RouteHealth, serveHealth)
	mux.Handle("GET /{$}", guard.WrapPublic(http.HandlerFunc(n.web.app.Index)))
	mux.Handle("GET "+webui.AssetPrefix, guard.WrapPublic(http.HandlerFunc(n.web.app.Asset)))
	// Anything else answers as it did before the app existed: guarded.
	mux.Handle("/", guard.Wrap(http.NotFoundHandler()))
	return mux
}

// serveSession answers a browser with its CSRF token.
func (n *Node) serveSession(w http.ResponseWriter, r *http.Request) {
	s, ok := n.web.sessions.Lookup(r)
	if !ok || apiguard.AuthOf(r.Context()) != apiguard.AuthSession {
		apiv1.WriteError(w, http.StatusBadRequest, "this request used the API token, not a browser session")
		return
	}
	_ = apiv1.WriteJSON(w, http.StatusOK, apiv1.SessionInfo{CSRFHeader: session.CSRFHeader, CSRFToken: s.CSRF.String()})
}

// serveLogout ends the browser's session.
func (n *Node) serveLogout(w http.ResponseWriter, r *http.Request) {
	if s, ok := n.web.sessions.Lookup(r); ok && apiguard.AuthOf(r.Context()) == apiguard.AuthSession {
		n.web.sessions.End(s.ID)
	}
	http.SetCookie(w, n.web.sessions.ClearCookie())
	_ = apiv1.WriteJSON(w, http.StatusOK, struct{}{})
}

// serveLoginLink issues a one-time link that signs a browser in.
func (n *Node) serveLoginLink(w http.ResponseWriter, r *http.Request) {
	var req struct{}
	if readBody(w, r, &req) {
		answer(w)(n.LoginLink(r))
	}
}

// LoginLink issues a one-time link that signs a browser in. Only the API
// token may ask: a browser session must not mint sessions for others.
func (n *Node) LoginLink(r *http.Request) (apiv1.LoginLink, error) {
	if apiguard.AuthOf(r.Context()) != apiguard.AuthToken {
		return apiv1.LoginLink{}, fmt.Errorf("%w: login links are issued to the API token holder (clubnode ui), not to a browser", identity.ErrNotAuthorized)
	}
	t, expires, err := n.web.sessions.NewLogin()
	if err != nil {
		return apiv1.LoginLink{}, err
	}
	return apiv1.LoginLink{URL: "http://" + n.APIAddr() + apiv1.PathLogin + "?token=" + t.String(), Expires: expires}, nil
}

// loginFailedPage is shown for a used or expired link: plain HTML, so it
// reads well even where the app's scripts would not run.
const loginFailedPage = `<!doctype html>
<html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>clubnode: sign-in link not valid</title>
<h1>This sign-in link does not work any more</h1>
<p>A sign-in link works once, for two minutes. For a new one, run this in a terminal:</p>
<pre>clubnode ui</pre>
`

// login trades a one-time login token for a session cookie and sends the
// browser on to the app, so the token leaves the address bar at once.
func (n *Node) login(w http.ResponseWriter, r *http.Request) {
	webui.SecurityHeaders(w.Header())
	w.Header().Set("Cache-Control", "no-store")
	s, err := n.web.sessions.Redeem(r.URL.Query().Get("token"))
	if err != nil {
		// Debug, as the guard's refusals: any web page can send
		// browsers here with bad links, as often as it likes.
		n.log.Debug("refused a browser sign-in", "err", err)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, loginFailedPage)
		return
	}
	http.SetCookie(w, n.web.sessions.Cookie(s))
	http.Redirect(w, r, "/", http.StatusSeeOther)
	n.log.Info("a browser signed in")
}

// Relations lists whom this node follows and blocks.
func (n *Node) Relations(ctx context.Context) (apiv1.Relations, error) {
	out := apiv1.Relations{Follows: []string{}, Blocks: []string{}}
	for _, list := range []struct {
		prefix ds.Key
		ids    *[]string
	}{{prefFollows, &out.Follows}, {prefBlocks, &out.Blocks}} {
		err := n.store.each(ctx, list.prefix, func(key string, _ []byte) {
			*list.ids = append(*list.ids, ds.NewKey(key).BaseNamespace())
		})
		if err != nil {
			return apiv1.Relations{}, err
		}
		slices.Sort(*list.ids)
	}
	return out, nil
}

// runUI runs the event stream in g until g closes: the hub, and what
// wakes it when the node says its state changed.
func (n *Node) runUI(g *group.Group) {
	g.Go(func(ctx context.Context) {
		// The node says when its state changed; the hub polls then.
		for {
			select {
			case <-ctx.Done():
				return
			case <-n.uiWake:
				n.web.hub.Wake(stateSource)
			}
		}
	})
	g.Go(func(ctx context.Context) { _ = n.web.hub.Run(ctx) })
}

// pollState is the event stream's view of the node: who it is, the
// members, the hallway and every room it takes part in. Lists are sorted
// so that an unchanged state compares equal from one poll to the next.
func (n *Node) pollState(ctx context.Context) eventstream.Snapshot {
	snap := eventstream.Snapshot{}
	add := func(key, name string, v any) {
		ev, err := eventstream.NewEvent(name, v)
		if err != nil {
			n.log.Warn("event stream: skipping an event", "key", key, "err", err)
			return
		}
		snap[key] = ev
	}
	if id, err := n.Identity(ctx); err == nil {
		slices.Sort(id.Addrs)
		add("identity", apiv1.EventIdentity, id)
	}
	if n.p2p.Chain() == nil {
		return snap
	}
	members, err := n.Members(ctx)
	if err == nil {
		slices.SortFunc(members, func(a, b apiv1.Member) int { return strings.Compare(a.PeerID, b.PeerID) })
		add("members", apiv1.EventMembers, members)
	}
	hall, err := n.Hallway(ctx)
	if err != nil {
		hall = nil
	} else {
		slices.SortFunc(hall, func(a, b apiv1.Room) int { return strings.Compare(a.ID, b.ID) })
		add("hallway", apiv1.EventHallway, hall)
		add("notices", apiv1.EventNotices, n.notices(ctx, hall, members))
	}
	var held []rooms.RoomID
	if svc := n.rooms.Load(); svc != nil {
		held = svc.RoomIDs()
	}
	for _, id := range n.web.watch.candidates(hall, held) {
		st, err := n.Room(ctx, id)
		if err == nil {
			n.web.watch.setIn(id, true)
			add("room/"+id, apiv1.EventRoom, apiv1.RoomEvent{ID: id, State: &st})
			continue
		}
		if n.web.watch.setIn(id, false) {
			// Once, so the page can close the room: it was left, ended,
			// or this node was removed.
			ev := apiv1.RoomEvent{ID: id, Reason: err.Error()}
			if svc := n.rooms.Load(); svc != nil {
				ev.Removed = svc.Removed(rooms.RoomID(id))
			}
			add("room/"+id, apiv1.EventRoom, ev)
		}
	}
	return snap
}

// pollLevels reports, for every room the node is in, how loud each
// speaker is in what this node plays to its local listeners.
func (n *Node) pollLevels(context.Context) eventstream.Snapshot {
	snap := eventstream.Snapshot{}
	for _, id := range n.web.watch.rooms() {
		levels := map[string]float64{}
		for p, v := range n.AudioLevels(id) {
			// Two decimals: finer changes would only make traffic.
			levels[p] = float64(int(v*100+0.5)) / 100
		}
		ev, err := eventstream.NewEvent(apiv1.EventLevels, apiv1.Levels{Room: id, Levels: levels})
		if err == nil {
			snap["levels/"+id] = ev
		}
	}
	return snap
}

// roomWatch remembers which rooms the event stream showed the node in, so
// that it can tell the page once when the node is out of one.
type roomWatch struct {
	mu sync.Mutex
	in map[string]bool // rooms the node was in at the last poll
}

// candidates lists the rooms to look at in this poll: those in the
// hallway, those the node holds, and those it held at the last poll.
func (rw *roomWatch) candidates(hall []apiv1.Room, held []rooms.RoomID) []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	set := map[string]bool{}
	for _, r := range hall {
		set[r.ID] = true
	}
	for _, id := range held {
		set[string(id)] = true
	}
	for id := range rw.in {
		set[id] = true
	}
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// setIn records whether the node is in room id and reports whether that
// changed from in to out.
func (rw *roomWatch) setIn(id string, in bool) (left bool) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	was := rw.in[id]
	if in {
		rw.in[id] = true
	} else {
		delete(rw.in, id)
	}
	return was && !in
}

// rooms lists the rooms the node was in at the last poll.
func (rw *roomWatch) rooms() []string {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	out := make([]string, 0, len(rw.in))
	for id := range rw.in {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
