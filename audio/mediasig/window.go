package mediasig

// Window is how far behind the newest packet released a packet may still
// be released (once): 256 packets, 5.1 s of 20 ms audio. Older ones are
// refused as replays or as reordered beyond the window.
const Window = 256

// window remembers which extended sequence numbers in the last Window
// were used (signed, or released), like SRTP's replay list.
type window struct {
	started bool
	high    uint64
	bits    [Window / 64]uint64 // bit d: high-d is in
}

// tooOld reports whether ext fell out of the window.
func (w *window) tooOld(ext uint64) bool {
	return w.started && ext < w.high && w.high-ext >= Window
}

// has reports whether ext is in, or too old to tell.
func (w *window) has(ext uint64) bool {
	if !w.started || ext > w.high {
		return false
	}
	d := w.high - ext
	return d >= Window || w.bits[d/64]&(1<<(d%64)) != 0
}

// add puts ext in, sliding the window if it is the newest.
func (w *window) add(ext uint64) {
	if !w.started {
		w.started, w.high, w.bits = true, ext, [Window / 64]uint64{1}
		return
	}
	if ext > w.high {
		w.slide(ext - w.high)
		w.high = ext
		w.bits[0] |= 1
		return
	}
	if d := w.high - ext; d < Window {
		w.bits[d/64] |= 1 << (d % 64)
	}
}

func (w *window) slide(n uint64) {
	if n >= Window {
		w.bits = [Window / 64]uint64{}
		return
	}
	words, rem := int(n/64), n%64
	for i := len(w.bits) - 1; i >= 0; i-- {
		var v uint64
		if i-words >= 0 {
			v = w.bits[i-words] << rem
			if rem != 0 && i-words-1 >= 0 {
				v |= w.bits[i-words-1] >> (64 - rem)
			}
		}
		w.bits[i] = v
	}
}
