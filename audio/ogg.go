package audio

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/pion/webrtc/v4/pkg/media/oggreader"
	"gopkg.in/hraban/opus.v2"
)

const (
	oggHeaderBytes = 27
	oggFlagCont    = 0x01 // page starts with the rest of the previous page's last packet
	oggFlagBOS     = 0x02
	oggFlagEOS     = 0x04
	// oggMaxPacket bounds one assembled Opus packet: RFC 6716 caps a packet
	// at 120 ms of 1275-byte frames (61,200 bytes).
	oggMaxPacket = 61440
	// oggMaxBOSPages bounds how many logical streams are looked through
	// for the Opus one.
	oggMaxBOSPages = 16
	noGranule      = ^uint64(0)
)

// OpenOggOpus reads an Ogg Opus stream (RFC 7845) from r and returns a
// Source of it decoded to 48 kHz mono: it honours the pre-skip, the output
// gain and the end trimming of the last page, mixes stereo down, and
// ignores other logical streams in the file. Only mono and stereo Opus
// (channel mapping family 0, or 1 with one stream) are supported. Pages
// are read as needed, never the whole file.
func OpenOggOpus(r io.Reader) (Source, error) {
	return openOggOpus(r, true)
}

// openOggOpus can skip CRC checks so the fuzz test can reach past them.
func openOggOpus(r io.Reader, verifyCRC bool) (*oggOpusSource, error) {
	rec := &pageRecorder{r: bufio.NewReader(r)}
	ogg, err := oggreader.NewWithOptions(rec, oggreader.WithDoChecksum(verifyCRC))
	if err != nil {
		return nil, fmt.Errorf("ogg: %w", err)
	}
	s := &oggOpusSource{rec: rec, ogg: ogg, gain: 1, decoded: make([]int16, 0, maxPacketSamples+FrameSamples)}
	if err := s.readHead(); err != nil {
		return nil, err
	}
	dec, err := opus.NewDecoder(SampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("ogg: opus decoder: %w", err)
	}
	s.dec = dec
	s.pcm = make([]int16, maxPacketSamples)
	return s, nil
}

// pageRecorder keeps the bytes pion's reader takes for one page: pion
// returns a page's payload with its packets run together, and the segment
// table that says where one packet ends is only in these raw bytes.
type pageRecorder struct {
	r   io.Reader
	raw []byte
}

func (p *pageRecorder) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.raw = append(p.raw, b[:n]...)
	return n, err
}

// oggPage is one page of the Opus stream with its packets delimited.
type oggPage struct {
	flags   byte
	granule uint64
	serial  uint32
	payload []byte
	lacing  []byte
}

type oggOpusSource struct {
	rec *pageRecorder
	ogg *oggreader.OggReader
	dec *opus.Decoder
	pcm []int16

	serial  uint32
	preSkip int     // decoded samples still to drop at the start
	gain    float64 // output gain as a factor

	tagsDone bool     // the OpusTags packet has gone by
	partial  []byte   // packet continued from the previous page
	inPacket bool     // partial holds the start of an unfinished packet
	skipping bool     // the unfinished packet is the tags one (not kept)
	packets  [][]byte // complete packets of the current page, not yet decoded
	eosPage  bool     // current page ends the stream
	granule  uint64   // current page's granule position
	position int64    // samples decoded so far, pre-skip included

	decoded []int16 // decoded samples not yet read
	ended   bool
}

// nextPage reads the next page and splits out its lacing values.
func (s *oggOpusSource) nextPage() (oggPage, error) {
	s.rec.raw = s.rec.raw[:0]
	payload, hdr, err := s.ogg.ParseNextPage()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return oggPage{}, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return oggPage{}, fmt.Errorf("ogg: file ends inside a page: %w", err)
		}
		return oggPage{}, fmt.Errorf("ogg: %w", err)
	}
	raw := s.rec.raw
	if len(raw) < oggHeaderBytes || string(raw[0:4]) != "OggS" {
		return oggPage{}, errors.New("ogg: page does not start with \"OggS\"")
	}
	if raw[4] != 0 {
		return oggPage{}, fmt.Errorf("ogg: unsupported page version %d", raw[4])
	}
	nseg := int(raw[26])
	return oggPage{
		flags:   raw[5],
		granule: hdr.GranulePosition,
		serial:  hdr.Serial,
		payload: payload,
		lacing:  raw[oggHeaderBytes : oggHeaderBytes+nseg],
	}, nil
}

