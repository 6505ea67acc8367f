// Package tlsrec is a TLS 1.3 record layer (RFC 8446 §5) for connections
// whose handshake was done by crypto/tls: given the negotiated cipher suite
// and the two application traffic secrets, it opens and seals the records
// that follow the handshake. It is pure byte code — no sockets, no
// goroutines — so that an event loop can run it on its own buffers:
//
//   - Open decrypts every complete record of a buffer in place and gathers
//     the application data at the front of the same buffer; a partial record
//     at the end is left for the caller to keep until more bytes arrive.
//   - Seal appends records to the caller's buffer, sealing in place.
//
// Neither allocates per record. Cipher suites: TLS_AES_128_GCM_SHA256,
// TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256. Keys and IVs are
// derived with HKDF-Expand-Label (§7.1, §7.3); the per-record nonce is the
// IV XOR the 64-bit sequence number (§5.3); the inner plaintext carries
// its content type and may be padded (§5.4). A KeyUpdate from the peer
// rotates the read keys, and one that asks for ours makes the next Seal
// send our KeyUpdate first (§4.6.3); Seal also updates its keys on its own
// before an AES-GCM key reaches its record limit (§5.5). close_notify ends
// the data (Result.CloseNotify); any other alert from the peer, and every
// violation found here, is an *AlertError.
//
// The read half (Open) and the write half (Seal and the Seal* helpers) may
// run at the same time on two goroutines; each half is for one goroutine at
// a time.
package tlsrec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"hash"
	"slices"
	"strconv"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes (RFC 8446 §5.1, §5.2).
const (
	HeaderLen     = 5                         // content type, legacy version, length
	MaxPlaintext  = 1 << 14                   // application data per record
	MaxCiphertext = MaxPlaintext + 256        // TLSCiphertext.length at most
	MaxRecord     = HeaderLen + MaxCiphertext // a whole record at most
	tagLen        = 16                        // every suite here
	// Overhead is what Seal adds to each record's plaintext: the header,
	// the inner content type and the AEAD tag.
	Overhead = HeaderLen + 1 + tagLen
	// KeyUpdateLen is the size of a sealed KeyUpdate record.
	KeyUpdateLen = Overhead + 5
)

// Record content types (§5.1).
const (
	typeChangeCipherSpec = 20
	typeAlert            = 21
	typeHandshake        = 22
	typeApplicationData  = 23
)

// Post-handshake message types (§4).
const (
	msgNewSessionTicket = 4
	msgKeyUpdate        = 24
)

// maxUseless is how many records in a row may carry no application data
// (empty records, user_canceled, handshake messages) before the peer is
// taken for a flood, as crypto/tls does.
const maxUseless = 16

// maxHand caps a post-handshake message split over records.
const maxHand = 1 << 17

// Alert is a TLS alert description (§6).
type Alert uint8

// The alerts this package sends or recognises.
const (
	AlertCloseNotify       Alert = 0
	AlertUnexpectedMessage Alert = 10
	AlertBadRecordMAC      Alert = 20
	AlertRecordOverflow    Alert = 22
	AlertIllegalParameter  Alert = 47
	AlertDecodeError       Alert = 50
	AlertInternalError     Alert = 80
	AlertUserCanceled      Alert = 90
)

var alertNames = map[Alert]string{
	AlertCloseNotify: "close_notify", AlertUnexpectedMessage: "unexpected_message", AlertBadRecordMAC: "bad_record_mac",
	AlertRecordOverflow: "record_overflow", AlertIllegalParameter: "illegal_parameter", AlertDecodeError: "decode_error",
	AlertInternalError: "internal_error", AlertUserCanceled: "user_canceled",
	40: "handshake_failure", 42: "bad_certificate", 46: "certificate_unknown", 48: "unknown_ca", 70: "protocol_version",
}

func (a Alert) String() string {
	if s, ok := alertNames[a]; ok {
		return s
	}
	return "alert(" + strconv.Itoa(int(a)) + ")"
}

// AlertError ends a connection: the peer sent a fatal alert (Remote), or
// Open found a violation, which the caller should report to the peer with
// SealAlert(Alert) before closing.
type AlertError struct {
	Alert  Alert
	Remote bool
}

func (e *AlertError) Error() string {
	if e.Remote {
		return "tls: the peer sent alert " + e.Alert.String()
	}
	return "tls: " + e.Alert.String()
}

func local(a Alert) error { return &AlertError{Alert: a} }

