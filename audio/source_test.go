package audio_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clubnode/clubnode/audio"
	"github.com/clubnode/clubnode/audio/audiotest"
)

func TestRawRoundTrip(t *testing.T) {
	sent := audiotest.Speech(time.Second, 51)
	var buf bytes.Buffer
	writeFrames(t, audio.NewRawSink(&buf), sent)
	if buf.Len() != 2*len(padded(sent)) {
		t.Fatalf("%d bytes for %d samples", buf.Len(), len(sent))
	}
	got := readAll(t, audio.NewRawSource(&buf))
	if !slicesEqual(got, padded(sent)) {
		t.Error("raw PCM did not come back sample for sample")
	}
	// A partial last frame is padded; a lone trailing byte is dropped.
	got = readAll(t, audio.NewRawSource(bytes.NewReader([]byte{1, 0, 2, 0, 3})))
	if len(got) != audio.FrameSamples || got[0] != 1 || got[1] != 2 || got[2] != 0 {
		t.Errorf("partial frame read as %v...", got[:4])
	}
}

// Files made by CreateSink open with OpenSource, by extension or, when
// the extension lies, by their first bytes.
func TestCreateSinkOpenSource(t *testing.T) {
	sent := audiotest.Speech(2*time.Second, 52)
	dir := t.TempDir()
	for _, tc := range []struct {
		create, open string // the same file under another name if they differ
		lossless     bool
	}{
		{"a.wav", "a.wav", true},
		{"b.ogg", "b.ogg", false},
		{"c.opus", "c.opus", false},
		{"d.raw", "d.raw", true},
		{"e.wav", "e.ogg", true},   // a WAV named .ogg
		{"f.ogg", "f.data", false}, // Ogg under an unknown extension
	} {
		t.Run(tc.open, func(t *testing.T) {
			sink, closer, err := audio.CreateSink(filepath.Join(dir, tc.create), nil)
			if err != nil {
				t.Fatal(err)
			}
			writeFrames(t, sink, sent)
			if err := closer.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.open != tc.create {
				if err := os.Rename(filepath.Join(dir, tc.create), filepath.Join(dir, tc.open)); err != nil {
					t.Fatal(err)
				}
			}
			src, closer, err := audio.OpenSource(filepath.Join(dir, tc.open), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			got := readAll(t, src)
			if tc.lossless {
				if !slicesEqual(got, padded(sent)) {
					t.Error("did not come back sample for sample")
				}
				return
			}
			if corr, _ := audiotest.Match(sent, got, 100*time.Millisecond); corr < audiotest.MatchThreshold {
				t.Errorf("matches only %.3f", corr)
			}
		})
	}
}

func TestStdinStdout(t *testing.T) {
	sent := audiotest.Speech(500*time.Millisecond, 53)
	var stdout bytes.Buffer
	sink, closer, err := audio.CreateSink("-", &stdout)
	if err != nil {
		t.Fatal(err)
	}
	writeFrames(t, sink, sent)
	closer.Close()
	src, closer, err := audio.OpenSource("-", &stdout)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if got := readAll(t, src); !slicesEqual(got, padded(sent)) {
		t.Error("stdin/stdout round trip changed the audio")
	}
}

func TestSourceSinkErrors(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := audio.CreateSink(filepath.Join(dir, "x.mp3"), nil); err == nil || !strings.Contains(err.Error(), `unknown audio type ".mp3"`) {
		t.Errorf("CreateSink .mp3: %v", err)
	}
	junk := filepath.Join(dir, "junk.mp3")
	os.WriteFile(junk, []byte("ID3 not supported"), 0o600)
	if _, _, err := audio.OpenSource(junk, nil); err == nil || !strings.Contains(err.Error(), `unknown audio type ".mp3"`) {
		t.Errorf("OpenSource .mp3: %v", err)
	}
	if _, _, err := audio.OpenSource(filepath.Join(dir, "missing.wav"), nil); err == nil {
		t.Error("opened a missing file")
	}
	bad := filepath.Join(dir, "bad.wav")
	os.WriteFile(bad, []byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x55\x00"), 0o600)
	if _, _, err := audio.OpenSource(bad, nil); err == nil || !strings.Contains(err.Error(), "bad.wav") {
		t.Errorf("a broken WAV: %v", err)
	}
	// ReadAll's limit.
	if _, err := audio.ReadAll(audio.NewSliceSource(make([]int16, 48000)), 500*time.Millisecond); err == nil {
		t.Error("ReadAll read past its limit")
	}
	// Writing after Close.
	sink, closer, err := audio.CreateSink(filepath.Join(dir, "y.wav"), nil)
	if err != nil {
		t.Fatal(err)
	}
	closer.Close()
	if err := sink.WriteFrame(make([]int16, audio.FrameSamples)); err == nil {
		t.Error("wrote after Close")
	}
}
