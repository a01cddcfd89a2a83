package node

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/clubnode/clubnode/node/apiv1"
)

// routes is the whole local API, one endpoint per line. The guard in front
// of it (httpHandler) has already checked Host, Origin and the token or
// session; the adapters below do the HTTP: they read the body, call the
// operation and answer its result, or its error with statusOf's status.
func (n *Node) routes() http.Handler {
	mux := http.NewServeMux()
	for _, r := range []struct {
		pattern string
		handler http.Handler
	}{
		{apiv1.RouteID, get(n.Identity)},
		{apiv1.RouteCreateNetwork, post(n.CreateNetwork)},
		{apiv1.RouteCreateInvite, post(n.CreateInvite)},
		{apiv1.RouteInspectInvite, post(n.InspectInvite)},
		{apiv1.RouteInviteQR, post(n.InviteQR)},
		{apiv1.RouteJoin, post(n.Join)},
		{apiv1.RouteMembers, get(n.Members)},
		{apiv1.RouteProfile, getNamed("peer", n.Profile)},
		{apiv1.RouteSetProfile, post(n.SetProfile)},
		{apiv1.RouteRevoke, post(n.Revoke)},
		{apiv1.RoutePeers, get(n.Peers)},
		{apiv1.RouteHallway, get(n.Hallway)},
		{apiv1.RouteCreateRoom, post(n.CreateRoom)},
		{apiv1.RouteRoom, getNamed("room", n.Room)},
		{apiv1.RouteRoomAction, http.HandlerFunc(n.serveRoomAction)},
		{apiv1.RoutePasses, get(n.Passes)},
		{apiv1.RouteIssuePass, post(n.IssuePass)},
		{apiv1.RouteRevokePass, post(n.RevokePass)},
		{apiv1.RouteFollow, post(n.Follow)},
		{apiv1.RouteBlock, post(n.Block)},
		{apiv1.RouteRemind, post(n.Remind)},
		{apiv1.RouteWHIP, offer(func(r *http.Request, room, sdp string) (string, string, error) {
			return n.Speak(r.Context(), room, sdp)
		})},
		{apiv1.RouteWHEP, offer(n.listenOffer)},
		{apiv1.RouteWHIPEnd, endMedia(n.EndMedia, apiv1.WHIP)},
		{apiv1.RouteWHEPEnd, endMedia(n.EndMedia, apiv1.WHEP)},
		{apiv1.RouteWHIPPatch, patchMedia(n.PatchMedia, apiv1.WHIP)},
		{apiv1.RouteWHEPPatch, patchMedia(n.PatchMedia, apiv1.WHEP)},
		{apiv1.RouteLoginLinks, http.HandlerFunc(n.serveLoginLink)},
		{apiv1.RouteSession, http.HandlerFunc(n.serveSession)},
		{apiv1.RouteLogout, http.HandlerFunc(n.serveLogout)},
		{apiv1.RouteEvents, n.web.hub},
		{apiv1.RouteSettings, get(n.Settings)},
		{apiv1.RouteSetSettings, post(n.SetSettings)},
		{apiv1.RouteRelations, get(n.Relations)},
		{apiv1.RouteShutdown, post(n.Shutdown)},
		{apiv1.RouteLogLevel, get(n.LogLevel)},
		{apiv1.RouteSetLogLevel, post(n.SetLogLevel)},
	} {
		mux.Handle(r.pattern, r.handler)
	}
	return jsonMisses(mux)
}

// get answers a GET with what op returns.
func get[T any](op func(context.Context) (T, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w)(op(r.Context()))
	})
}

// getNamed answers a GET of one named thing, the path value key.
func getNamed[T any](key string, op func(context.Context, string) (T, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		answer(w)(op(r.Context(), r.PathValue(key)))
	})
}

// post answers a POST whose JSON body is op's request.
func post[Req, T any](op func(context.Context, Req) (T, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if readBody(w, r, &req) {
			answer(w)(op(r.Context(), req))
		}
	})
}

func (n *Node) serveRoomAction(w http.ResponseWriter, r *http.Request) {
	var req apiv1.RoomActionRequest
	if readBody(w, r, &req) {
		answer(w)(n.RoomAction(r.Context(), r.PathValue("room"), r.PathValue("action"), req))
	}
}

