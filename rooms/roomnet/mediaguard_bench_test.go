package roomnet

import (
	"crypto/rand"
	"log/slog"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/pion/rtp"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
	"github.com/clubnode/clubnode/audio/mediasig"
	"github.com/clubnode/clubnode/rooms"
	"github.com/clubnode/clubnode/rooms/roomkey"
)

// The media path's per-packet costs, end to end through the code a node
// runs (not only the primitives): the speaker's sign (and, closed, SFrame
// encrypt) and a listener's guard (verify, and decrypt).
//
//	go test ./rooms/roomnet -run '^$' -bench 'SpeakerPath|ListenerPath'

// pathSession is the part of a media session the per-packet path uses.
func pathSession(b *testing.B, id rooms.RoomID, key crypto.PrivKey, closed bool, s roomkey.Secret, now func() time.Time) *mediaSession {
	self, _ := peer.IDFromPrivateKey(key)
	signer, err := mediasig.NewSigner(mediasig.SignerConfig{Stream: mediasig.Stream{Room: string(id), Speaker: self}, Key: key, Now: now})
	if err != nil {
		b.Fatal(err)
	}
	ms := &mediaSession{m: &media{mediaView: mediaView{now: now, log: slog.Default()}}, room: id,
		signer: signer, keys: newRoomKeys(id)}
	if closed {
		ms.keys.encrypted.Store(true)
		if err := ms.keys.install(s, self, now()); err != nil {
			b.Fatal(err)
		}
	}
	ms.guard = newGuard(string(id), now, ms.decrypt, nil)
	return ms
}

// pathPackets is 2 s of real Opus speech as RTP.
func pathPackets(b *testing.B) []*rtp.Packet {
	enc, err := audio.NewEncoder()
	if err != nil {
		b.Fatal(err)
	}
	pcm := audiotest.Speech(2*time.Second, 1)
	var out []*rtp.Packet
	for i, off := 0, 0; off+audio.FrameSamples <= len(pcm); i, off = i+1, off+audio.FrameSamples {
		p, err := enc.Encode(pcm[off : off+audio.FrameSamples])
		if err != nil {
			b.Fatal(err)
		}
		out = append(out, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: audio.PayloadType,
			SequenceNumber: uint16(i), Timestamp: uint32(i * audio.FrameSamples), SSRC: 1}, Payload: p})
	}
	return out
}

func benchPath(b *testing.B, closed, listener bool) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	self, _ := peer.IDFromPrivateKey(key)
	id, _ := rooms.NewRoomID()
	secret, err := roomkey.New(id, 1, roomkey.DefaultSuite, time.Now().Add(-time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	pkts := pathPackets(b)
	// A clock a millisecond on at every look: SFrame's counter allows
	// one packet a millisecond, and a tight loop is faster than that.
	virtual := time.Now()
	now := func() time.Time { virtual = virtual.Add(time.Millisecond); return virtual }
	played, opus, wire := 0, 0, 0
	b.ResetTimer()
	for n := 0; n < b.N; {
		// A fresh stream every round: sequence numbers and SFrame
		// counters must move on, as a real stream's do.
		b.StopTimer()
		spk := pathSession(b, id, key, closed, secret, now)
		lst := pathSession(b, id, key, closed, secret, now)
		lst.guard.addSink(func(string, *rtp.Packet) { played++ })
		signed := make([]*rtp.Packet, 0, len(pkts))
		if listener {
			for _, p := range pkts {
				out, err := spk.sign(p.Clone())
				if err != nil {
					b.Fatal(err)
				}
				signed = append(signed, out)
			}
		}
		b.StartTimer()
		for i, p := range pkts {
			if n >= b.N {
				break
			}
			n++
			if listener {
				lst.guard.push(self.String(), signed[i], false)
				continue
			}
			out, err := spk.sign(p.Clone())
			if err != nil {
				b.Fatal(err)
			}
			opus += len(p.Payload)
			wire += len(out.Payload)
		}
	}
	b.StopTimer()
	if !listener && opus > 0 {
		// Bytes per second the path adds per speaker at 50 packets a second.
		b.ReportMetric(float64(wire-opus)/float64(b.N)*50, "B/s-added")
	}
	if listener && played == 0 && b.N >= len(pkts) {
		b.Fatal("the listener played nothing")
	}
}

func BenchmarkSpeakerPathOpen(b *testing.B)    { benchPath(b, false, false) }
func BenchmarkSpeakerPathClosed(b *testing.B)  { benchPath(b, true, false) }
func BenchmarkListenerPathOpen(b *testing.B)   { benchPath(b, false, true) }
func BenchmarkListenerPathClosed(b *testing.B) { benchPath(b, true, true) }
