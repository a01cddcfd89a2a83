package audio

import "io"

// OpenOggOpusNoCRC opens an Ogg Opus stream without checking page
// checksums, so fuzzing reaches the packet and header parsing behind them.
func OpenOggOpusNoCRC(r io.Reader) (Source, error) {
	s, err := openOggOpus(r, false)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// EncoderLookahead exposes the encoder delay the Ogg writer relies on.
func EncoderLookahead() int { return encoderLookahead() }
