package audiotest

import (
	"fmt"
	"os"

	"github.com/clubnode/clubnode/audio"
)

// WriteWAV writes pcm as a 48 kHz 16-bit mono WAV file: what a test feeds
// a speaker (the CLI's speak, a browser's fake microphone). A last partial
// frame is left out.
func WriteWAV(path string, pcm []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write test WAV: %w", err)
	}
	w := audio.NewWAVWriter(f)
	for off := 0; off+audio.FrameSamples <= len(pcm); off += audio.FrameSamples {
		if err := w.WriteFrame(pcm[off : off+audio.FrameSamples]); err != nil {
			f.Close()
			return fmt.Errorf("write test WAV %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		f.Close()
		return fmt.Errorf("write test WAV %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write test WAV %s: %w", path, err)
	}
	return nil
}

// ReadWAV reads a WAV file (a listener's recording) as 48 kHz mono.
func ReadWAV(path string) ([]int16, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read test WAV: %w", err)
	}
	defer f.Close()
	src, _, err := audio.OpenWAV(f)
	if err != nil {
		return nil, fmt.Errorf("read test WAV %s: %w", path, err)
	}
	var out []int16
	frame := make([]int16, audio.FrameSamples)
	for src.ReadFrame(frame) == nil {
		out = append(out, frame...)
	}
	return out, nil
}
