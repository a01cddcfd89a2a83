package audio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/hraban/opus.v2"
)

// Ogg Opus files are read with libopusfile, which the node links with
// libopus anyway: it finds the Opus stream among the file's logical
// streams, checks the pages, and applies the pre-skip, the output gain and
// the end trimming of RFC 7845. What is left here is the channel count
// (hraban/opus does not expose libopusfile's) and mixing stereo down.

// oggHeadSearch bounds how far into a file the Opus ID header is looked
// for: it opens the Opus stream's first page, near the start of the file.
const oggHeadSearch = 64 << 10

// OpenOggOpus reads an Ogg Opus stream (RFC 7845) from r and returns a
// Source of it decoded to 48 kHz mono. Only mono and stereo Opus are
// supported. The Source frees libopusfile's decoder when it reaches the end
// or fails; Close it to free it earlier.
func OpenOggOpus(r io.Reader) (Source, error) {
	br := bufio.NewReaderSize(r, oggHeadSearch)
	channels, err := opusChannels(br)
	if err != nil {
		return nil, err
	}
	st, err := opus.NewStream(br)
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", streamError(err))
	}
	return &oggOpusSource{stream: st, channels: channels, buf: make([]int16, maxPacketSamples*channels)}, nil
}

// opusChannels reads the channel count from the first OpusHead packet,
// without consuming anything of r.
func opusChannels(r *bufio.Reader) (int, error) {
	head, err := r.Peek(oggHeadSearch)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return 0, fmt.Errorf("ogg: %w", err)
	}
	if len(head) < 4 || string(head[:4]) != "OggS" {
		if len(head) == 0 {
			return 0, errors.New("ogg: no Opus stream in an empty file")
		}
		return 0, errors.New("ogg: not an Ogg file")
	}
	at := bytes.Index(head, []byte("OpusHead"))
	if at < 0 || len(head) < at+19 {
		return 0, errors.New("ogg: no Opus stream in the file")
	}
	if ch := int(head[at+9]); ch < 1 || ch > 2 {
		return 0, fmt.Errorf("ogg: unsupported channel layout: %d channels (mono and stereo are)", ch)
	}
	return int(head[at+9]), nil
}

type oggOpusSource struct {
	stream   *opus.Stream
	channels int
	buf      []int16 // decoded, interleaved
	mono     []int16 // mixed down, not yet handed out
	done     error   // io.EOF or the decoder's error, once reached
}

func (s *oggOpusSource) ReadFrame(pcm []int16) error {
	if err := checkFrame("ogg", pcm); err != nil {
		return err
	}
	for len(s.mono) < FrameSamples && s.done == nil {
		n, err := s.stream.Read(s.buf)
		if err != nil {
			s.finish(err)
			break
		}
		s.mono = appendMono(s.mono, s.buf[:n*s.channels], s.channels)
	}
	if len(s.mono) == 0 {
		if errors.Is(s.done, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("ogg: %w", streamError(s.done))
	}
	n := copy(pcm, s.mono)
	clear(pcm[n:]) // the last frame is padded with silence
	s.mono = s.mono[:copy(s.mono, s.mono[n:])]
	return nil
}

// finish records why the stream ended and frees the decoder.
func (s *oggOpusSource) finish(err error) {
	s.done = err
	_ = s.stream.Close()
}

// Close frees the decoder if the stream did not reach its end.
func (s *oggOpusSource) Close() error {
	if s.done == nil {
		s.finish(io.EOF)
	}
	return nil
}

func appendMono(dst, in []int16, channels int) []int16 {
	if channels == 1 {
		return append(dst, in...)
	}
	for i := 0; i+1 < len(in); i += 2 {
		dst = append(dst, int16((int32(in[i])+int32(in[i+1]))/2))
	}
	return dst
}

// streamError says in words what libopusfile's error codes mean.
func streamError(err error) error {
	var se opus.StreamError
	if !errors.As(err, &se) {
		return err
	}
	var what string
	switch se {
	case opus.ErrStreamNotFormat, opus.ErrStreamBadHeader, opus.ErrStreamVersion:
		what = "not an Ogg Opus file, or its headers (OpusHead, OpusTags) are damaged"
	case opus.ErrStreamNotAudio, opus.ErrStreamBadLink, opus.ErrStreamImpl:
		what = "an Opus stream this reader cannot play"
	case opus.ErrStreamHole:
		what = "a page is missing or damaged"
	case opus.ErrStreamBadPacked, opus.ErrStreamBadTimestamp:
		what = "a damaged Opus packet or timestamp"
	default:
		what = "the file could not be read"
	}
	return fmt.Errorf("%s (%w)", what, err)
}
