// Package deflate compresses and inflates WebSocket messages for the
// permessage-deflate extension (RFC 7692 §7.2) at zero idle memory.
//
// One Compressor and one Decompressor serve an event loop: every message
// of every connection goes through them in turn, so a connection holds no
// compression state of its own. Context takeover (§7.1.1) is kept by the
// connection as the last 2^W bytes it sent or received (AppendWindow) and
// given back as the dictionary of its next message: a DEFLATE stream
// primed with the last 2^W bytes of what came before decodes exactly as the
// continued stream would, since no back-reference reaches further than
// 2^W bytes (§7.1.2). Without takeover the dictionary is nil and a
// connection keeps nothing at all.
//
// Inflating is bounded: output goes into buffers lent by a frame.Buffers
// (the server's memory budget) and stops with ErrTooBig the moment it
// would pass the message size limit: a small bomb never inflates past the
// limit, and the Buffers lend at most limit + ⌈limit/2⌉ bytes for it (while
// the last buffer is filled from the one it outgrew). Errors are *Error
// values with the close code to answer:
// ErrTooBig (1009) and ErrCorrupt (1007); match them with errors.Is.
package deflate
