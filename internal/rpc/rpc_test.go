package rpc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"go.uber.org/goleak"

	"github.com/clubnode/clubnode/internal/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
	)
}

var (
	errBanned  = errors.New("banned from this room")
	errUnknown = errors.New("unknown room")
	testCodes  = Codes{{"banned", errBanned}, {"unknown-room", errUnknown}}
)

type echoReq struct {
	Text string `cbor:"0,keyasint"`
	Pad  []byte `cbor:"1,keyasint,omitempty"`
}

type echoResp struct {
	Text string `cbor:"0,keyasint"`
}

func echoProto() *Protocol[echoReq, echoResp] {
	return &Protocol[echoReq, echoResp]{ID: "/clubnode-test/echo/1", MaxRequest: 1 << 10, MaxReply: 1 << 10,
		Timeout: 5 * time.Second, Codes: testCodes}
}

// pair makes two connected hosts on loopback.
func pair(t *testing.T) (a, b host.Host) {
	t.Helper()
	mk := func() host.Host {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = h.Close() })
		return h
	}
	a, b = mk(), mk()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Addrs()}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func serverCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

func TestCallAndAnswer(t *testing.T) {
	a, b := pair(t)
	p := echoProto()
	p.Handle(serverCtx(t), b, func(_ context.Context, from peer.ID, req echoReq) (echoResp, error) {
		if from != a.ID() {
			t.Errorf("handler saw peer %s, want %s", from, a.ID())
		}
		switch req.Text {
		case "ban me":
			return echoResp{}, errBanned
		case "odd":
			return echoResp{}, errors.New("something\nelse \u202eentirely")
		}
		return echoResp{Text: "echo " + req.Text}, nil
	})
	ctx := context.Background()
	got, err := p.Call(ctx, a, b.ID(), echoReq{Text: "hi"})
	if err != nil || got.Text != "echo hi" {
		t.Fatalf("Call = %+v, %v", got, err)
	}

	_, err = p.Call(ctx, a, b.ID(), echoReq{Text: "ban me"})
	if !errors.Is(err, errBanned) || !errors.Is(err, ErrRefused) || errors.Is(err, errUnknown) {
		t.Fatalf("a refusal for a known reason = %v; want errBanned and ErrRefused", err)
	}
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != "banned" || re.Peer != b.ID() {
		t.Fatalf("RemoteError = %+v", re)
	}

	_, err = p.Call(ctx, a, b.ID(), echoReq{Text: "odd"})
	if !errors.Is(err, ErrRefused) || errors.Is(err, errBanned) {
		t.Fatalf("a refusal without code = %v", err)
	}
	if strings.ContainsAny(err.Error(), "\n\u202e") {
		t.Fatalf("refusal text not cleaned: %q", err)
	}
}

func TestLimitsAndTimeouts(t *testing.T) {
	a, b := pair(t)
	p := echoProto()
	p.Timeout = 300 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	arrived := make(chan struct{}, 4)
	p.Handle(serverCtx(t), b, func(ctx context.Context, _ peer.ID, req echoReq) (echoResp, error) {
		if req.Text == "slow" {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return echoResp{}, ctx.Err()
		}
		if req.Text == "big" {
			return echoResp{Text: strings.Repeat("x", 2<<10)}, nil
		}
		return echoResp{Text: req.Text}, nil
	})
	ctx := context.Background()

	if _, err := p.Call(ctx, a, b.ID(), echoReq{Text: "x", Pad: make([]byte, 2<<10)}); !errors.Is(err, ErrNoReply) {
		t.Fatalf("oversized request: %v, want ErrNoReply (the handler resets it)", err)
	}
	if _, err := p.Call(ctx, a, b.ID(), echoReq{Text: "big"}); !errors.Is(err, ErrNoReply) || !errors.Is(err, wire.ErrTooLarge) {
		t.Fatalf("oversized reply: %v, want ErrNoReply wrapping ErrTooLarge", err)
	}
	start := time.Now()
	if _, err := p.Call(ctx, a, b.ID(), echoReq{Text: "slow"}); err == nil {
		t.Fatal("a call past its timeout succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("a call with a 300 ms timeout took %s", d)
	}

	<-arrived
	cctx, cancel := context.WithCancel(ctx)
	go func() { <-arrived; cancel() }() // the caller gives up once the peer is busy with it
	p.Timeout = time.Minute
	if _, err := p.Call(cctx, a, b.ID(), echoReq{Text: "slow"}); !errors.Is(err, ErrNoReply) {
		t.Fatalf("cancelled call: %v", err)
	}

	other := &Protocol[echoReq, echoResp]{ID: "/clubnode-test/none/1", MaxRequest: 64, MaxReply: 64}
	if _, err := other.Call(ctx, a, b.ID(), echoReq{}); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("protocol the peer does not speak: %v, want ErrUnreachable", err)
	}
}

