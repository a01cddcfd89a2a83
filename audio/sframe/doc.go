// Package sframe implements SFrame (RFC 9605), the end-to-end encryption of
// media frames: the SFrame header (KID and CTR), the key schedule that turns
// a base key into an AEAD key and salt, the five cipher suites of the RFC's
// registry, and per-frame encryption and decryption with an anti-replay
// window on CTR. The package does no I/O and knows nothing of RTP: a frame
// is a byte string (in clubnode, one Opus packet), and what the KIDs mean
// and where base keys come from is the caller's business (rooms/roomkey).
//
// It is checked against the RFC's own test vectors (Appendix C, in
// testdata). No maintained Go implementation is published as a module: the
// IETF working group's Go code is a test-vector generator, and the
// maintained implementations are C++ and Rust. The primitives are all in
// the standard library (AES, GCM, CTR, HMAC, HKDF), so what is written here
// is only the RFC's framing around them.
//
// Short tags: the AES-CTR-HMAC suites trade tag length for bandwidth, which
// matters for audio, where a frame is about 80 bytes. Section 7.5 of the RFC
// explains the risk and its mitigations; clubnode has all of them (SRTP on
// every hop, a predictable packet rate, anti-replay here), and speakers also
// sign their audio (audio/mediasig), so a forged frame must pass an Ed25519
// signature before it is ever decrypted.
package sframe