// suite is a TLS 1.3 cipher suite: its AEAD and its hash.
type suite struct {
	id      uint16
	keyLen  int
	hashLen int
	hash    func() hash.Hash
	aead    func(key []byte) (cipher.AEAD, error)
	limit   uint64 // records per key before Seal updates its keys (§5.5); 0: none
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// gcmLimit keeps an AES-GCM key well under the 2^24.5 full-size records
// of §5.5.
const gcmLimit = 1 << 24

var suites = [...]suite{
	{tls.TLS_AES_128_GCM_SHA256, 16, 32, sha256.New, newGCM, gcmLimit},
	{tls.TLS_AES_256_GCM_SHA384, 32, 48, sha512.New384, newGCM, gcmLimit},
	{tls.TLS_CHACHA20_POLY1305_SHA256, 32, 32, sha256.New, chacha20poly1305.New, 0},
}

func suiteByID(id uint16) *suite {
	for i := range suites {
		if suites[i].id == id {
			return &suites[i]
		}
	}
	return nil
}

// Supported reports whether the cipher suite is one this package runs.
func Supported(id uint16) bool { return suiteByID(id) != nil }

// expandLabel is HKDF-Expand-Label with an empty context (§7.1).
func expandLabel(s *suite, secret []byte, label string, n int) ([]byte, error) {
	var info [2 + 1 + 6 + 12 + 1]byte // the longest label here is "traffic upd"
	b := binary.BigEndian.AppendUint16(info[:0], uint16(n))
	b = append(b, byte(6+len(label)))
	b = append(b, "tls13 "...)
	b = append(b, label...)
	b = append(b, 0)
	return hkdf.Expand(s.hash, secret, string(b), n)
}

// half is one direction's protection: the traffic secret, its key and IV,
// the sequence number and the AEAD (nil until needed, or after Drop).
type half struct {
	aead   cipher.AEAD
	seq    uint64
	nonce  [12]byte // the current record's nonce: here, not on the stack, which an interface call would move to the heap
	iv     [12]byte
	key    [32]byte
	secret [48]byte
}

// set installs a traffic secret: key and IV derived, sequence at 0 (§5.3).
func (h *half) set(s *suite, secret []byte) error {
	if len(secret) != s.hashLen {
		return errors.New("tlsrec: traffic secret of " + strconv.Itoa(len(secret)) + " bytes, want " + strconv.Itoa(s.hashLen))
	}
	key, err := expandLabel(s, secret, "key", s.keyLen)
	if err != nil {
		return err
	}
	iv, err := expandLabel(s, secret, "iv", 12)
	if err != nil {
		return err
	}
	copy(h.secret[:], secret)
	copy(h.key[:], key)
	copy(h.iv[:], iv)
	h.seq, h.aead = 0, nil
	return nil
}

// update moves to the next traffic secret (§7.2).
func (h *half) update(s *suite) error {
	next, err := expandLabel(s, h.secret[:s.hashLen], "traffic upd", s.hashLen)
	if err != nil {
		return err
	}
	return h.set(s, next)
}

// cipher returns the AEAD, making it when it was dropped.
func (h *half) cipher(s *suite) cipher.AEAD {
	if h.aead == nil {
		a, err := s.aead(h.key[:s.keyLen])
		if err != nil {
			panic("tlsrec: " + err.Error()) // key lengths are the suite's own
		}
		h.aead = a
	}
	return h.aead
}

// makeNonce sets h.nonce to the IV XOR the sequence number (§5.3).
func (h *half) makeNonce() {
	h.nonce = h.iv
	x := binary.BigEndian.Uint64(h.nonce[4:]) ^ h.seq
	binary.BigEndian.PutUint64(h.nonce[4:], x)
}

// seal protects the record that starts at dst[start] (a header, then the
// inner plaintext up to len(dst)) in place. dst has room for the tag.
func (h *half) seal(s *suite, dst []byte, start int) []byte {
	pt := dst[start+HeaderLen:]
	n := len(pt) + tagLen
	dst[start+3], dst[start+4] = byte(n>>8), byte(n)
	h.makeNonce()
	out := h.cipher(s).Seal(pt[:0], h.nonce[:], pt, dst[start:start+HeaderLen])
	h.seq++
	return dst[:start+HeaderLen+len(out)]
}

// Conn is the record layer of one connection after its handshake.
type Conn struct {
	s           *suite
	in, out     half
	hand        []byte // a post-handshake message split over records; nil normally
	useless     uint8  // records in a row without application data
	server      bool
	updateAfter uint64      // Seal updates its keys once out.seq reaches this
	peerAsked   atomic.Bool // the peer asked for our KeyUpdate: Seal sends it first
}

// Init sets c up for cipher suite id with the application traffic
// secrets (readSecret: the peer's, writeSecret: ours), both sequence
// numbers at 0. server says which side this is (a client ignores the
// server's NewSessionTicket messages).
func (c *Conn) Init(id uint16, readSecret, writeSecret []byte, server bool) error {
	s := suiteByID(id)
	if s == nil {
		return errors.New("tlsrec: cipher suite " + tls.CipherSuiteName(id) + " is not a TLS 1.3 suite this package runs")
	}
	*c = Conn{s: s, server: server, updateAfter: s.limit}
	if s.limit == 0 {
		c.updateAfter = ^uint64(0)
	}
	if err := c.in.set(s, readSecret); err != nil {
		return err
	}
	return c.out.set(s, writeSecret)
}

// Suite returns the cipher suite's id.
func (c *Conn) Suite() uint16 { return c.s.id }

// Seqs returns the sequence numbers of the next record read and written.
func (c *Conn) Seqs() (read, write uint64) { return c.in.seq, c.out.seq }

// Drop lets the AEAD objects go (they are made again for the next record):
// an idle connection then keeps only its secrets, keys and sequence
// numbers. Neither half may be in use.
func (c *Conn) Drop() { c.in.aead, c.out.aead = nil, nil }

// Holding reports whether c holds AEAD objects (made on the first record
// after Init or Drop).
func (c *Conn) Holding() bool { return c.in.aead != nil || c.out.aead != nil }

// Result is what Open did with a buffer.
type Result struct {
	N    int // application data gathered at buf[:N]
	Used int // bytes of buf consumed: whole records; buf[Used:] is the start of a record still incomplete
	// UpdateRequested: the peer updated its keys and asked for ours; the
	// next Seal sends our KeyUpdate before any data (call Seal with no
	// data to send it at once).
	UpdateRequested bool
	// CloseNotify: the peer closed its side (close_notify); buf[:N] is
	// the last of its data and what followed the alert was not read.
	CloseNotify bool
}

// Open decrypts the complete records at the start of buf in place and
// gathers their application data at buf[:N]. It stops at an incomplete
// record, at close_notify, or at an error; records before the error
// were opened and their data gathered.
func (c *Conn) Open(buf []byte) (r Result, err error) {
	for {
		rec := buf[r.Used:]
		if len(rec) < HeaderLen {
			return r, nil
		}
		if rec[0] != typeApplicationData {
			return r, local(AlertUnexpectedMessage) // a plaintext record (or a late change_cipher_spec) after the handshake
		}
		if rec[1] != 3 || rec[2] != 3 {
			return r, local(AlertDecodeError)
		}
		n := int(rec[3])<<8 | int(rec[4])
		if n > MaxCiphertext {
			return r, local(AlertRecordOverflow)
		}
		if len(rec) < HeaderLen+n {
			return r, nil
		}
		rec = rec[:HeaderLen+n]
		if c.in.seq == ^uint64(0) {
			return r, local(AlertInternalError) // §5.3: the sequence number must not wrap
		}
		c.in.makeNonce()
		pt, oerr := c.in.cipher(c.s).Open(rec[HeaderLen:HeaderLen], c.in.nonce[:], rec[HeaderLen:], rec[:HeaderLen])
		if oerr != nil {
			return r, local(AlertBadRecordMAC)
		}
		c.in.seq++
		r.Used += len(rec)
		if len(pt) > MaxPlaintext+1 {
			return r, local(AlertRecordOverflow)
		}
		// The content type is the last non-zero byte; zeros after it are
		// padding (§5.4).
		i := len(pt) - 1
		for i >= 0 && pt[i] == 0 {
			i--
		}
		if i < 0 {
			return r, local(AlertUnexpectedMessage)
		}
		typ := pt[i]
		pt = pt[:i]
		if typ != typeHandshake && c.hand != nil {
			return r, local(AlertUnexpectedMessage) // a handshake message left unfinished
		}
		switch typ {
		case typeApplicationData:
			if len(pt) == 0 {
				if err := c.uselessRecord(); err != nil {
					return r, err
				}
				continue
			}
			c.useless = 0
			r.N += copy(buf[r.N:], pt)
		case typeAlert:
			if len(pt) != 2 {
				return r, local(AlertDecodeError)
			}
			switch Alert(pt[1]) {
			case AlertCloseNotify:
				r.CloseNotify = true
				return r, nil
			case AlertUserCanceled: // the one warning TLS 1.3 keeps (§6.1)
				if err := c.uselessRecord(); err != nil {
					return r, err
				}
			default:
				return r, &AlertError{Alert: Alert(pt[1]), Remote: true}
			}
		case typeHandshake:
			if len(pt) == 0 {
				return r, local(AlertUnexpectedMessage)
			}
			if err := c.uselessRecord(); err != nil {
				return r, err
			}
			asked, err := c.handshake(pt)
			if err != nil {
				return r, err
			}
			r.UpdateRequested = r.UpdateRequested || asked
		default:
			return r, local(AlertUnexpectedMessage)
		}
	}
}

func (c *Conn) uselessRecord() error {
	if c.useless++; c.useless > maxUseless {
		return local(AlertUnexpectedMessage)
	}
	return nil
}

// handshake takes the handshake bytes of one record: whole messages, the
// rest of one split before, the start of one split after.
func (c *Conn) handshake(p []byte) (asked bool, err error) {
	if c.hand != nil {
		if len(c.hand)+len(p) > maxHand {
			return false, local(AlertUnexpectedMessage)
		}
		c.hand = append(c.hand, p...)
		p = c.hand
	}
	for len(p) > 0 {
		if len(p) < 4 {
			break
		}
		n := int(p[1])<<16 | int(p[2])<<8 | int(p[3])
		if 4+n > maxHand {
			return false, local(AlertUnexpectedMessage)
		}
		if len(p) < 4+n {
			break
		}
		msg, body := p[0], p[4:4+n]
		p = p[4+n:]
		switch {
		case msg == msgKeyUpdate:
			if n != 1 {
				return false, local(AlertDecodeError)
			}
			if body[0] > 1 {
				return false, local(AlertIllegalParameter) // §4.6.3
			}
			if len(p) > 0 {
				return false, local(AlertUnexpectedMessage) // a key change must end its record (§5.1)
			}
			if err := c.in.update(c.s); err != nil {
				return false, local(AlertInternalError)
			}
			if body[0] == 1 {
				c.peerAsked.Store(true)
				asked = true
			}
		case msg == msgNewSessionTicket && !c.server:
			// Resumption is not offered by the clients that run this
			// layer: the ticket is dropped.
		default:
			return false, local(AlertUnexpectedMessage)
		}
	}
	if len(p) == 0 {
		c.hand = nil
	} else if c.hand == nil || &p[0] != &c.hand[0] {
		c.hand = append(make([]byte, 0, len(p)), p...)
	}
	return asked, nil
}

// SealedSize is what Seal appends for n bytes of data (without a
// KeyUpdate in front).
func SealedSize(n int) int {
	return n + (n+MaxPlaintext-1)/MaxPlaintext*Overhead
}

// Seal appends records carrying the concatenation of parts as
// application data, MaxPlaintext bytes each at most, to dst, preceded by
// our KeyUpdate when the peer asked for one or our write key reached its
// limit. It allocates only when dst lacks the room (SealedSize plus
// 2·KeyUpdateLen).
func (c *Conn) Seal(dst []byte, parts ...[]byte) []byte {
	total := 0
	for _, p := range parts {
		total += len(p)
	}
	dst = slices.Grow(dst, SealedSize(total)+2*KeyUpdateLen)
	if c.peerAsked.Load() && c.peerAsked.Swap(false) {
		dst = c.sealKeyUpdate(dst, false)
	}
	i, off := 0, 0
	for total > 0 {
		n := min(total, MaxPlaintext)
		total -= n
		if c.out.seq >= c.updateAfter {
			dst = c.sealKeyUpdate(dst, false)
		}
		start := len(dst)
		dst = append(dst, typeApplicationData, 3, 3, 0, 0)
		for n > 0 {
			for off == len(parts[i]) {
				i, off = i+1, 0
			}
			k := min(n, len(parts[i])-off)
			dst = append(dst, parts[i][off:off+k]...)
			off += k
			n -= k
		}
		dst = append(dst, typeApplicationData)
		dst = c.out.seal(c.s, dst, start)
	}
	return dst
}

// sealRecord appends one record of content type typ carrying p.
func (c *Conn) sealRecord(dst []byte, typ byte, p []byte) []byte {
	dst = slices.Grow(dst, len(p)+Overhead)
	start := len(dst)
	dst = append(dst, typeApplicationData, 3, 3, 0, 0)
	dst = append(dst, p...)
	dst = append(dst, typ)
	return c.out.seal(c.s, dst, start)
}

// SealKeyUpdate appends our KeyUpdate, asking the peer to update its keys
// too when requestPeer, and moves our writes to the next key.
func (c *Conn) SealKeyUpdate(dst []byte, requestPeer bool) []byte {
	return c.sealKeyUpdate(dst, requestPeer)
}

func (c *Conn) sealKeyUpdate(dst []byte, requestPeer bool) []byte {
	var req byte
	if requestPeer {
		req = 1
	}
	msg := [5]byte{msgKeyUpdate, 0, 0, 1, req}
	dst = c.sealRecord(dst, typeHandshake, msg[:])
	if err := c.out.update(c.s); err != nil {
		panic("tlsrec: " + err.Error()) // the secret's length is the suite's own
	}
	return dst
}

// SealAlert appends an alert: close_notify as a warning, others fatal.
func (c *Conn) SealAlert(dst []byte, a Alert) []byte {
	level := byte(2)
	if a == AlertCloseNotify || a == AlertUserCanceled {
		level = 1
	}
	msg := [2]byte{level, byte(a)}
	return c.sealRecord(dst, typeAlert, msg[:])
}
