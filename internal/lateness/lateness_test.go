package lateness

import (
	"testing"
	"time"
)

func TestMeter(t *testing.T) {
	var m Meter
	t0 := time.Unix(1000, 0)
	m.Expect(t0)
	if got := m.Woke(t0.Add(-time.Second)); got != 0 {
		t.Fatalf("an early wake counted %s late", got)
	}
	m.Expect(t0)
	if got := m.Woke(t0.Add(800 * time.Millisecond)); got != 800*time.Millisecond {
		t.Fatalf("a wake 800ms late: recent %s", got)
	}
	m.Expect(t0)
	if got := m.Woke(t0); got != 700*time.Millisecond {
		t.Fatalf("after an on-time wake: recent %s, want 700ms (decaying)", got)
	}
	if got := m.Woke(t0.Add(time.Hour)); got >= 700*time.Millisecond {
		t.Fatalf("a wake with nothing expected counted: recent %s", got)
	}
	m.Record(3 * time.Second)
	if m.Recent() != 3*time.Second {
		t.Fatalf("recorded 3s, recent %s", m.Recent())
	}
	var none *Meter
	if none.Recent() != 0 {
		t.Fatal("a nil meter reports lateness")
	}
}