// readHead finds the Opus stream's OpusHead among the beginning-of-stream
// pages and checks it.
func (s *oggOpusSource) readHead() error {
	for i := 0; i < oggMaxBOSPages; i++ {
		p, err := s.nextPage()
		if errors.Is(err, io.EOF) {
			return errors.New("ogg: no Opus stream (no OpusHead page)")
		}
		if err != nil {
			return err
		}
		if p.flags&oggFlagBOS == 0 {
			break
		}
		if len(p.payload) < 8 || string(p.payload[:8]) != "OpusHead" {
			continue // another codec's stream
		}
		head, err := oggreader.ParseOpusHead(p.payload)
		if err != nil {
			return fmt.Errorf("ogg: OpusHead: %w", err)
		}
		if head.Version>>4 != 0 {
			return fmt.Errorf("ogg: unsupported OpusHead version %d", head.Version)
		}
		mono := head.Channels == 1 || head.Channels == 2
		if !mono || (head.ChannelMap != 0 && !(head.ChannelMap == 1 && head.StreamCount == 1)) {
			return fmt.Errorf("ogg: unsupported channel layout: %d channels, mapping family %d (only mono and stereo)",
				head.Channels, head.ChannelMap)
		}
		s.serial = p.serial
		s.preSkip = int(head.PreSkip)
		if g := int16(head.OutputGain); g != 0 { // Q7.8 dB
			s.gain = math.Pow(10, float64(g)/(20*256))
		}
		return nil
	}
	return errors.New("ogg: no Opus stream (first pages carry no OpusHead)")
}

// fill decodes packets until at least want samples are ready or the stream
// ends.
func (s *oggOpusSource) fill(want int) error {
	for len(s.decoded) < want && !s.ended {
		if len(s.packets) == 0 {
			if err := s.loadPage(); err != nil {
				return err
			}
			continue
		}
		pkt := s.packets[0]
		s.packets = s.packets[1:]
		if err := s.decodePacket(pkt); err != nil {
			return err
		}
	}
	return nil
}

// loadPage reads pages until one of the Opus stream yields packets.
func (s *oggOpusSource) loadPage() error {
	p, err := s.nextPage()
	if errors.Is(err, io.EOF) {
		s.ended = true
		return nil
	}
	if err != nil {
		return err
	}
	if p.serial != s.serial {
		return nil // a page of another logical stream
	}
	if p.flags&oggFlagBOS != 0 {
		return errors.New("ogg: chained streams are not supported")
	}
	if p.flags&oggFlagCont == 0 && s.inPacket {
		return errors.New("ogg: packet cut off: page is not marked as a continuation")
	}
	off := 0
	for _, l := range p.lacing {
		seg := p.payload[off : off+int(l)]
		off += int(l)
		if !s.inPacket {
			s.inPacket = true
			s.skipping = !s.tagsDone
			s.partial = s.partial[:0]
		}
		if s.skipping {
			// OpusTags can be large (cover art); keep only its magic.
			if len(s.partial) < 8 {
				s.partial = append(s.partial, seg[:min(len(seg), 8-len(s.partial))]...)
			}
		} else {
			if len(s.partial)+len(seg) > oggMaxPacket {
				return fmt.Errorf("ogg: packet longer than %d bytes", oggMaxPacket)
			}
			s.partial = append(s.partial, seg...)
		}
		if l == 255 {
			continue // the packet goes on in the next segment
		}
		s.inPacket = false
		if s.skipping {
			if string(s.partial) != "OpusTags" {
				return errors.New("ogg: second packet is not OpusTags")
			}
			s.tagsDone = true
			continue
		}
		s.packets = append(s.packets, append([]byte(nil), s.partial...))
	}
	s.granule = p.granule
	s.eosPage = p.flags&oggFlagEOS != 0
	if s.eosPage && !s.inPacket && len(s.packets) == 0 {
		s.trimEnd()
		s.ended = true
	}
	return nil
}

// decodePacket decodes one Opus packet, dropping pre-skip and trimming at
// the end of the stream.
func (s *oggOpusSource) decodePacket(pkt []byte) error {
	if len(pkt) == 0 {
		return nil // carries nothing; RFC 7845 allows no such packet, so just skip it
	}
	n, err := s.dec.Decode(pkt, s.pcm)
	if err != nil {
		return fmt.Errorf("ogg: opus decode at sample %d: %w", s.position, err)
	}
	out := s.pcm[:n]
	s.position += int64(n)
	skip := min(s.preSkip, len(out))
	s.preSkip -= skip
	out = out[skip:]
	for _, v := range out {
		if s.gain != 1 {
			v = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(float64(v)*s.gain))))
		}
		s.decoded = append(s.decoded, v)
	}
	if s.eosPage && len(s.packets) == 0 {
		s.trimEnd()
		s.ended = true
	}
	return nil
}

// trimEnd applies the last page's granule position: samples decoded past
// it are padding the encoder added (RFC 7845 section 4.5).
func (s *oggOpusSource) trimEnd() {
	if s.granule == noGranule || s.granule > math.MaxInt64 {
		return
	}
	if extra := s.position - int64(s.granule); extra > 0 {
		s.decoded = s.decoded[:max(0, len(s.decoded)-int(min(extra, int64(len(s.decoded)))))]
	}
}

func (s *oggOpusSource) ReadFrame(pcm []int16) error {
	if len(pcm) != FrameSamples {
		return fmt.Errorf("ogg: frame buffer has %d samples, want %d", len(pcm), FrameSamples)
	}
	if err := s.fill(FrameSamples); err != nil {
		return err
	}
	if len(s.decoded) == 0 {
		return io.EOF
	}
	n := copy(pcm, s.decoded)
	clear(pcm[n:])
	s.decoded = s.decoded[:copy(s.decoded, s.decoded[n:])]
	return nil
}