// offer answers a WHIP or WHEP offer (RFC 9725): the SDP answer with 201
// Created and the session's Location.
func offer(start func(r *http.Request, room, offer string) (answer, location string, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdp, status, err := readOffer(r)
		if err != nil {
			apiv1.WriteError(w, status, err.Error())
			return
		}
		answer, location, err := start(r, r.PathValue("room"), sdp)
		if err != nil {
			apiv1.WriteError(w, statusOf(err), err.Error())
			return
		}
		w.Header().Set("Content-Type", apiv1.ContentTypeSDP)
		w.Header().Set("Location", location)
		w.Header().Set("ETag", mediaETag(path.Base(location), 0))
		w.Header().Set("Accept-Patch", apiv1.ContentTypeSDPFrag)
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, answer)
	})
}

// patchMedia answers a WHIP or WHEP session's PATCH (RFC 9725 §4.3):
// 204 for trickled candidates, 200 with this end's fragment and a new
// ETag for an ICE restart.
func patchMedia(patch func(ctx context.Context, room, kind, session, ifMatch, frag string) (string, string, error), kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		frag, status, err := readSDPBody(r, apiv1.ContentTypeSDPFrag, "ICE fragment")
		if err != nil {
			apiv1.WriteError(w, status, err.Error())
			return
		}
		answer, etag, err := patch(r.Context(), r.PathValue("room"), kind, r.PathValue("session"), r.Header.Get("If-Match"), frag)
		if err != nil {
			apiv1.WriteError(w, statusOf(err), err.Error())
			return
		}
		if answer == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", apiv1.ContentTypeSDPFrag)
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, answer)
	})
}

// readOffer reads a WHIP/WHEP request's SDP offer within the size limit.
func readOffer(r *http.Request) (string, int, error) {
	return readSDPBody(r, apiv1.ContentTypeSDP, "offer")
}

// readSDPBody reads an SDP body of media type ct within the size limit.
func readSDPBody(r *http.Request, ct, what string) (string, int, error) {
	if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, ct) {
		return "", http.StatusUnsupportedMediaType, fmt.Errorf("the %s must be sent as %s, not %q", what, ct, got)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, apiv1.MaxSDPSize+1))
	if err != nil {
		return "", http.StatusBadRequest, fmt.Errorf("reading the offer: %w", err)
	}
	if len(body) > apiv1.MaxSDPSize {
		return "", http.StatusRequestEntityTooLarge, fmt.Errorf("the %s is over %d bytes", what, apiv1.MaxSDPSize)
	}
	if len(body) == 0 {
		return "", http.StatusBadRequest, fmt.Errorf("no %s in the request body", what)
	}
	return string(body), 0, nil
}

// endMedia answers the DELETE of a WHIP or WHEP session's Location.
func endMedia(end func(room, kind, session string) error, kind string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := end(r.PathValue("room"), kind, r.PathValue("session")); err != nil {
			apiv1.WriteError(w, statusOf(err), err.Error())
			return
		}
		w.WriteHeader(http.StatusOK)
	})
}

func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := apiv1.ReadJSON(r, v); err != nil {
		apiv1.WriteError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// answer writes an operation's result, or its error with the status the
// error deserves.
func answer(w http.ResponseWriter) func(any, error) {
	return func(v any, err error) {
		if err != nil {
			apiv1.WriteError(w, statusOf(err), err.Error())
			return
		}
		_ = apiv1.WriteJSON(w, http.StatusOK, v)
	}
}

// jsonMisses makes the mux's own answers (no such endpoint, wrong method)
// the API's JSON errors like every other, keeping their status and Allow.
func jsonMisses(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r) // it fills in the path values
			return
		}
		rec := &missRecorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		if allow := rec.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		msg := strings.TrimSpace(rec.body.String())
		if msg == "" {
			msg = http.StatusText(rec.status)
		}
		apiv1.WriteError(w, rec.status, strings.ToLower(msg[:1])+msg[1:]+": "+r.Method+" "+r.URL.Path)
	})
}

// missRecorder keeps what the mux's not-found or method-not-allowed
// handler wrote, to answer it as JSON instead.
type missRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *missRecorder) Header() http.Header { return m.header }
func (m *missRecorder) WriteHeader(s int)   { m.status = s }
func (m *missRecorder) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	if m.body.Len() < 512 {
		m.body.Write(b)
	}
	return len(b), nil
}
