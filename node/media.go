package node

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/rtc"
	"github.com/clubnode/clubnode/internal/group"
	"github.com/clubnode/clubnode/node/apiv1"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomnet"
)

// localMedia holds the WHIP and WHEP sessions of the local API: the CLI's
// speak and listen and the browser attach to their own node this way, and
// from here on their audio takes the same path as everyone else's.
type localMedia struct {
	api *rtc.API // host and loopback candidates, patient ICE timeouts

	// work owns each session's watcher; its context ends at close.
	work *group.Group

	mu       sync.Mutex
	sessions map[string]*localSession
	levels   map[rooms.RoomID]map[string]float64
	mixes    map[rooms.RoomID]*audio.Mixer // the latest local listener's, per room
}

type localSession struct {
	room rooms.RoomID
	kind string
	rtc  *rtc.Session
	// generation counts ICE restarts: the session's ETag names it.
	generation atomic.Int64
}

// mediaETag is the ETag of a session's current ICE session.
func mediaETag(id string, generation int64) string {
	return fmt.Sprintf("\"%s.%d\"", id, generation)
}

// errMediaClosing answers an offer that arrives while the node stops.
var errMediaClosing = fmt.Errorf("audio is %w: the node is stopping", ErrUnavailable)

func (lm *localMedia) get(id, kind string, room rooms.RoomID) (*localSession, bool) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	s, ok := lm.sessions[id]
	if !ok || s.kind != kind || s.room != room {
		return nil, false
	}
	return s, true
}

func newLocalMedia(cfg rtc.Config) (*localMedia, error) {
	// The clients are on this machine (the API is on loopback), but a
	// native one (GStreamer's libnice, OBS's libjuice) gathers only the
	// machine's real addresses, which a loopback-only node cannot pair
	// with: the sessions offer both.
	cfg.IncludeLoopback = true
	cfg.ICE = &rtc.SessionICETimeouts
	// Nor do the sessions use STUN or TURN: a client on this machine is
	// reached by host candidates, and a session's answer waits for
	// gathering, which a slow or unreachable ice_servers entry would hold
	// up for seconds.
	cfg.ICEServers, cfg.ICEServersFor = nil, nil
	api, err := rtc.NewAPI(cfg)
	if err != nil {
		return nil, fmt.Errorf("local media: %w", err)
	}
	return &localMedia{api: api, work: group.New(context.Background()), sessions: map[string]*localSession{},
		levels: map[rooms.RoomID]map[string]float64{}, mixes: map[rooms.RoomID]*audio.Mixer{}}, nil
}

func (lm *localMedia) close() {
	lm.work.Stop()
	lm.mu.Lock()
	for id, s := range lm.sessions {
		_ = s.rtc.Close()
		delete(lm.sessions, id)
	}
	lm.mu.Unlock()
	lm.work.Wait()
}

func (lm *localMedia) add(s *localSession) string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	id := strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if s.kind == apiv1.WHIP {
		// One voice per node and room: a second speak replaces the first
		// rather than interleaving two streams under one speaker.
		for old, o := range lm.sessions {
			if o.room == s.room && o.kind == apiv1.WHIP {
				_ = o.rtc.Close()
				delete(lm.sessions, old)
			}
		}
	}
	lm.sessions[id] = s
	return id
}

func (lm *localMedia) end(id, kind string, room rooms.RoomID) bool {
	lm.mu.Lock()
	s, ok := lm.sessions[id]
	if ok && s.kind == kind && s.room == room {
		delete(lm.sessions, id)
	}
	lm.mu.Unlock()
	if !ok || s.kind != kind || s.room != room {
		return false
	}
	_ = s.rtc.Close()
	return true
}

// forget drops a session that ended by itself (the peer went away).
func (lm *localMedia) forget(id string) {
	lm.mu.Lock()
	delete(lm.sessions, id)
	lm.mu.Unlock()
}

func (lm *localMedia) setLevels(room rooms.RoomID, levels map[string]float64) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if levels == nil {
		delete(lm.levels, room)
		return
	}
	lm.levels[room] = levels
}

// setMix records mix as the one room's latest local listener hears, or
// forgets it (nil) if it still is.
func (lm *localMedia) setMix(room rooms.RoomID, mix, old *audio.Mixer) {
	lm.mu.Lock()
	defer lm.mu.Unlock()
	if mix != nil {
		lm.mixes[room] = mix
	} else if lm.mixes[room] == old {
		delete(lm.mixes, room)
	}
}

// ListenStats is what the jitter buffer of speaker did in the mix this
// node plays to its latest local listener of room: packets late, frames
// concealed, skipped and stretched, restarts. Each of them moves the
// speaker's timeline against the listener's.
func (n *Node) ListenStats(room, speaker string) (audio.Stats, bool) {
	if n.media == nil {
		return audio.Stats{}, false
	}
	n.media.mu.Lock()
	mix := n.media.mixes[rooms.RoomID(room)]
	n.media.mu.Unlock()
	if mix == nil {
		return audio.Stats{}, false
	}
	return mix.Stats(speaker)
}

