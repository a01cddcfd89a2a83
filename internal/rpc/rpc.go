// Package rpc is clubnode's one request/reply exchange over libp2p streams.
//
// A Protocol names a libp2p protocol, the message types of its request and
// its reply, their size limits and the time the exchange may take. Call
// opens a stream, writes one framed request and reads one framed reply;
// Handle answers such requests. Both sides set a deadline, refuse frames over
// the limits, and reset the stream on any failure, so no protocol file has to
// decide those again.
//
// A refusal crosses the network as a code and a message. The Codes of a
// protocol map the code back to the sentinel error it stands for, so that
// errors.Is(err, rooms.ErrBanned) holds on the caller's side when the host
// refused for that reason. Every refusal also wraps ErrRefused; a call that
// never got an answer wraps ErrUnreachable or ErrNoReply instead.
//
// Long-lived exchanges (a media link that goes on with WebRTC signalling on
// the same stream) use Open and HandleSession: the same first request and
// reply, after which the stream belongs to the caller.
package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"

	"github.com/clubnode/clubnode/internal/wire"
)

// Errors of a call that got no answer, and of a refusal.
var (
	// ErrUnreachable: no stream could be opened to the peer (not
	// connected and not dialable, or it does not speak the protocol).
	ErrUnreachable = errors.New("peer unreachable")
	// ErrNoReply: the stream opened but the exchange broke off or timed
	// out before a reply, or the reply could not be read.
	ErrNoReply = errors.New("no reply from the peer")
	// ErrRefused: the peer answered with a refusal.
	ErrRefused = errors.New("refused by the peer")
)

// frameVersion is the version of the request and reply frames themselves;
// what a protocol's messages mean is versioned by its protocol ID.
const frameVersion = 1

// maxMessage bounds the text of a refusal that is sent and kept.
const maxMessage = 512

// defaultTimeout is used when a Protocol sets none.
const defaultTimeout = 10 * time.Second

type requestFrame[Req any] struct {
	V    int `cbor:"0,keyasint"`
	Body Req `cbor:"1,keyasint"`
}

type replyFrame[Resp any] struct {
	V     int    `cbor:"0,keyasint"`
	Body  *Resp  `cbor:"1,keyasint,omitempty"`
	Code  string `cbor:"2,keyasint,omitempty"`
	Error string `cbor:"3,keyasint,omitempty"`
}

// Protocol describes one request/reply protocol. The zero limits are not
// usable: every protocol states how large its messages may be.
type Protocol[Req, Resp any] struct {
	ID protocol.ID
	// Older are earlier versions of the protocol with the same request
	// and reply, which this end still speaks: Open and Call offer ID
	// first and then these, Handle answers all of them, and the
	// stream's Protocol() says which one the peers agreed on.
	Older []protocol.ID
	// Adapt, if set, makes the request fit the version the peers agreed
	// on before it is sent (strip fields an older version does not know:
	// its strict decoding refuses unknown fields).
	Adapt func(version protocol.ID, req Req) Req
	// MaxRequest and MaxReply bound the frames, in bytes.
	MaxRequest, MaxReply int
	// Timeout bounds the whole exchange (0: 10 s). A session's stream has
	// no deadline once the first reply is through.
	Timeout time.Duration
	// Codes translates refusals (nil: only ErrRefused is recognised).
	Codes Codes
	// Limited lets the exchange run over a limited (relayed) connection,
	// for what must work before a direct connection exists.
	Limited bool
}

// ids are the protocol's versions, newest first.
func (p *Protocol[Req, Resp]) ids() []protocol.ID {
	return append([]protocol.ID{p.ID}, p.Older...)
}

func (p *Protocol[Req, Resp]) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return defaultTimeout
}

// Call sends req to peer and returns its reply.
func (p *Protocol[Req, Resp]) Call(ctx context.Context, h host.Host, to peer.ID, req Req) (Resp, error) {
	resp, s, err := p.exchange(ctx, h, to, req)
	if s != nil {
		_ = s.Close()
	}
	return resp, err
}

// Open sends req to peer and returns its reply and the stream, which the
// caller then owns and must close. On error there is no stream.
func (p *Protocol[Req, Resp]) Open(ctx context.Context, h host.Host, to peer.ID, req Req) (Resp, network.Stream, error) {
	resp, s, err := p.exchange(ctx, h, to, req)
	if err != nil {
		if s != nil {
			_ = s.Close()
		}
		return resp, nil, err
	}
	_ = s.SetDeadline(time.Time{})
	return resp, s, nil
}

