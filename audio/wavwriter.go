package audio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

const wavHeaderBytes = 44

// NewWAVWriter writes 48 kHz mono 16-bit PCM WAV to w. If w can seek
// (a file), Close goes back and writes the real RIFF and data sizes;
// until then, and always on a pipe, the sizes say 0xFFFFFFFF, the
// streaming form readers take as "until the end", so a recording cut off
// by a crash is still readable.
func NewWAVWriter(w io.Writer) Sink {
	s := &wavWriter{w: w, buf: make([]byte, 2*FrameSamples)}
	if ws, ok := w.(io.WriteSeeker); ok {
		if off, err := ws.Seek(0, io.SeekCurrent); err == nil {
			s.seeker, s.start = ws, off
		}
	}
	return s
}

type wavWriter struct {
	w       io.Writer
	seeker  io.WriteSeeker // nil if w cannot seek (a pipe)
	start   int64          // offset of the header in w
	data    int64          // data bytes written
	buf     []byte
	started bool
	closed  bool
}

func wavHeader(dataBytes uint32) []byte {
	h := make([]byte, wavHeaderBytes)
	le := binary.LittleEndian
	riffSize := uint32(0xFFFFFFFF)
	if dataBytes != 0xFFFFFFFF {
		riffSize = dataBytes + wavHeaderBytes - 8
	}
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], riffSize)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavTagPCM)
	le.PutUint16(h[22:], 1) // mono
	le.PutUint32(h[24:], SampleRate)
	le.PutUint32(h[28:], SampleRate*2) // byte rate
	le.PutUint16(h[32:], 2)            // block align
	le.PutUint16(h[34:], 16)           // bits per sample
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataBytes)
	return h
}

func (s *wavWriter) begin() error {
	if s.started {
		return nil
	}
	s.started = true
	if _, err := s.w.Write(wavHeader(0xFFFFFFFF)); err != nil {
		return fmt.Errorf("wav: write header: %w", err)
	}
	return nil
}

func (s *wavWriter) WriteFrame(pcm []int16) error {
	if s.closed {
		return errors.New("wav: write after close")
	}
	if err := checkFrame("wav", pcm); err != nil {
		return err
	}
	if err := s.begin(); err != nil {
		return err
	}
	putPCM(s.buf, pcm)
	n, err := s.w.Write(s.buf)
	s.data += int64(n)
	if err != nil {
		return fmt.Errorf("wav: write data: %w", err)
	}
	return nil
}

// Close writes the header if nothing was written yet and, on a seekable
// writer, patches the sizes in it. A file too big for WAV's 32-bit sizes
// keeps the streaming form.
func (s *wavWriter) Close() error {
	if s.closed {
		return nil
	}
	if err := s.begin(); err != nil {
		return err
	}
	s.closed = true
	if s.seeker == nil || s.data > 0xFFFFFFFF-wavHeaderBytes {
		return nil
	}
	end := s.start + wavHeaderBytes + s.data
	if _, err := s.seeker.Seek(s.start, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seek to header: %w", err)
	}
	if _, err := s.seeker.Write(wavHeader(uint32(s.data))); err != nil {
		return fmt.Errorf("wav: patch header: %w", err)
	}
	if _, err := s.seeker.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("wav: seek to end: %w", err)
	}
	return nil
}
