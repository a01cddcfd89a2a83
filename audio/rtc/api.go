// Package rtc is the WebRTC plumbing of clubnode's media plane: one
// PeerConnection per tree link (parent offers, child answers, SDP carried on
// an already-authenticated stream), a Forwarder that fans a speaker's RTP out
// to every child link without decoding it, and WHIP/WHEP for local
// attachments. It knows nothing about codecs beyond Opus's RTP parameters.
package rtc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/pionlog"
)

// PayloadType is the RTP payload type Opus is negotiated with (the same
// value package audio uses; repeated here so rtc does not import codecs).
const PayloadType = 111

// opusCodec is the only codec clubnode's media plane negotiates. The rtpmap
// says two channels as RFC 7587 requires even though the audio is mono.
// NACK feedback is declared on the codec because pion's ConfigureNack only
// declares it for video, and the NACK interceptors act only on streams whose
// codec lists it.
var opusCodec = webrtc.RTPCodecCapability{
	MimeType:     webrtc.MimeTypeOpus,
	ClockRate:    48000,
	Channels:     2,
	SDPFmtpLine:  "minptime=10;useinbandfec=1",
	RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}},
}

// ICE timing. A connected link whose packets stop is disconnected after
// iceDisconnectedTimeout, which the link takes for lost (so the tree can
// re-parent the child). While checks run, pion declares failure only after
// the disconnected and failed timeouts together: across NATs the first
// pairs often fail and a relayed pair needs a TURN allocation first, so
// checks get 8 s (a link with both timeouts at a second failed after 2 s).
//
// ICE is what notices a media path that died while the signaling stream
// lives (a TURN server gone, UDP blocked): no packet for two seconds. A
// dead peer the link's heartbeats and the child's watch on the RTP flow
// notice sooner. So its keepalives come once a second (each end then
// hears about two packets a second, four before it counts the path
// down), which also keeps NAT bindings and consent fresh. At 250 ms (four
// binding requests and four answers a second each way, and pion's task
// loop woken as often) they were a fifth of a silent-room member's CPU
// (BENCHMARKS.md, "where a member's CPU goes").
const (
	iceDisconnectedTimeout = 2 * time.Second
	iceFailedTimeout       = 6 * time.Second
	iceKeepalive           = time.Second
)

// How long the controlling end (the parent) lets checks run before it
// nominates a pair of each kind: pion nominates the best pair that has
// succeeded once its kind's wait is over, and never changes it. Pion's
// waits (0.5 s reflexive, 1 s peer-reflexive, 2 s relayed) were the
// steady 1-2 s from room join to link-up in the NAT lab. A better pair
// than a reflexive one is host-to-host on one LAN, answered in the same
// round of checks (pion sends one every 200 ms); a better pair than a
// relayed one is a punched hole, which opens on the second round at
// the latest, when both NATs have seen the other end's checks go out.
const (
	reflexiveAcceptanceWait = 200 * time.Millisecond
	relayAcceptanceWait     = 600 * time.Millisecond
)

// ICETimeouts are pion's ICE timers: how long without a packet before the
// connection counts as disconnected, how long after that before it has
// failed, and how often to send keepalives.
type ICETimeouts struct {
	Disconnected, Failed, Keepalive time.Duration
}

// SessionICETimeouts suit WHIP and WHEP clients: another program, maybe
// on another machine, that gathers its candidates at its own pace and
// whose network may hiccup; a browser waits about as long.
var SessionICETimeouts = ICETimeouts{Disconnected: 5 * time.Second, Failed: 25 * time.Second, Keepalive: 2 * time.Second}

// Config configures NewAPI.
type Config struct {
	// Logger receives rtc's logs and pion's; nil uses slog.Default().
	Logger *slog.Logger
	// LoopbackOnly gathers only 127.0.0.1 UDP host candidates: for tests and
	// for local attachments (the browser or CLI on the same machine).
	LoopbackOnly bool
	// IncludeLoopback adds 127.0.0.1 and ::1 host candidates to the
	// others, so clients on this machine reach the node either way.
	IncludeLoopback bool
	// ICEServers are STUN/TURN servers for links that cross NATs.
	ICEServers []webrtc.ICEServer
	// ICEServersFor, if set, adds servers for a tree link to the peer
	// (its LinkLabel.Peer), given the link's proof (ParentOptions.Proof,
	// ChildOptions.Proof): the short-lived TURN credentials an always-on
	// node issues for that link. servers are the always-on nodes to ask
	// (ParentOptions.TURNServers, ChildOptions'), nil for the ones it is
	// connected to. It must return within ctx.
	ICEServersFor func(ctx context.Context, peer string, proof []byte, servers []string) []webrtc.ICEServer
	// RemoteIPs, if set, keeps only the remote candidates and the ICE
	// server URLs whose IP address it accepts; URLs naming a host are
	// dropped. Tests set it (internal/dialrange) so that a TURN URL or a
	// candidate naming a documentation-range address that exists nowhere
	// is never sent through the machine's default route.
	RemoteIPs func(net.IP) bool
	// ICE, if set, replaces the tree links' ICE timeouts (about a second
	// to notice a dead peer), e.g. with SessionICETimeouts.
	ICE *ICETimeouts
	// Setting, if set, is called last on the SettingEngine (tests use it
	// for pion's virtual network).
	Setting func(*webrtc.SettingEngine)
	// Interceptors, if set, registers extra interceptors. They are added
	// before NACK and RTCP reports, so they sit nearest the network: a loss
	// injector there drops packets after the NACK responder has stored them,
	// as a real lossy link would.
	Interceptors func(*interceptor.Registry) error
}

