// Package frame implements the RFC 6455 §5 base framing protocol as pure byte
// code: header encode and decode, masking, an incremental frame reader that
// accepts any chunking, message reassembly with a size limit, validation of
// every rule of §5 and §8.1, the §7.4 close-code table and a dump renderer for
// teaching. It opens no sockets and starts no goroutines, so the server, the
// load client and the dump tool share it.
package frame
