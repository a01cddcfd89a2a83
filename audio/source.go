package audio

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Source yields 48 kHz mono audio one 20 ms frame at a time.
type Source interface {
	// ReadFrame fills pcm (FrameSamples long) with the next frame. It
	// returns io.EOF when there are no more; the last frame of a source
	// whose length is not a whole number of frames is padded with silence.
	ReadFrame(pcm []int16) error
}

// Sink takes 48 kHz mono audio one 20 ms frame at a time.
type Sink interface {
	// WriteFrame writes one frame (FrameSamples long).
	WriteFrame(pcm []int16) error
	// Close finishes the file (sizes, last pages, encoder flush). It does
	// not close the writer the Sink was made on. Calling it again does
	// nothing.
	Close() error
}

// checkFrame refuses a buffer that is not one frame (FrameSamples) long;
// what names the reader or writer in the error.
func checkFrame(what string, pcm []int16) error {
	if len(pcm) != FrameSamples {
		return fmt.Errorf("%s: frame has %d samples, want %d", what, len(pcm), FrameSamples)
	}
	return nil
}

// NewRawSource reads raw 48 kHz signed 16-bit little-endian mono PCM.
func NewRawSource(r io.Reader) Source {
	return &rawSource{r: r, buf: make([]byte, 2*FrameSamples)}
}

type rawSource struct {
	r   io.Reader
	buf []byte
}

func (s *rawSource) ReadFrame(pcm []int16) error {
	if err := checkFrame("raw", pcm); err != nil {
		return err
	}
	n, err := io.ReadFull(s.r, s.buf)
	if n < 2 {
		if err == nil || errors.Is(err, io.ErrUnexpectedEOF) {
			err = io.EOF // a lone trailing byte is not a sample
		}
		if errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("raw: %w", err)
	}
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("raw: %w", err)
	}
	got := n / 2
	for i := range got {
		pcm[i] = int16(binary.LittleEndian.Uint16(s.buf[2*i:]))
	}
	clear(pcm[got:])
	return nil
}

// NewRawSink writes raw 48 kHz signed 16-bit little-endian mono PCM.
func NewRawSink(w io.Writer) Sink {
	return &rawSink{w: w, buf: make([]byte, 2*FrameSamples)}
}

type rawSink struct {
	w   io.Writer
	buf []byte
}

func (s *rawSink) WriteFrame(pcm []int16) error {
	if err := checkFrame("raw", pcm); err != nil {
		return err
	}
	putPCM(s.buf, pcm)
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("raw: %w", err)
	}
	return nil
}

func (s *rawSink) Close() error { return nil }

func putPCM(dst []byte, pcm []int16) {
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(dst[2*i:], uint16(v))
	}
}

// NewSliceSource plays pcm (48 kHz mono) as a Source. Tests and generated
// signals use it.
func NewSliceSource(pcm []int16) Source {
	return &sliceSource{pcm: pcm}
}

type sliceSource struct{ pcm []int16 }

func (s *sliceSource) ReadFrame(pcm []int16) error {
	if err := checkFrame("slice source", pcm); err != nil {
		return err
	}
	if len(s.pcm) == 0 {
		return io.EOF
	}
	n := copy(pcm, s.pcm)
	clear(pcm[n:])
	s.pcm = s.pcm[n:]
	return nil
}

// ReadAll reads src to its end into memory, refusing more than max of
// audio so a huge or endless input cannot exhaust memory.
func ReadAll(src Source, max time.Duration) ([]int16, error) {
	limit := int(max / FrameDuration)
	var out []int16
	frame := make([]int16, FrameSamples)
	for {
		err := src.ReadFrame(frame)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if len(out)/FrameSamples >= limit {
			return out, fmt.Errorf("audio is longer than %s", max)
		}
		out = append(out, frame...)
	}
}