// API makes PeerConnections configured for clubnode's media plane.
type API struct {
	log        *slog.Logger
	api        *webrtc.API // WHIP and WHEP sessions'
	linkAPI    *webrtc.API // tree links' (closed by the link, not by DTLS)
	iceServers []webrtc.ICEServer
	serversFor func(ctx context.Context, peer string, proof []byte, servers []string) []webrtc.ICEServer
	remoteIPs  func(net.IP) bool
	links      *linkSet // live tree links, for LinkStats
}

// NewAPI registers Opus, NACK (the media plane's own generator and
// responder) and RTCP sender and receiver reports, and sets short ICE timeouts.
func NewAPI(cfg Config) (*API, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "rtc")

	media := &webrtc.MediaEngine{}
	if err := media.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: opusCodec,
		PayloadType:        PayloadType,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, fmt.Errorf("register opus: %w", err)
	}

	registry := &interceptor.Registry{}
	if cfg.Interceptors != nil {
		if err := cfg.Interceptors(registry); err != nil {
			return nil, fmt.Errorf("extra interceptors: %w", err)
		}
	}
	// Stats sit below NACK and RTCP reports, so they see the reports
	// those send (RTT needs the sender reports) and every packet on the
	// wire; any extra interceptor stays nearest the network.
	links := &linkSet{links: map[*link]struct{}{}}
	statsFactory, err := stats.NewInterceptor(stats.WithLoggerFactory(pionlog.Factory(log)))
	if err != nil {
		return nil, fmt.Errorf("stats interceptor: %w", err)
	}
	statsFactory.OnNewPeerConnection(func(_ string, g stats.Getter) { links.pending = g })
	registry.Add(statsFactory)
	// NACK generator and responder are the media plane's own (nackgen.go,
	// nack.go). Opus declares NACK feedback itself (opusCodec), so nothing
	// is registered on the media engine.
	registry.Add(newNACKGenerator())
	registry.Add(newNACKResponder())
	if err := reportsUntilMedia(registry); err != nil { // reports.go
		return nil, fmt.Errorf("configure rtcp reports: %w", err)
	}

	settings := webrtc.SettingEngine{LoggerFactory: pionlog.Factory(log)}
	settings.SetICETimeouts(iceDisconnectedTimeout, iceFailedTimeout, iceKeepalive)
	settings.SetSrflxAcceptanceMinWait(reflexiveAcceptanceWait)
	settings.SetPrflxAcceptanceMinWait(reflexiveAcceptanceWait)
	settings.SetRelayAcceptanceMinWait(relayAcceptanceWait)
	if t := cfg.ICE; t != nil {
		settings.SetICETimeouts(t.Disconnected, t.Failed, t.Keepalive)
	}
	setCandidates(&settings, cfg)
	if cfg.Setting != nil {
		cfg.Setting(&settings)
	}

	// pion closes a PeerConnection by itself when the peer's DTLS says
	// close_notify, and that close writes the field GetStats reads with
	// no lock (webrtc v4.2.26): a tree link's path asked for (LinkPaths)
	// as its peer hung up was a data race. A tree link ends on its own
	// when the peer goes (its stream closes, or heartbeats and ICE stop)
	// and closes its PeerConnection itself, under statsMu (link.close).
	// A WHIP session has no stream of its own and is asked no paths: its
	// PeerConnection still closes with the client's DTLS.
	linkSettings := settings
	linkSettings.DisableCloseByDTLS(true)
	return &API{
		log: log,
		api: webrtc.NewAPI(
			webrtc.WithMediaEngine(media),
			webrtc.WithInterceptorRegistry(registry),
			webrtc.WithSettingEngine(settings),
		),
		linkAPI: webrtc.NewAPI(
			webrtc.WithMediaEngine(media),
			webrtc.WithInterceptorRegistry(registry),
			webrtc.WithSettingEngine(linkSettings),
		),
		iceServers: keepServers(cfg.ICEServers, cfg.RemoteIPs),
		serversFor: cfg.ICEServersFor,
		remoteIPs:  cfg.RemoteIPs,
		links:      links,
	}, nil
}

