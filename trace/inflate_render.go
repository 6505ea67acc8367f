package trace

import (
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/internal/jsonw"
)

// appendText shows a compressed message beside what it inflated to: the
// two sizes in one column, then the ratio and the window it was inflated
// after.
func (in *Inflation) appendText(dst []byte, text bool, maxShow int) []byte {
	zsize := strconv.FormatInt(in.CompressedLen, 10) + " bytes"
	if in.Fragments > 1 {
		zsize += " in " + strconv.Itoa(in.Fragments) + " frames, joined"
	}
	var isize string
	if in.OK {
		isize = strconv.FormatInt(in.InflatedLen, 10) + " bytes"
	}
	width := max(len(zsize), len(isize))
	pad := func(s string) string { return s + strings.Repeat(" ", width-len(s)+2) }
	const label = 14 // "  compressed  "
	dst = append(dst, "  compressed  "...)
	dst = append(dst, pad(zsize)...)
	dst = appendHexIndent(dst, in.Compressed, maxShow, label+width+2)
	dst = append(dst, "\n  inflated    "...)
	switch {
	case in.OK:
		dst = append(dst, pad(isize)...)
		if text {
			dst = strconv.AppendQuote(dst, string(clip(in.Inflated, maxShow)))
			if maxShow > 0 && len(in.Inflated) > maxShow {
				dst = append(dst, " …"...)
			}
		} else {
			dst = appendHexIndent(dst, in.Inflated, maxShow, label+width+2)
		}
		dst = append(dst, "\n  ratio       "...)
		dst = append(dst, describeRatio(in)...)
	case in.Bomb > 0:
		dst = append(dst, "BOMB: more than "...)
		dst = strconv.AppendInt(dst, in.Bomb, 10)
		dst = append(dst, " bytes (the size limit) from "...)
		dst = strconv.AppendInt(dst, in.CompressedLen, 10)
		dst = append(dst, " compressed bytes; stopped at the limit, never inflated past it (a receiver closes with 1009, RFC 6455 §7.4.1)"...)
	case in.TooBig > 0:
		dst = append(dst, "not inflated: the compressed payload alone is over the size limit of "...)
		dst = strconv.AppendInt(dst, in.TooBig, 10)
		dst = append(dst, " bytes (a receiver closes with 1009, RFC 6455 §7.4.1)"...)
	case in.Failed:
		dst = append(dst, "✗ does not inflate (the violation below)"...)
	default:
		dst = append(dst, "not inflated: "...)
		dst = append(dst, in.NotInflated...)
	}
	if in.Takeover && in.NotInflated == "" && in.TooBig == 0 {
		dst = append(dst, "\n  window      inflated after "...)
		dst = strconv.AppendInt(dst, int64(in.Window), 10)
		dst = append(dst, " bytes of this direction's earlier messages (context takeover, RFC 7692 §7.1.1; at most 2^"...)
		dst = strconv.AppendUint(dst, uint64(in.WindowBits), 10)
		dst = append(dst, " kept)"...)
	}
	return append(dst, '\n')
}

// appendJSON adds the wsd.deflate fields of a compressed message (the
// inflated message itself goes where Wireshark puts it: text or data).
func (in *Inflation) appendJSON(dst []byte) []byte {
	dst = jsonKey(dst, "wsd.deflate.compressed", false)
	dst = jsonHex(dst, in.Compressed)
	dst = jsonKey(dst, "wsd.deflate.compressed_length", false)
	dst = strconv.AppendInt(dst, in.CompressedLen, 10)
	dst = jsonKey(dst, "wsd.deflate.frames", false)
	dst = strconv.AppendInt(dst, int64(in.Fragments), 10)
	if in.OK {
		dst = jsonKey(dst, "wsd.deflate.inflated_length", false)
		dst = strconv.AppendInt(dst, in.InflatedLen, 10)
		if in.InflatedLen > 0 {
			dst = jsonKey(dst, "wsd.deflate.ratio", false)
			dst = strconv.AppendFloat(dst, in.Ratio(), 'f', 4, 64)
		}
	}
	if in.Takeover {
		dst = jsonKey(dst, "wsd.deflate.window", false)
		dst = strconv.AppendInt(dst, int64(in.Window), 10)
		dst = jsonKey(dst, "wsd.deflate.window_bits", false)
		dst = strconv.AppendUint(dst, uint64(in.WindowBits), 10)
	}
	switch {
	case in.Bomb > 0:
		dst = jsonKey(dst, "wsd.deflate.bomb", false)
		dst = append(dst, "true"...)
		dst = jsonKey(dst, "wsd.deflate.limit", false)
		dst = strconv.AppendInt(dst, in.Bomb, 10)
	case in.TooBig > 0:
		dst = jsonKey(dst, "wsd.deflate.too_big", false)
		dst = append(dst, "true"...)
		dst = jsonKey(dst, "wsd.deflate.limit", false)
		dst = strconv.AppendInt(dst, in.TooBig, 10)
	case in.Failed:
		// Wireshark's expert info when zlib fails on the payload.
		dst = jsonKey(dst, "websocket.decompression.failed.expert", false)
		dst = append(dst, "true"...)
	case in.NotInflated != "":
		dst = jsonKey(dst, "wsd.deflate.not_inflated", false)
		dst = jsonw.AppendString(dst, []byte(in.NotInflated))
	}
	return dst
}