// OpenSource opens an audio file as a Source: "-" is raw 48 kHz s16le mono
// on stdin; otherwise the file's first bytes decide ("RIFF" is WAV, "OggS"
// is Ogg Opus), and its extension only if they say nothing (.wav, .ogg,
// .opus, or .raw/.pcm for raw PCM). The Closer closes the file.
func OpenSource(path string, stdin io.Reader) (Source, io.Closer, error) {
	if path == "-" {
		return NewRawSource(stdin), nopCloser{}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open audio: %w", err)
	}
	br := bufio.NewReaderSize(f, 64<<10)
	magic, _ := br.Peek(4)
	kind := strings.ToLower(filepath.Ext(path))
	switch string(magic) {
	case "RIFF", "RIFX", "RF64":
		kind = ".wav"
	case "OggS":
		kind = ".ogg"
	}
	var src Source
	switch kind {
	case ".wav", ".wave":
		src, _, err = OpenWAV(br)
	case ".ogg", ".opus", ".oga":
		src, err = OpenOggOpus(br)
	case ".raw", ".pcm", ".s16":
		src = NewRawSource(br)
	default:
		err = fmt.Errorf("unknown audio type %q (use .wav, .ogg or .opus, .raw for 48 kHz s16le mono, or - for stdin)", kind)
	}
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open audio %s: %w", path, err)
	}
	return src, f, nil
}

// CreateSink creates an audio file as a Sink: "-" is raw 48 kHz s16le
// mono on stdout; otherwise by extension, .wav (16-bit 48 kHz mono),
// .ogg/.opus (Ogg Opus), .raw/.pcm. The Closer finishes the Sink if it was
// not closed yet and closes the file; call Sink.Close first to see its
// error.
func CreateSink(path string, stdout io.Writer) (Sink, io.Closer, error) {
	if path == "-" {
		s := NewRawSink(stdout)
		return s, sinkCloser{sink: s}, nil
	}
	kind := strings.ToLower(filepath.Ext(path))
	switch kind {
	case ".wav", ".wave", ".ogg", ".opus", ".oga", ".raw", ".pcm", ".s16":
	default:
		return nil, nil, fmt.Errorf("create audio %s: unknown audio type %q (use .wav, .ogg or .opus, .raw, or - for stdout)", path, kind)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, fmt.Errorf("create audio: %w", err)
	}
	var s Sink
	switch kind {
	case ".wav", ".wave":
		s = NewWAVWriter(f) // unbuffered: it seeks back to patch sizes
	case ".ogg", ".opus", ".oga":
		bw := bufio.NewWriterSize(f, 64<<10)
		var os Sink
		if os, err = NewOggOpusWriter(bw); err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("create audio %s: %w", path, err)
		}
		s = flushingSink{Sink: os, w: bw}
	default:
		bw := bufio.NewWriterSize(f, 64<<10)
		s = flushingSink{Sink: NewRawSink(bw), w: bw}
	}
	s = &onceSink{Sink: s}
	return s, sinkCloser{sink: s, file: f}, nil
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// flushingSink flushes a buffered writer when the Sink closes.
type flushingSink struct {
	Sink
	w *bufio.Writer
}

func (s flushingSink) Close() error {
	return errors.Join(s.Sink.Close(), s.w.Flush())
}

// onceSink makes Close idempotent and refuses writes after it.
type onceSink struct {
	Sink
	closed bool
	err    error
}

func (s *onceSink) WriteFrame(pcm []int16) error {
	if s.closed {
		return errors.New("audio sink is closed")
	}
	return s.Sink.WriteFrame(pcm)
}

func (s *onceSink) Close() error {
	if !s.closed {
		s.closed = true
		s.err = s.Sink.Close()
	}
	return s.err
}

// sinkCloser closes the Sink (if not yet) and then its file.
type sinkCloser struct {
	sink Sink
	file *os.File
}

func (c sinkCloser) Close() error {
	err := c.sink.Close()
	if c.file != nil {
		err = errors.Join(err, c.file.Close())
	}
	return err
}
