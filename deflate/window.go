package deflate

// AppendWindow returns window followed by data, cut to its last 2^bits
// bytes (bits 8..15; others are clamped): what a connection with context
// takeover keeps of one direction between messages, to prime the next one
// (RFC 7692 §7.1.1: the LZ77 window of 2^bits bytes, §7.1.2). It works in
// place; only a window whose capacity is short allocates, once, exactly
// 2^bits bytes, so that a connection's window never grows past that nor
// reallocates afterwards. data must not overlap window.
func AppendWindow(window, data []byte, bits uint8) []byte {
	size := 1 << min(max(bits, 8), 15)
	if len(data) >= size {
		data = data[len(data)-size:]
		window = window[:0]
	} else if keep := size - len(data); len(window) > keep {
		window = window[:copy(window, window[len(window)-keep:])]
	}
	if len(window)+len(data) > cap(window) {
		w := make([]byte, len(window), size)
		copy(w, window)
		window = w
	}
	return append(window, data...)
}
