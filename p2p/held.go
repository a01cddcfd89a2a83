package p2p

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"maps"
	"slices"
)

// heldMember is a member as the node holds it, with the bytes a members
// sync sends and compares, encoded once when the member is stored: every
// sync used to encode every member's chain again (2.5% of a 100-daemon
// run's CPU).
type heldMember struct {
	Member
	chain []byte            // Chain.Marshal()
	sum   [sha256.Size]byte // of chain and profile: this member's part of the membership digest
}

func hold(m Member) heldMember {
	h := heldMember{Member: m, chain: m.Chain.Marshal()}
	d := sha256.New()
	writeField(d, h.chain)
	writeField(d, h.profile())
	d.Sum(h.sum[:0])
	return h
}

// profile is the signed profile's bytes, nil if the member has none.
func (h heldMember) profile() []byte {
	if h.Profile == nil {
		return nil
	}
	return h.Profile.Bytes
}

// membershipDigest sums everything a members sync from this node can
// send: every held member's chain and profile, in peer ID order, and
// every revocation. A node whose digest is the same holds all of it, so a
// sync between the two has nothing to carry. Call with n.mu held.
func (st *netState) membershipDigest() []byte {
	d := sha256.New()
	var count [4]byte
	binary.BigEndian.PutUint32(count[:], uint32(len(st.members)))
	d.Write(count[:])
	for _, id := range slices.Sorted(maps.Keys(st.members)) {
		m := st.members[id]
		d.Write(m.sum[:])
	}
	revs := st.revs.All()
	sums := make([][sha256.Size]byte, len(revs))
	for i, r := range revs {
		sums[i] = sha256.Sum256(r.Bytes)
	}
	slices.SortFunc(sums, func(a, b [sha256.Size]byte) int { return cmp.Compare(string(a[:]), string(b[:])) })
	for _, s := range sums {
		d.Write(s[:])
	}
	return d.Sum(nil)
}

// writeField writes b with its length first, so that no two lists of
// fields hash the same bytes.
func writeField(d hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	d.Write(n[:])
	d.Write(b)
}