func (p *Protocol[Req, Resp]) exchange(ctx context.Context, h host.Host, to peer.ID, req Req) (Resp, network.Stream, error) {
	var zero Resp
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	if p.Limited {
		ctx = network.WithAllowLimitedConn(ctx, string(p.ID))
	}
	s, err := h.NewStream(ctx, to, p.ids()...)
	if err != nil {
		return zero, nil, fmt.Errorf("%s to %s: %w: %w", p.ID, to, ErrUnreachable, err)
	}
	// A cancelled caller must not stay blocked in a read.
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = s.SetDeadline(dl)
	}
	if p.Adapt != nil {
		req = p.Adapt(s.Protocol(), req)
	}
	if err := wire.WriteFrame(s, requestFrame[Req]{V: frameVersion, Body: req}); err != nil {
		_ = s.Reset()
		return zero, nil, fmt.Errorf("%s to %s: %w: %w", p.ID, to, ErrNoReply, err)
	}
	var reply replyFrame[Resp]
	if err := wire.NewReader(s, p.MaxReply).ReadFrame(&reply); err != nil {
		_ = s.Reset()
		return zero, nil, fmt.Errorf("%s to %s: %w: %w", p.ID, to, ErrNoReply, err)
	}
	if !stop() {
		// The context ended while the reply arrived: the stream is reset.
		return zero, nil, fmt.Errorf("%s to %s: %w: %w", p.ID, to, ErrNoReply, ctx.Err())
	}
	if err := p.checkReply(&reply); err != nil {
		_ = s.Reset()
		return zero, nil, fmt.Errorf("%s to %s: %w", p.ID, to, err)
	}
	if reply.Code != "" || reply.Error != "" {
		_ = s.Close()
		return zero, nil, p.Codes.remote(to, reply.Code, reply.Error)
	}
	return *reply.Body, s, nil
}

func (p *Protocol[Req, Resp]) checkReply(r *replyFrame[Resp]) error {
	switch {
	case r.V != frameVersion:
		return fmt.Errorf("%w: reply frame version %d", ErrNoReply, r.V)
	case r.Body == nil && r.Code == "" && r.Error == "":
		return fmt.Errorf("%w: %w: a reply with neither body nor refusal", ErrNoReply, wire.ErrMalformed)
	case r.Body != nil && (r.Code != "" || r.Error != ""):
		return fmt.Errorf("%w: %w: a reply with both body and refusal", ErrNoReply, wire.ErrMalformed)
	}
	return nil
}

// Handler answers one request from a peer; an error is sent back as a
// refusal (its code from the protocol's Codes).
type Handler[Req, Resp any] func(ctx context.Context, from peer.ID, req Req) (Resp, error)

// SessionHandler is a Handler that may keep the stream: a non-nil then
// runs with the stream once the reply is written, and the stream closes
// when it returns. ctx ends with the host's handler or the stream.
type SessionHandler[Req, Resp any] func(ctx context.Context, from peer.ID, req Req) (Resp, func(ctx context.Context, s network.Stream), error)

// Handle registers fn for the protocol on h. ctx bounds every exchange:
// when it ends, requests in flight are cut off.
func (p *Protocol[Req, Resp]) Handle(ctx context.Context, h host.Host, fn Handler[Req, Resp]) {
	p.HandleSession(ctx, h, func(ctx context.Context, from peer.ID, req Req) (Resp, func(context.Context, network.Stream), error) {
		resp, err := fn(ctx, from, req)
		return resp, nil, err
	})
}

// HandleSession registers fn for the protocol on h.
func (p *Protocol[Req, Resp]) HandleSession(ctx context.Context, h host.Host, fn SessionHandler[Req, Resp]) {
	for _, id := range p.ids() {
		h.SetStreamHandler(id, func(s network.Stream) { p.serve(ctx, s, fn) })
	}
}

// Remove unregisters the protocol (every version) from h.
func (p *Protocol[Req, Resp]) Remove(h host.Host) {
	for _, id := range p.ids() {
		h.RemoveStreamHandler(id)
	}
}

func (p *Protocol[Req, Resp]) serve(parent context.Context, s network.Stream, fn SessionHandler[Req, Resp]) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	defer stop()
	_ = s.SetDeadline(time.Now().Add(p.timeout()))
	var req requestFrame[Req]
	if err := wire.NewReader(s, p.MaxRequest).ReadFrame(&req); err != nil || req.V != frameVersion {
		_ = s.Reset()
		return
	}
	reqCtx, reqCancel := context.WithTimeout(context.WithValue(ctx, streamKey{}, s), p.timeout())
	resp, session, err := fn(reqCtx, s.Conn().RemotePeer(), req.Body)
	reqCancel()
	reply := replyFrame[Resp]{V: frameVersion}
	if err != nil {
		reply.Code, reply.Error = p.Codes.code(err), Clean(err.Error())
		session = nil
	} else {
		reply.Body = &resp
	}
	if err := wire.WriteFrame(s, reply); err != nil {
		_ = s.Reset()
		return
	}
	if session == nil {
		_ = s.Close()
		return
	}
	_ = s.SetDeadline(time.Time{})
	session(ctx, s)
	_ = s.Close()
}

type streamKey struct{}

// Conn is the connection a handler's request came on (nil outside a
// handler): a protocol that cares which one (hello, on a peer's second
// connection) asks it.
func Conn(ctx context.Context) network.Conn {
	if s, ok := ctx.Value(streamKey{}).(network.Stream); ok {
		return s.Conn()
	}
	return nil
}

// Clean makes a refusal's text safe to show: printable, one line, bounded.
func Clean(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return ' '
		}
		return r
	}, msg)
	if len(msg) > maxMessage {
		cut := maxMessage
		for cut > 0 && !utf8Start(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