// AudioLevels is how loud each speaker of room was in the last 20 ms this
// node played to a local listener (0 to 1): the UI's speaking rings.
func (n *Node) AudioLevels(room string) map[string]float64 {
	if n.media == nil {
		return nil
	}
	n.media.mu.Lock()
	defer n.media.mu.Unlock()
	return n.media.levels[rooms.RoomID(room)]
}

// mediaRoom resolves a room for WHIP/WHEP and the service it lives in.
func (n *Node) mediaRoom(id string) (*roomnet.Service, rooms.RoomID, error) {
	svc, err := n.roomService()
	if err != nil {
		return nil, "", err
	}
	if n.media == nil {
		return nil, "", fmt.Errorf("audio is %w on this node", ErrUnavailable)
	}
	room, err := rooms.ParseRoomID(id)
	if err != nil {
		return nil, "", invalid("%w", err)
	}
	return svc, room, nil
}

// Speak answers a WHIP offer: the client's audio becomes this node's voice
// in room. Only someone on stage may speak; a speaker who is muted is
// unmuted, as pressing the microphone button would.
func (n *Node) Speak(ctx context.Context, roomID, offer string) (answer, location string, err error) {
	svc, room, err := n.mediaRoom(roomID)
	if err != nil {
		return "", "", err
	}
	st, ok := svc.State(room)
	if !ok {
		return "", "", fmt.Errorf("you are %w %s: join it first", rooms.ErrNotInRoom, room)
	}
	if !st.OnStage(n.ID()) {
		return "", "", fmt.Errorf("%w: you are not on stage in room %s: raise your hand and wait for a moderator to invite you up", rooms.ErrNotAllowed, room)
	}
	if st.Muted(n.ID()) {
		if _, err := svc.Request(ctx, room, rooms.KindUnmuteSelf, "", nil); err != nil && !errors.Is(err, rooms.ErrNoChange) {
			return "", "", fmt.Errorf("unmute before speaking: %w", err)
		}
	}
	voice, err := svc.Voice(room)
	if err != nil {
		return "", "", err
	}
	sess, answer, err := rtc.AcceptWHIP(n.media.work.Context(), n.media.api, offer, func(pkt *rtp.Packet) {
		_ = voice.Write(pkt)
	})
	if err != nil {
		return "", "", invalid("WHIP offer: %w", err)
	}
	id := n.media.add(&localSession{room: room, kind: apiv1.WHIP, rtc: sess})
	release := func() {
		n.media.forget(id)
		_ = sess.Close()
	}
	if !n.media.work.Go(func(ctx context.Context) {
		defer release()
		select {
		case <-sess.Done():
		case <-voice.Done(): // the room's audio stopped here: so does the speaker
		case <-ctx.Done():
		}
	}) {
		release()
		return "", "", errMediaClosing
	}
	n.log.Info("speaking", "room", room, "session", id)
	return answer, apiv1.MediaPath(string(room), apiv1.WHIP) + "/" + id, nil
}

// Listen answers a WHEP offer with one track: every audible speaker but
// this node itself, each through its own jitter buffer, mixed and encoded
// again. One track is what every WHEP player expects. A node not yet in
// the room joins it as a listener. The jitter buffers hold 60 ms, for
// live listening; ListenWithDelay deepens them.
func (n *Node) Listen(ctx context.Context, roomID, offer string) (answer, location string, err error) {
	return n.ListenWithDelay(ctx, roomID, offer, 0)
}

// listenOffer is the WHEP endpoint: its optional ?delay= (a Go duration,
// up to 1s) is the depth of the mix's jitter buffers.
func (n *Node) listenOffer(r *http.Request, roomID, offer string) (string, string, error) {
	var delay time.Duration
	if q := r.URL.Query().Get("delay"); q != "" {
		d, err := time.ParseDuration(q)
		if err != nil || d <= 0 || d > apiv1.MaxListenDelay {
			return "", "", invalid("delay %q: want a duration above 0 and up to %s", q[:min(len(q), 40)], apiv1.MaxListenDelay)
		}
		delay = d
	}
	return n.ListenWithDelay(r.Context(), roomID, offer, delay)
}

