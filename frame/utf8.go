package frame

import (
	"encoding/binary"
	"unicode/utf8"
)

// UTF8State is the state of an incremental UTF-8 validator (RFC 3629, as
// RFC 6455 §8.1 requires of text messages). The zero value is the start
// state. It lets a text message be validated as its bytes arrive, across
// frames and read boundaries, and fail at the first byte that cannot be
// part of valid UTF-8 rather than at the end of the message.
type UTF8State uint8

// States: how many continuation bytes are still expected, and for the
// second byte of some sequences, a narrower range than 80-BF (RFC 3629 §4:
// no overlong forms, no surrogates, nothing above U+10FFFF).
const (
	utf8Accept  UTF8State = iota
	utf8Need1             // 80-BF, then accept
	utf8Need2             // 80-BF, then need1
	utf8Need3             // 80-BF, then need2
	utf8AfterE0           // A0-BF, then need1
	utf8AfterED           // 80-9F, then need1
	utf8AfterF0           // 90-BF, then need2
	utf8AfterF4           // 80-8F, then need2
	utf8Reject
)

// Complete reports whether the input so far ends on a rune boundary with
// nothing invalid: a message may end here.
func (s UTF8State) Complete() bool { return s == utf8Accept }

// step advances the state by one byte.
func (s UTF8State) step(c byte) UTF8State {
	switch s {
	case utf8Accept:
		switch {
		case c < 0x80:
			return utf8Accept
		case c < 0xC2:
			return utf8Reject
		case c < 0xE0:
			return utf8Need1
		case c == 0xE0:
			return utf8AfterE0
		case c == 0xED:
			return utf8AfterED
		case c < 0xF0:
			return utf8Need2
		case c == 0xF0:
			return utf8AfterF0
		case c < 0xF4:
			return utf8Need3
		case c == 0xF4:
			return utf8AfterF4
		}
		return utf8Reject
	case utf8AfterE0:
		if c >= 0xA0 && c <= 0xBF {
			return utf8Need1
		}
	case utf8AfterED:
		if c >= 0x80 && c <= 0x9F {
			return utf8Need1
		}
	case utf8AfterF0:
		if c >= 0x90 && c <= 0xBF {
			return utf8Need2
		}
	case utf8AfterF4:
		if c >= 0x80 && c <= 0x8F {
			return utf8Need2
		}
	case utf8Need1, utf8Need2, utf8Need3:
		if c >= 0x80 && c <= 0xBF {
			return s - 1
		}
	}
	return utf8Reject
}

const asciiMask = 0x8080808080808080

// Feed validates b as the continuation of the input seen so far. It returns
// the new state and, if b holds a byte that makes the input invalid, that
// byte's index in b (or -1 if all is well): the same byte however the
// input is split, so that what is reported does not depend on the reads.
// A state that is not Complete at the end of b is not an error: the next
// chunk may finish the rune.
func (s UTF8State) Feed(b []byte) (UTF8State, int) {
	i := 0
	// Finish a rune left open by the previous chunk, one byte at a time.
	for s != utf8Accept {
		if i == len(b) {
			return s, -1
		}
		if s = s.step(b[i]); s == utf8Reject {
			return s, i
		}
		i++
	}
	for i < len(b) {
		// ASCII runs, 16 then 8 bytes at a time.
		for len(b)-i >= 16 && (binary.LittleEndian.Uint64(b[i:])|binary.LittleEndian.Uint64(b[i+8:]))&asciiMask == 0 {
			i += 16
		}
		if len(b)-i >= 8 && binary.LittleEndian.Uint64(b[i:])&asciiMask == 0 {
			i += 8
		}
		if i == len(b) {
			break
		}
		c := b[i]
		if c < 0x80 {
			i++
			continue
		}
		if len(b)-i >= utf8.UTFMax {
			// A whole sequence is in reach: let the standard decoder judge it.
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				// Find the byte the state machine rejects (within 4).
				for s = utf8Accept; ; i++ {
					if s = s.step(b[i]); s == utf8Reject {
						return s, i
					}
				}
			}
			i += size
			continue
		}
		// The last few bytes may stop mid-rune: walk them with the state machine.
		for ; i < len(b); i++ {
			if s = s.step(b[i]); s == utf8Reject {
				return s, i
			}
		}
		return s, -1
	}
	return s, -1
}
