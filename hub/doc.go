// Package hub is wsd's notification backend: users with any number of
// connections, rooms, sends to one user, a room or everyone, an HTTP
// publish API, per-user history so that a client that was away resumes
// with ?since=SEQ without losing or repeating a message, per-user unread
// counts, polling endpoints over the same history, and the demo pages.
//
// Wire format. Messages published to a user arrive as JSON text frames:
//
//	{"type":"message","seq":7,"unread":3,"time":"2026-…","data":<body>}
//
// where data is the body itself when it is JSON, else a JSON string; a
// binary publish arrives as a binary frame of the 8-byte big-endian seq
// followed by the body. On connect a user first gets
//
//	{"type":"hello","user":"u1","seq":LAST,"unread":N,"online":K}
//
// then, with ?since=S, every kept message after S in order, preceded by
// {"type":"gap","since":S,"first":F} when messages between S and F are no
// longer kept. Room and broadcast messages are the body as sent (text, or
// binary with ?binary=1), encoded once for all recipients. Clients may send
// {"type":"join","room":R}, {"type":"leave","room":R}, {"type":"read"}
// (unread back to 0 on all the user's connections) and
// {"type":"say","room":R,"data":…}.
package hub
