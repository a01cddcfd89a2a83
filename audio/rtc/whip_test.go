package rtc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clubnode/clubnode/internal/testutil"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// whipServer is the smallest WHIP/WHEP endpoint pair: what a WHIP client
// speaks is written into every WHEP listener's track.
type whipServer struct {
	api      *API
	mu       sync.Mutex
	sessions map[string]*Session
	tracks   []*webrtc.TrackLocalStaticSample
	next     int
}

func (s *whipServer) handler() http.Handler {
	mux := http.NewServeMux()
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer test-token" {
				http.Error(w, "no token", http.StatusUnauthorized)
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /whip", auth(func(w http.ResponseWriter, r *http.Request) {
		s.create(w, r, func(offer string) (*Session, string, error) {
			return AcceptWHIP(r.Context(), s.api, offer, s.relay)
		})
	}))
	mux.HandleFunc("POST /whep", auth(func(w http.ResponseWriter, r *http.Request) {
		s.create(w, r, func(offer string) (*Session, string, error) {
			sess, track, answer, err := AcceptWHEP(r.Context(), s.api, offer)
			if err == nil {
				s.mu.Lock()
				s.tracks = append(s.tracks, track)
				s.mu.Unlock()
			}
			return sess, answer, err
		})
	}))
	mux.HandleFunc("DELETE /session/{id}", auth(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		sess := s.sessions[r.PathValue("id")]
		delete(s.sessions, r.PathValue("id"))
		s.mu.Unlock()
		if sess == nil {
			http.NotFound(w, r)
			return
		}
		if err := sess.Close(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	return mux
}

func (s *whipServer) create(w http.ResponseWriter, r *http.Request, accept func(string) (*Session, string, error)) {
	offer, err := io.ReadAll(io.LimitReader(r.Body, maxSignalFrame+1))
	if err != nil || r.Header.Get("Content-Type") != "application/sdp" {
		http.Error(w, "want an SDP body", http.StatusBadRequest)
		return
	}
	sess, answer, err := accept(string(offer))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.next++
	id := fmt.Sprint(s.next)
	s.sessions[id] = sess
	s.mu.Unlock()
	w.Header().Set("Location", "/session/"+id)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, answer)
}

// relay copies a WHIP packet's payload into every WHEP track as a sample.
func (s *whipServer) relay(pkt *rtp.Packet) {
	if len(pkt.Payload) == 0 {
		return
	}
	s.mu.Lock()
	tracks := slices.Clone(s.tracks)
	s.mu.Unlock()
	for _, t := range tracks {
		_ = t.WriteSample(media.Sample{Data: pkt.Payload, Duration: 20 * time.Millisecond})
	}
}

func (s *whipServer) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		_ = sess.Close()
		delete(s.sessions, id)
	}
}

// Samples sent by a WHIP client come out, byte for byte, at a WHEP client.
func TestWHIPAndWHEPRoundTrip(t *testing.T) {
	api := newTestAPI(t, Config{})
	srv := &whipServer{api: api, sessions: map[string]*Session{}}
	hs := httptest.NewServer(srv.handler())
	defer hs.Close()
	defer srv.closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	token := http.Header{"Authorization": {"Bearer test-token"}}

	if _, err := DialWHIP(ctx, api, hs.URL+"/whip", nil); !errors.Is(err, ErrHTTP) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("DialWHIP without a token: %v, want a 401 ErrHTTP", err)
	}

	got := newCollector()
	listener, err := DialWHEP(ctx, api, hs.URL+"/whep", token, func(pkt *rtp.Packet) { got.sink("whep", pkt) })
	if err != nil {
		t.Fatal(err)
	}
	speaker, err := DialWHIP(ctx, api, hs.URL+"/whip", token)
	if err != nil {
		t.Fatal(err)
	}

	write := func(tag string, i int) string {
		frame := fmt.Sprintf("%s-opus-frame-%04d", tag, i)
		if err := speaker.WriteSample(media.Sample{Data: []byte(frame), Duration: 20 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		return frame
	}
	// The WHIP session's media may start a moment after DialWHIP returns
	// on the server side; probe until one frame makes the whole trip.
	testutil.Eventually(t, 5*time.Second, func() error {
		write("warm", 0)
		if len(got.withPrefix("whep", "warm-")) == 0 {
			return errors.New("no frame through WHIP and WHEP yet")
		}
		return nil
	})
	var sent []string
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := range 100 {
		sent = append(sent, write("frame", i))
		<-tick.C
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := len(got.withPrefix("whep", "frame-")); n < len(sent) {
			return fmt.Errorf("%d of %d frames at the WHEP client", n, len(sent))
		}
		return nil
	})
	if arrived := got.withPrefix("whep", "frame-"); !slices.Equal(arrived, sent) {
		t.Fatalf("WHEP got %q, want %q", arrived, sent)
	}

	if err := speaker.Close(); err != nil {
		t.Fatal(err)
	}
	if err := listener.Close(); err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	left := len(srv.sessions)
	srv.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d server sessions left after both clients closed (DELETE not sent?)", left)
	}
}

// A server session ends by itself when its client goes away without DELETE.
func TestSessionEndsWhenPeerLeaves(t *testing.T) {
	api := newTestAPI(t, Config{})
	srv := &whipServer{api: api, sessions: map[string]*Session{}}
	hs := httptest.NewServer(srv.handler())
	defer hs.Close()
	defer srv.closeAll()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	speaker, err := DialWHIP(ctx, api, hs.URL+"/whip", http.Header{"Authorization": {"Bearer test-token"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	var sess *Session
	for _, s := range srv.sessions {
		sess = s
	}
	srv.mu.Unlock()
	if err := speaker.Session.Close(); err != nil { // the PeerConnection only: no DELETE
		t.Fatal(err)
	}
	select {
	case <-sess.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("server session still open 5s after its client left")
	}
}