func TestSession(t *testing.T) {
	a, b := pair(t)
	p := echoProto()
	p.HandleSession(serverCtx(t), b, func(_ context.Context, _ peer.ID, req echoReq) (echoResp, func(context.Context, network.Stream), error) {
		if req.Text == "no" {
			return echoResp{}, nil, errUnknown
		}
		return echoResp{Text: "ok"}, func(_ context.Context, s network.Stream) {
			_ = wire.WriteFrame(s, echoResp{Text: "after the reply"})
		}, nil
	})
	ctx := context.Background()
	if _, s, err := p.Open(ctx, a, b.ID(), echoReq{Text: "no"}); !errors.Is(err, errUnknown) || s != nil {
		t.Fatalf("refused session: %v, stream %v", err, s)
	}
	resp, s, err := p.Open(ctx, a, b.ID(), echoReq{Text: "go"})
	if err != nil || resp.Text != "ok" {
		t.Fatalf("Open = %+v, %v", resp, err)
	}
	defer s.Close()
	var next echoResp
	if err := wire.NewReader(s, 1<<10).ReadFrame(&next); err != nil || next.Text != "after the reply" {
		t.Fatalf("frame after the reply: %+v, %v", next, err)
	}
}

// A peer that speaks only an older version is answered on it; two peers
// that speak the newest agree on that. The stream says which.
func TestOlderVersions(t *testing.T) {
	a, b := pair(t)
	p := echoProto()
	p.ID, p.Older = "/clubnode-test/echo/2", []protocol.ID{"/clubnode-test/echo/1"}
	p.HandleSession(serverCtx(t), b, func(_ context.Context, _ peer.ID, _ echoReq) (echoResp, func(context.Context, network.Stream), error) {
		return echoResp{Text: "ok"}, func(_ context.Context, s network.Stream) {
			_ = wire.WriteFrame(s, echoResp{Text: string(s.Protocol())})
		}, nil
	})
	old := echoProto()
	for _, c := range []struct {
		p    *Protocol[echoReq, echoResp]
		want protocol.ID
	}{{p, p.ID}, {old, old.ID}} {
		_, s, err := c.p.Open(context.Background(), a, b.ID(), echoReq{Text: "go"})
		if err != nil {
			t.Fatal(err)
		}
		var server echoResp
		err = wire.NewReader(s, 1<<10).ReadFrame(&server)
		_ = s.Close()
		if s.Protocol() != c.want || err != nil || server.Text != string(c.want) {
			t.Fatalf("agreed on %s (server: %q, %v), want %s", s.Protocol(), server.Text, err, c.want)
		}
	}
	p.Remove(b)
	// (Whether it fails at the stream or at the reply depends on what
	// the peerstore still says b supports.)
	if _, err := old.Call(context.Background(), a, b.ID(), echoReq{Text: "go"}); !errors.Is(err, ErrUnreachable) && !errors.Is(err, ErrNoReply) {
		t.Fatalf("older version after Remove: %v, want no answer", err)
	}
}

func TestClean(t *testing.T) {
	long := strings.Repeat("é", 400)
	got := Clean(long)
	if len(got) > maxMessage+len("…") || !strings.HasSuffix(got, "…") || !bytes.Equal([]byte(got), []byte(strings.ToValidUTF8(got, "?"))) {
		t.Fatalf("clean of a long message: %d bytes, valid=%v", len(got), got == strings.ToValidUTF8(got, "?"))
	}
	if got := Clean("a\tb\x00c\u2066d"); got != "a b c d" {
		t.Fatalf("clean = %q", got)
	}
}

// FuzzReplyFrame feeds arbitrary bytes to the reply decoder the caller
// uses: it must never panic, and a frame it accepts is consistent.
func FuzzReplyFrame(f *testing.F) {
	ok, _ := wire.Marshal(replyFrame[echoResp]{V: 1, Body: &echoResp{Text: "x"}})
	refused, _ := wire.Marshal(replyFrame[echoResp]{V: 1, Code: "banned", Error: "no"})
	f.Add(ok)
	f.Add(refused)
	f.Add([]byte{0xa0})
	p := echoProto()
	f.Fuzz(func(t *testing.T, data []byte) {
		var r replyFrame[echoResp]
		if err := wire.Unmarshal(data, &r); err != nil {
			return
		}
		if err := p.checkReply(&r); err != nil {
			return
		}
		if (r.Body == nil) == (r.Code == "" && r.Error == "") {
			t.Fatalf("accepted an inconsistent reply %+v", r)
		}
		if r.Body == nil {
			_ = p.Codes.remote("", r.Code, r.Error).Error()
		}
	})
}
