package hub

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/wsd-dev/wsd/internal/jsonw"
)

// The hub's wire format, in one place. Every message the hub sends is one
// of these envelopes, a JSON object whose "type" says which; each encodes
// itself with AppendJSON, allocating nothing beyond the buffer it is given.
// (Binary messages published to a user go out as binary frames, see
// AppendBinaryMessage.)

// Hello opens every user connection.
type Hello struct {
	User   string
	Seq    uint64 // the user's last sequence number
	First  uint64 // the oldest still kept (Seq+1 when none is)
	Unread int64
	Online int // the user's connections, this one included
}

// AppendJSON appends {"type":"hello",…}.
func (m Hello) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"hello","user":`...)
	b = appendString(b, m.User)
	b = appendUint(b, `,"seq":`, m.Seq)
	b = appendUint(b, `,"first":`, m.First)
	b = appendInt(b, `,"unread":`, m.Unread)
	b = appendInt(b, `,"online":`, int64(m.Online))
	return append(b, '}')
}

// Message is a message published to a user.
type Message struct {
	Seq    uint64
	Unread int64 // the user's unread count when it was sent
	Time   time.Time
	Body   []byte
	Binary bool // in JSON the body is then base64 in "binary"
}

// AppendJSON appends {"type":"message",…,"data":…}: data is the body
// itself when it is JSON, else a JSON string; a binary body is base64 in
// "binary" instead.
func (m Message) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"message"`...)
	b = appendUint(b, `,"seq":`, m.Seq)
	b = appendInt(b, `,"unread":`, m.Unread)
	b = append(b, `,"time":"`...)
	b = m.Time.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendBody(b, m.Body, m.Binary)
	return append(b, '}')
}

// AppendBinaryMessage appends the binary-frame form of a binary message:
// the 8-byte big-endian sequence number, then the body.
func AppendBinaryMessage(b []byte, seq uint64, body []byte) []byte {
	b = append(b, byte(seq>>56), byte(seq>>48), byte(seq>>40), byte(seq>>32), byte(seq>>24), byte(seq>>16), byte(seq>>8), byte(seq))
	return append(b, body...)
}

// Gap tells a resuming client that messages after Since are no longer
// kept: the oldest kept is First.
type Gap struct{ Since, First uint64 }

// AppendJSON appends {"type":"gap",…}.
func (m Gap) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"gap"`...)
	b = appendUint(b, `,"since":`, m.Since)
	b = appendUint(b, `,"first":`, m.First)
	return append(b, '}')
}

// Unread is the user's unread count, sent to all its connections when it
// changes other than by a message (a "read" from one of them).
type Unread struct {
	Unread int64
	Seq    uint64
}

// AppendJSON appends {"type":"unread",…}.
func (m Unread) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"unread"`...)
	b = appendInt(b, `,"unread":`, m.Unread)
	b = appendUint(b, `,"seq":`, m.Seq)
	return append(b, '}')
}

// RoomMessage is a message to a room: from a member's "say" (From is its
// user), or from the API (From empty, omitted).
type RoomMessage struct {
	Room, From string
	Body       []byte
	Binary     bool
}

// AppendJSON appends {"type":"room",…}.
func (m RoomMessage) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"room","room":`...)
	b = appendString(b, m.Room)
	if m.From != "" {
		b = append(b, `,"from":`...)
		b = appendString(b, m.From)
	}
	b = appendBody(b, m.Body, m.Binary)
	return append(b, '}')
}

// Broadcast is a message to every user connection.
type Broadcast struct {
	Body   []byte
	Binary bool
}

// AppendJSON appends {"type":"broadcast",…}.
func (m Broadcast) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"broadcast"`...)
	b = appendBody(b, m.Body, m.Binary)
	return append(b, '}')
}

// RoomEvent answers a join or leave: Type is "joined" or "left".
type RoomEvent struct{ Type, Room string }

// AppendJSON appends {"type":"joined"|"left","room":…}.
func (m RoomEvent) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":`...)
	b = appendString(b, m.Type)
	b = append(b, `,"room":`...)
	b = appendString(b, m.Room)
	return append(b, '}')
}

// Error answers a client message the hub could not take; nothing changed.
type Error struct{ Message string }

// AppendJSON appends {"type":"error","message":…}.
func (m Error) AppendJSON(b []byte) []byte {
	b = append(b, `{"type":"error","message":`...)
	b = appendString(b, m.Message)
	return append(b, '}')
}

// Expired tells a connection its token expired: it is closed with 4001
// right after, unless a refresh came first.
type Expired struct{}

// AppendJSON appends {"type":"expired"}.
func (Expired) AppendJSON(b []byte) []byte { return append(b, `{"type":"expired"}`...) }

// Refreshed answers a good refresh: the new expiry, Unix seconds.
type Refreshed struct{ Exp int64 }

// AppendJSON appends {"type":"refreshed","exp":…}.
func (m Refreshed) AppendJSON(b []byte) []byte {
	b = appendInt(append(b, `{"type":"refreshed"`...), `,"exp":`, m.Exp)
	return append(b, '}')
}

// ClientMessage is what a client may send: {"type":"join"|"leave",
// "room":R}, {"type":"say","room":R,"data":…}, {"type":"read"},
// {"type":"refresh","token":T}.
type ClientMessage struct {
	Type  string          `json:"type"`
	Room  string          `json:"room"`
	Data  json.RawMessage `json:"data"`
	Token string          `json:"token"`
}

// appendBody appends ,"data":… or ,"binary":"base64".
func appendBody(b, body []byte, binary bool) []byte {
	if binary {
		b = append(b, `,"binary":"`...)
		b = base64.StdEncoding.AppendEncode(b, body)
		return append(b, '"')
	}
	b = append(b, `,"data":`...)
	return appendData(b, body)
}

// appendData embeds a body: as is when it is JSON, else as a JSON string.
func appendData(b, body []byte) []byte {
	if len(body) > 0 && json.Valid(body) {
		return append(b, body...)
	}
	return appendString(b, body)
}

func appendUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(b, key...), v, 10)
}

func appendInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

func appendString[T string | []byte](b []byte, s T) []byte { return jsonw.AppendString(b, s) }
