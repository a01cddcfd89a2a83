// Package mediasig signs a speaker's RTP audio stream and verifies it on
// the way out of the relay tree, so that no relay can alter, replace or
// inject audio under a speaker's name. It does no I/O: the media plane
// feeds it packets.
//
// # What is signed
//
// The speaker's node signs its own stream (after it has made it one
// continuous stream), in batches: every Batch packets it signs, with its
// Ed25519 member key, the digests of the packets since the last signature.
// A packet's digest is SHA-256 (truncated to 128 bits) over what survives
// every hop: its sequence number extended to 64 bits, its timestamp, its
// marker bit and its payload. SSRC and payload type are left out, because
// every link rewrites them. The signed message also binds the room and the
// speaker's peer ID, so a stream signed for one room cannot be replayed in
// another, and the frame's time, so an old recording cannot be replayed to
// a listener who joins later (beyond the clock skew allowed).
//
// # Wire format
//
// Signatures travel inside the stream's RTP payloads, so no SDP changes and
// relays forward them as they forward audio, opaquely; per-hop NACK
// retransmits a lost signature with the packet that carries it. Every
// payload ends with a trailer byte L: with L = 0 the rest is the media;
// otherwise the L bytes before it are a signature frame and what precedes
// them is the media. The receiving node strips the trailer before the
// jitter buffer. A separate signature packet was the other choice; it
// would cost an RTP, SRTP, UDP and IP header per signature (about 50 bytes
// more), take sequence numbers the jitter buffer would see as losses, and
// could not be told from Opus without a marker byte on every packet anyway.
//
// A signature frame (version 1) is:
//
//	byte 0      version (high nibble, 1) and flags (bit 0: parity present)
//	bytes 1-8   extended sequence number of the first packet covered
//	bytes 9-12  the signer's time, Unix seconds
//	uvarint     cover: bit i set = packet first+i is covered (bit 0 set;
//	            at most MaxSpan numbers, MaxBatch packets)
//	16 bytes    parity: XOR of the covered packets' digests (if flagged)
//	64 bytes    Ed25519 signature over: context, the frame's bytes above,
//	            then the covered packets' digests in order
//
// The parity lets a listener verify a batch with one packet missing (lost
// beyond what NACK repaired): the missing digest is the parity XOR the
// others. Without it, one lost packet would make the whole batch
// unplayable, multiplying residual loss by Batch.
//
// Extended sequence numbers start at the signer's Unix time in
// milliseconds times 2^16, so a speaker whose node restarts carries on
// above every number it signed before, without storing anything.
//
// # Cost
//
// Per speaker, with the default Batch of 4 and parity: 1 trailer byte per
// packet and a 94-byte frame per batch, 50 + 12.5 × 94 = 1225 bytes/s
// (9.8 kbit/s on a 32 kbit/s stream); Batch 5: 990 bytes/s (7.9 kbit/s);
// Batch 8: 637 bytes/s (5.1 kbit/s). Without parity, 16 bytes less per
// batch. One Ed25519 signature per batch at the speaker, one verification
// per batch at each listener; BenchmarkSign and BenchmarkVerify give the
// per-packet figures.
//
// # Latency
//
// A packet is released only once a valid signature covers it, so the
// first packet of a batch waits for the last: (Batch-1) × 20 ms, plus the
// transit jitter of the packet carrying the signature. With Batch 4 that is
// 60 ms. It adds to the jitter buffer's own delay (60 ms by default)
// rather than hiding inside it: the jitter buffer absorbs the network's
// jitter, which still applies to the signature's carrier, so feeding it
// released packets at their release time keeps its full margin and the
// added mouth-to-ear latency is exactly (Batch-1) × 20 ms: 60 ms at Batch
// 4, 80 ms at Batch 5. Relays do not wait: they forward every packet at
// once, and may verify in parallel only to notice a bad parent.
//
// A batch also closes when the speaker's node says so (Sign's flush): it
// should for the last packet before a pause (an Opus DTX packet), or that
// packet and those before it would wait for the speech to resume; and, when
// the stream stops, one empty packet with the next sequence number carries
// the signature of the tail.
//
// # Verifying
//
// A Verifier holds, per speaker, the packets waiting for their signature
// (bounded by MaxPending and MaxWait), checks each frame, releases the
// packets it covers, remembers verified digests to check late copies, and
// releases each extended sequence number at most once within Window.
// Every refusal is counted and reported as a Failure; Kind.Tampering says
// which kinds prove that the stream was changed on its way, so that the
// node can report its parent to the host. Two things are not proof: a frame
// whose sequence field was changed points at packets that never come and
// shows only as Unverified; and a speaker whose clock stepped back across a
// restart of its node is refused as a replay by listeners who heard it
// before, until they make a new Verifier.
package mediasig
