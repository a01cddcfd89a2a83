// Package roomkey keys the end-to-end encryption of closed rooms: a room
// secret per epoch, the SFrame keys each speaker derives from it, the
// signed delivery of the secret to each participant wrapped with HPKE for
// their member key, and the rule for when the host starts a new epoch. It
// does no I/O; the media plane and the room protocol carry what it makes.
//
// Who holds what:
//
//   - The host makes each epoch's secret (32 random bytes) and numbers
//     the epochs 1, 2, ...
//   - Every participant of the room (stage and audience) receives the
//     secret from the host in a Delivery: the secret sealed with HPKE
//     (DHKEM X25519, HKDF-SHA256, ChaCha20Poly1305) for the X25519 form of
//     the participant's Ed25519 member key, with the room, epoch, suite,
//     host and recipient bound into the HPKE info, in an envelope signed by
//     the host's member key. Nobody else can unwrap it.
//   - Each speaker encrypts its audio with SFrame under a base key derived
//     from the secret and its own peer ID (HKDF-SHA256), so speakers never
//     share a key; the frame's KID is the epoch. Every participant can
//     derive every speaker's key, so SFrame alone would let one participant
//     pass audio off as another's: that is what the speakers' signatures
//     (audio/mediasig, computed over the ciphertext) prevent.
//   - Relays forward ciphertext and signatures; a relay that is not a
//     participant holds no secret and hears nothing.
//
// When keys change (Rotate): when a closed room goes live (the first
// epoch), when its host changes (the new host starts its own epoch), and
// whenever someone who was in the room is not any more (left, removed or
// banned), so that they cannot hear what follows. Joining needs no new
// epoch: the joiner gets the current one. Open and social rooms are not
// encrypted end to end at all (Encrypted): their audience is the network,
// or whoever the host follows, and a key given to all of them would keep
// nobody out; hop-by-hop SRTP still protects them on the wire.
package roomkey
