package roomkey

import (
	"bytes"
	"testing"
)

// Arbitrary bytes never panic the delivery parser; whatever parses is
// within its limits, re-encodes the same, and opens only for its
// recipient.
func FuzzParseDelivery(f *testing.F) {
	host, alice := newMember(f), newMember(f)
	s := newSecret(f, newRoomID(f), 7)
	d, err := Deliver(host.key, s, alice.id)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(d.Bytes)
	f.Add([]byte{})
	f.Add(d.Bytes[:len(d.Bytes)/2])
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseDelivery(data)
		if err != nil {
			return
		}
		if len(data) > MaxDeliverySize || len(p.Enc) != encSize || len(p.Sealed) != ciphertextSize {
			t.Fatalf("accepted %d bytes, %d+%d wrapped", len(data), len(p.Enc), len(p.Sealed))
		}
		again, err := p.MarshalRecord()
		if err != nil {
			t.Fatal(err)
		}
		var back Delivery
		if err := back.UnmarshalRecord(again); err != nil || back.Epoch != p.Epoch || !bytes.Equal(back.Sealed, p.Sealed) {
			t.Fatalf("round trip: %v", err)
		}
		if p.Recipient != alice.id {
			return
		}
		if got, err := p.Open(alice.key); err == nil && (got != s || !bytes.Equal(data, d.Bytes)) {
			t.Fatalf("a delivery other than the host's opened to %+v", got)
		}
	})
}