// ListenWithDelay is Listen with the mix's jitter buffers delay deep (0:
// the 60 ms default). A recorder asks for a deep one: the node's mix is
// where the room's audio arrives in bursts after a stall anywhere
// upstream (the speaker's machine, a relay, this node), and a shallow
// buffer plays a stall as a gap and then drops the backlog's pauses to get
// its delay back, which shifts the speech in the recording against time.
func (n *Node) ListenWithDelay(ctx context.Context, roomID, offer string, delay time.Duration) (answer, location string, err error) {
	start := time.Now()
	svc, room, err := n.mediaRoom(roomID)
	if err != nil {
		return "", "", err
	}
	if st, ok := svc.State(room); !ok || !st.InRoom(n.ID()) {
		if _, err := svc.Request(ctx, room, rooms.KindJoin, "", nil); err != nil {
			return "", "", fmt.Errorf("join %s to listen: %w", room, err)
		}
	}
	mix := audio.NewMixer(audio.ReceiverConfig{Delay: delay})
	self := n.ID().String()
	firstAudio := n.firstAudio(start)
	remove, err := svc.Listen(room, func(speaker string, pkt *rtp.Packet) {
		if speaker != self {
			firstAudio()
			mix.Push(speaker, pkt, time.Now())
		}
	})
	if err != nil {
		return "", "", err
	}
	enc, err := audio.NewEncoder()
	if err != nil {
		remove()
		return "", "", err
	}
	sess, track, answer, err := rtc.AcceptWHEP(n.media.work.Context(), n.media.api, offer)
	if err != nil {
		remove()
		return "", "", invalid("WHEP offer: %w", err)
	}
	id := n.media.add(&localSession{room: room, kind: apiv1.WHEP, rtc: sess})
	n.media.setMix(room, mix, nil)
	release := func() {
		n.media.setMix(room, nil, mix)
		// The last frame's levels would otherwise keep a ring lit after
		// the listener has gone.
		n.media.setLevels(room, nil)
		_ = sess.Close()
		n.media.forget(id)
		remove()
	}
	if !n.media.work.Go(func(context.Context) {
		defer release()
		n.playMix(room, mix, enc, track, sess.Done())
	}) {
		release()
		return "", "", errMediaClosing
	}
	n.log.Info("listening", "room", room, "session", id)
	return answer, apiv1.MediaPath(string(room), apiv1.WHEP) + "/" + id, nil
}

// firstAudio returns what a local listener calls on every packet it gets:
// the first one records the time since start (join to first audio). The
// rest cost one atomic load.
func (n *Node) firstAudio(start time.Time) func() {
	if n.metrics == nil {
		return func() {}
	}
	var done atomic.Bool
	return func() {
		if !done.Load() && done.CompareAndSwap(false, true) {
			n.metrics.JoinToFirstAudio.Observe(time.Since(start).Seconds())
		}
	}
}

// playMix mixes and sends one frame every 20 ms until done; frames a busy
// machine held back are mixed and sent at once (audio.EveryFrame), so the
// listener's stream keeps the pace of the speakers'.
func (n *Node) playMix(room rooms.RoomID, mix *audio.Mixer, enc *audio.Encoder, track sampleWriter, done <-chan struct{}) {
	pcm := make([]int16, audio.FrameSamples)
	// It ends when the listener goes or the mix cannot be encoded (logged).
	_ = audio.EveryFrame(n.media.work.Context(), done, func(now time.Time) error {
		n.media.setLevels(room, mix.Next(now, pcm))
		pkt, err := enc.Encode(pcm)
		if err != nil {
			n.log.Warn("encode mix", "room", room, "err", err)
			return err
		}
		return track.WriteSample(media.Sample{Data: pkt, Duration: audio.FrameDuration})
	})
}

type sampleWriter interface {
	WriteSample(media.Sample) error
}

// PatchMedia applies a WHIP or WHEP client's trickle-ice-sdpfrag: more
// candidates (answer "") or an ICE restart (answer is this end's
// fragment, etag the new ICE session's). ifMatch, if set, must be "*" or
// the current ETag; RFC 9725 asks "*" of a restart.
func (n *Node) PatchMedia(ctx context.Context, roomID, kind, session, ifMatch, frag string) (answer, etag string, err error) {
	if n.media == nil {
		return "", "", fmt.Errorf("%s session %q in room %s: %w", kind, session, roomID, ErrNotFound)
	}
	s, ok := n.media.get(session, kind, rooms.RoomID(roomID))
	if !ok {
		return "", "", fmt.Errorf("%s session %q in room %s: %w", kind, session, roomID, ErrNotFound)
	}
	gen := s.generation.Load()
	if ifMatch != "" && ifMatch != "*" && ifMatch != mediaETag(session, gen) {
		return "", "", fmt.Errorf("%w: If-Match %s is not the session's ETag %s", ErrPrecondition, ifMatch, mediaETag(session, gen))
	}
	answer, restarted, err := s.rtc.Patch(ctx, frag)
	if err != nil {
		return "", "", invalid("%s PATCH: %w", kind, err)
	}
	if !restarted {
		return "", "", nil
	}
	gen = s.generation.Add(1)
	n.log.Info("ICE restart", "kind", kind, "room", roomID, "session", session)
	return answer, mediaETag(session, gen), nil
}

// EndMedia ends a WHIP or WHEP session (the DELETE of its Location).
func (n *Node) EndMedia(roomID, kind, session string) error {
	if n.media == nil || !n.media.end(session, kind, rooms.RoomID(roomID)) {
		return fmt.Errorf("%s session %q in room %s: %w", kind, session, roomID, ErrNotFound)
	}
	return nil
}
