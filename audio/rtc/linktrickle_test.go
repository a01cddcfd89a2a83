package rtc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/clubnode/clubnode/internal/wire"
)

// teeConn records what one end of a link writes on its stream.
type teeConn struct {
	net.Conn
	mu  sync.Mutex
	out bytes.Buffer
}

func (c *teeConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.out.Write(b)
	c.mu.Unlock()
	return c.Conn.Write(b)
}

// kinds counts the frames of each kind written so far.
func (c *teeConn) kinds(t *testing.T) map[signalKind]int {
	t.Helper()
	c.mu.Lock()
	data := bytes.Clone(c.out.Bytes())
	c.mu.Unlock()
	n := map[signalKind]int{}
	r := wire.NewReader(bytes.NewReader(data), maxSignalFrame)
	for {
		m, err := readSignal(r)
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatalf("a frame the link wrote does not decode: %v", err)
		}
		n[m.Kind]++
	}
}

// connectTee is connect with both ends' writes recorded.
func connectTee(t *testing.T, parentAPI *API, parentF *Forwarder, childAPI *API, childF *Forwarder,
	co ChildOptions, po ParentOptions) (l *runningLink, parentOut, childOut *teeConn) {
	t.Helper()
	a, b := net.Pipe()
	parentOut, childOut = &teeConn{Conn: a}, &teeConn{Conn: b}
	ctx, cancel := context.WithCancel(context.Background())
	l = &runningLink{cancel: cancel, parentDone: make(chan struct{}), childDone: make(chan struct{})}
	co.Timeout, po.Timeout = patientTimeout, patientTimeout
	go func() {
		defer close(l.parentDone)
		l.parentErr = ServeChild(ctx, parentAPI, parentOut, parentF, co)
	}()
	go func() {
		defer close(l.childDone)
		l.childErr = DialParent(ctx, childAPI, childOut, childF, po)
	}()
	t.Cleanup(l.stop)
	return l, parentOut, childOut
}

// Both ends trickle: audio flows, and candidates crossed the stream in
// frames of their own.
func TestTrickledLinkCarriesAudio(t *testing.T) {
	api := newTestAPI(t, Config{})
	root, leaf := newTestForwarder(t, "alice"), newTestForwarder(t, "alice")
	l, parentOut, childOut := connectTee(t, api, root, api, leaf, ChildOptions{Trickle: true}, ParentOptions{Trickle: true})
	got := newCollector()
	defer leaf.AddSink(got.sink)()
	warmUp(t, got, root.Write, &source{speaker: "alice", ssrc: 1})
	l.up(t)
	for end, c := range map[string]*teeConn{"parent": parentOut, "child": childOut} {
		if n := c.kinds(t)[kindCandidate]; n == 0 {
			t.Errorf("the %s trickled no candidate", end)
		}
	}
}

// blackhole is a UDP socket on loopback that reads and never answers: a
// STUN or TURN server that is down or far away.
func blackhole(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	go func() { // ends when the socket closes
		buf := make([]byte, 1500)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().String()
}

// With a STUN and a TURN server that never answer, gathering goes on for
// seconds; a trickling link connects on its host candidates meanwhile.
// Without trickle the offer would wait for the gathering to end.
func TestUnansweringICEServersDoNotDelayTrickledLink(t *testing.T) {
	servers := []webrtc.ICEServer{
		{URLs: []string{"stun:" + blackhole(t)}},
		{URLs: []string{"turn:" + blackhole(t) + "?transport=udp"}, Username: "u", Credential: "p"},
	}
	api := newTestAPI(t, Config{ICEServers: servers})
	root, leaf := newTestForwarder(t, "alice"), newTestForwarder(t, "alice")
	l := connect(t, api, root, api, leaf, ChildOptions{Trickle: true}, ParentOptions{Trickle: true})
	got := newCollector()
	defer leaf.AddSink(got.sink)()
	warmUp(t, got, root.Write, &source{speaker: "alice", ssrc: 1})
	l.up(t)
	links := api.links.live()
	if len(links) != 2 {
		t.Fatalf("%d live links, want both ends", len(links))
	}
	for _, end := range links {
		if s := end.pc.ICEGatheringState(); s == webrtc.ICEGatheringStateComplete {
			t.Errorf("the %s end had finished gathering before audio flowed: the servers answered after all?", end.role)
		}
	}
}

// A peer that trickles where the link does not, or before its
// description, ends the link as a protocol violation.
func TestBadTrickleEndsLink(t *testing.T) {
	api := newTestAPI(t, Config{})
	f := newTestForwarder(t)
	for name, trickle := range map[string]bool{"not agreed": false, "before the answer": true} {
		t.Run(name, func(t *testing.T) {
			a, b := net.Pipe()
			defer b.Close()
			done := make(chan error, 1)
			go func() { done <- ServeChild(context.Background(), api, a, f, ChildOptions{Trickle: trickle}) }()
			go io.Copy(io.Discard, b) //nolint:errcheck // ends when b closes
			_ = wire.WriteFrame(b, signalFrame{Kind: kindCandidate, Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"})
			select {
			case err := <-done:
				if !errors.Is(err, ErrProtocol) {
					t.Fatalf("ServeChild returned %v, want ErrProtocol", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the link did not end")
			}
		})
	}
}

// A peer may trickle maxRemoteCandidates candidates, and no more.
func TestTrickledCandidatesAreBounded(t *testing.T) {
	api := newTestAPI(t, Config{})
	offerer, err := api.newPeerConnection(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	defer offerer.Close()
	if _, err := offerer.AddTransceiverFromKind(webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	offer, err := offerer.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := newPipeLink(t, api)
	if err := l.pc.SetRemoteDescription(offer); err != nil {
		t.Fatal(err)
	}
	for i := range maxRemoteCandidates + 1 {
		c := signalFrame{Kind: kindCandidate, Candidate: fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 10000+i)}
		err := l.addRemoteCandidate(c)
		if i < maxRemoteCandidates && err != nil {
			t.Fatalf("candidate %d refused: %v", i, err)
		}
		if i == maxRemoteCandidates && !errors.Is(err, ErrProtocol) {
			t.Fatalf("candidate %d: %v, want ErrProtocol", i, err)
		}
	}
}