// setCandidates sets which candidates are gathered and which remote ones
// are taken, as cfg says.
func setCandidates(settings *webrtc.SettingEngine, cfg Config) {
	// Nodes reach each other by real addresses, and a local browser's mDNS
	// candidates are learnt as peer-reflexive from its checks, so the
	// multicast listener each PeerConnection would otherwise open buys
	// nothing.
	settings.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if cfg.IncludeLoopback {
		settings.SetIncludeLoopbackCandidate(true)
	}
	// Link-local addresses (fe80::/10, 169.254/16) are left out, as
	// browsers leave them out: they reach no further than the link, where
	// the node has other addresses. pion gathers them but keeps them out
	// of the SDP, and checks from them all the same: a peer on this
	// machine or LAN learns such an address as peer reflexive, may
	// nominate that pair, and the link looks hole-punched though nothing
	// is between the ends. Each also costs a socket and checks per link.
	settings.SetIPFilter(func(ip net.IP) bool { return !ip.IsLinkLocalUnicast() })
	if cfg.LoopbackOnly {
		settings.SetIncludeLoopbackCandidate(true)
		settings.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
		loopback := net.IPv4(127, 0, 0, 1)
		settings.SetIPFilter(func(ip net.IP) bool { return ip.Equal(loopback) })
	}
	if cfg.RemoteIPs != nil {
		settings.SetRemoteIPFilter(cfg.RemoteIPs)
	}
}

// WebRTC returns the underlying pion API, for callers that need a
// PeerConnection shape rtc does not offer.
func (a *API) WebRTC() *webrtc.API { return a.api }

// linkICEServers are the ICE servers of a tree link to peer.
func (a *API) linkICEServers(ctx context.Context, peer string, ask turnAsk) []webrtc.ICEServer {
	if a.serversFor == nil || peer == "" {
		return a.iceServers
	}
	return append(slices.Clone(a.iceServers), keepServers(a.serversFor(ctx, peer, ask.proof, ask.servers), a.remoteIPs)...)
}

// keepServers are the servers with only the URLs whose IP address keep
// accepts (all of them when keep is nil); a server left with no URL is
// dropped.
func keepServers(servers []webrtc.ICEServer, keep func(net.IP) bool) []webrtc.ICEServer {
	if keep == nil {
		return servers
	}
	var out []webrtc.ICEServer
	for _, s := range servers {
		s.URLs = slices.DeleteFunc(slices.Clone(s.URLs), func(u string) bool {
			ip := urlIP(u)
			return ip == nil || !keep(ip)
		})
		if len(s.URLs) > 0 {
			out = append(out, s)
		}
	}
	return out
}

// urlIP is the IP address of a STUN or TURN URL ("turn:IP:port?..."), or
// nil when it names a host.
func urlIP(u string) net.IP {
	_, rest, ok := strings.Cut(u, ":")
	if !ok {
		return nil
	}
	rest, _, _ = strings.Cut(rest, "?")
	if host, _, err := net.SplitHostPort(rest); err == nil {
		rest = host
	}
	return net.ParseIP(strings.Trim(rest, "[]"))
}

func (a *API) newPeerConnection(servers []webrtc.ICEServer, treeLink bool) (*webrtc.PeerConnection, error) {
	api := a.api
	if treeLink {
		api = a.linkAPI
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	return pc, nil
}

// ErrBadSpeakerID marks a speaker ID that cannot name a track.
var ErrBadSpeakerID = errors.New("bad speaker id")

// maxSpeakerIDLen is the msid limit of RFC 8830 (1*64 token-char); a
// libp2p peer ID in base58 is 46-52 characters.
const maxSpeakerIDLen = 64

// CheckSpeakerID reports whether id can be a track ID: 1-64 characters of
// letters, digits, '.', '_' or '-', so it survives an SDP msid line intact.
func CheckSpeakerID(id string) error {
	if id == "" || len(id) > maxSpeakerIDLen {
		return fmt.Errorf("%w: length %d, want 1-%d", ErrBadSpeakerID, len(id), maxSpeakerIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: byte %#x at %d", ErrBadSpeakerID, c, i)
		}
	}
	return nil
}
