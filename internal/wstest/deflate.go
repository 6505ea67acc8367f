package wstest

import (
	"bytes"
	"compress/flate"
	"io"
)

// Deflate compresses b as a permessage-deflate message body with no
// context, with the standard library (independent of package deflate,
// which uses klauspost/compress): raw DEFLATE flushed with an empty
// stored block, whose 00 00 ff ff tail is removed (RFC 7692 §7.2.1).
func Deflate(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed) // a valid level: no error
	w.Write(b)
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// Inflate decompresses a permessage-deflate message body sent with no
// context: the removed tail is put back (§7.2.2), then a final empty
// block ends the stream.
func Inflate(z []byte) ([]byte, error) {
	r := flate.NewReader(io.MultiReader(bytes.NewReader(z), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
	return io.ReadAll(r)
}

// DeflateDict compresses b as a message sent with context takeover: dict,
// the last bytes of what this side sent compressed before (at most the
// agreed window, RFC 7692 §7.1.2.2), primes the window so that references
// may reach into it (§7.2.3.2). It compresses at the standard library's
// default level: its level 1 ignores a dictionary.
func DeflateDict(b, dict []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriterDict(&buf, flate.DefaultCompression, dict) // a valid level: no error
	w.Write(b)
	w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// InflateDict is Inflate for a message sent with context takeover: dict
// holds what the peer sent compressed before. A reference further back
// than dict reaches fails as corrupt input, so a dict of exactly the last
// 2^bits bytes checks that the sender kept to its window of 2^bits.
func InflateDict(z, dict []byte) ([]byte, error) {
	r := flate.NewReaderDict(io.MultiReader(bytes.NewReader(z), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})), dict)
	return io.ReadAll(r)
}
