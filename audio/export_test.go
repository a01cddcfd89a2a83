package audio

// EncoderLookahead exposes the encoder delay the Ogg writer relies on.
func EncoderLookahead() int { return encoderLookahead() }
