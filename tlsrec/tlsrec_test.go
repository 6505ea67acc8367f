package tlsrec

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var allSuites = []uint16{tls.TLS_AES_128_GCM_SHA256, tls.TLS_AES_256_GCM_SHA384, tls.TLS_CHACHA20_POLY1305_SHA256}

// pair returns a server and a client Conn that talk to each other.
func pair(t testing.TB, id uint16) (srv, cl *Conn) {
	t.Helper()
	hl := suiteByID(id).hashLen
	cs, ss := make([]byte, hl), make([]byte, hl)
	rand.Read(cs)
	rand.Read(ss)
	srv, cl = new(Conn), new(Conn)
	require.NoError(t, srv.Init(id, cs, ss, true))
	require.NoError(t, cl.Init(id, ss, cs, false))
	return srv, cl
}

// openAll feeds stream to c in pieces cut at cuts (offsets), keeping the
// incomplete tail between pieces as a caller would, and returns the
// application data and the last result.
func openAll(t testing.TB, c *Conn, stream []byte, cuts ...int) ([]byte, Result, error) {
	t.Helper()
	var data, tail []byte
	var last Result
	prev := 0
	for _, cut := range append(cuts, len(stream)) {
		buf := append(append([]byte(nil), tail...), stream[prev:cut]...)
		prev = cut
		r, err := c.Open(buf)
		data = append(data, buf[:r.N]...)
		if err != nil || r.CloseNotify {
			return data, r, err
		}
		tail = append(tail[:0], buf[r.Used:]...)
		last = r
		last.UpdateRequested = last.UpdateRequested || r.UpdateRequested
	}
	require.Empty(t, tail, "bytes left over")
	return data, last, nil
}

// RFC 8448 §3's handshake traffic secret and the key and IV derived from
// it (the same derivation as the application keys).
func TestKeyDerivationRFC8448(t *testing.T) {
	secret, _ := hex.DecodeString("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
	var h half
	require.NoError(t, h.set(suiteByID(tls.TLS_AES_128_GCM_SHA256), secret))
	assert.Equal(t, "3fce516009c21727d0f2e4e86ee403bc", hex.EncodeToString(h.key[:16]))
	assert.Equal(t, "5d313eb2671276ee13000b30", hex.EncodeToString(h.iv[:]))
	h.seq = 0x0102030405060708
	h.makeNonce()
	assert.Equal(t, "5d313eb2"+"661075ea16060c38", hex.EncodeToString(h.nonce[:]),
		"the sequence number XORed into the IV's last 8 bytes (§5.3)")
}

func TestRoundTripEverySuite(t *testing.T) {
	sizes := []int{0, 1, 125, MaxPlaintext - 1, MaxPlaintext, MaxPlaintext + 1, 3*MaxPlaintext + 7, 100000}
	for _, id := range allSuites {
		t.Run(tls.CipherSuiteName(id), func(t *testing.T) {
			srv, cl := pair(t, id)
			for _, n := range sizes {
				msg := make([]byte, n)
				rand.Read(msg)
				// Split over three parts to exercise the gathering.
				a, b := n/3, 2*n/3
				stream := srv.Seal(nil, msg[:a], msg[a:b], msg[b:])
				assert.Equal(t, SealedSize(n), len(stream), "size %d", n)
				got, _, err := openAll(t, cl, stream)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(msg, got), "size %d server→client", n)
				stream = cl.Seal(nil, msg)
				got, _, err = openAll(t, srv, stream)
				require.NoError(t, err)
				assert.True(t, bytes.Equal(msg, got), "size %d client→server", n)
			}
			r, w := srv.Seqs()
			assert.Equal(t, r, w, "as many records each way")
		})
	}
}

// Every way of cutting a stream of several records in two gives the same
// data.
func TestRecordsSplitAtEveryByte(t *testing.T) {
	for _, id := range allSuites {
		srv, _ := pair(t, id)
		var stream, want []byte
		for i, n := range []int{5, 0, 300, 1, 40} {
			msg := bytes.Repeat([]byte{byte('a' + i)}, n)
			want = append(want, msg...)
			stream = srv.Seal(stream, msg)
		}
		for cut := 0; cut <= len(stream); cut++ {
			_, cl := pairFrom(t, srv)
			got, _, err := openAll(t, cl, stream, cut)
			require.NoError(t, err, "cut at %d", cut)
			require.Equal(t, string(want), string(got), "cut at %d", cut)
		}
		// And one byte at a time.
		_, cl := pairFrom(t, srv)
		cuts := make([]int, len(stream))
		for i := range cuts {
			cuts[i] = i
		}
		got, _, err := openAll(t, cl, stream, cuts...)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
}

// pairFrom makes a fresh reader for what srv wrote since its Init, from
// srv's original write secret (kept in the test through a copy).
func pairFrom(t testing.TB, srv *Conn) (*Conn, *Conn) {
	t.Helper()
	cl := new(Conn)
	require.NoError(t, cl.Init(srv.s.id, srv.out0(), srv.in0(), false))
	return srv, cl
}

// in0 and out0 are the secrets a Conn started with (tests only: they are
// the current ones until a KeyUpdate).
func (c *Conn) in0() []byte  { return append([]byte(nil), c.in.secret[:c.s.hashLen]...) }
func (c *Conn) out0() []byte { return append([]byte(nil), c.out.secret[:c.s.hashLen]...) }

// Each byte of a record, changed, makes it fail: header bytes as what they
// mean, the rest as a bad MAC (the header is the AEAD's additional data).
func TestTamperedRecordFails(t *testing.T) {
	for _, id := range allSuites {
		srv, _ := pair(t, id)
		rec := srv.Seal(nil, []byte("hello, tamper me"))
		for i := range rec {
			for _, flip := range []byte{0x01, 0x80} {
				_, cl := pairFrom(t, srv)
				b := append([]byte(nil), rec...)
				b[i] ^= flip
				r, err := cl.Open(b)
				if i >= 3 && i < 5 && r.Used == 0 && err == nil {
					continue // a longer length: the record looks incomplete
				}
				var ae *AlertError
				require.ErrorAs(t, err, &ae, "byte %d ^ %#x", i, flip)
				assert.Zero(t, r.N, "byte %d: no data from a bad record", i)
				switch i {
				case 0:
					assert.Equal(t, AlertUnexpectedMessage, ae.Alert)
				case 1, 2:
					assert.Equal(t, AlertDecodeError, ae.Alert)
				default:
					assert.Contains(t, []Alert{AlertBadRecordMAC, AlertRecordOverflow}, ae.Alert, "byte %d", i)
				}
			}
		}
	}
}

// Records must arrive in order and once: the sequence number is in the
// nonce.
func TestSequenceInNonce(t *testing.T) {
	srv, cl := pair(t, tls.TLS_AES_128_GCM_SHA256)
	r1 := srv.Seal(nil, []byte("one"))
	r2 := srv.Seal(nil, []byte("two"))
	_, err := cl.Open(append([]byte(nil), r2...))
	assertAlert(t, err, AlertBadRecordMAC, "the second record first")

	_, cl = pairFrom(t, srv)
	got, _, err := openAll(t, cl, append(append([]byte(nil), r1...), r2...))
	require.NoError(t, err)
	assert.Equal(t, "onetwo", string(got))
	_, err = cl.Open(append([]byte(nil), r2...))
	assertAlert(t, err, AlertBadRecordMAC, "a replayed record")
	rd, _ := cl.Seqs()
	assert.Equal(t, uint64(2), rd)
}

func assertAlert(t *testing.T, err error, want Alert, msg string) {
	t.Helper()
	var ae *AlertError
	if assert.ErrorAs(t, err, &ae, msg) {
		assert.Equal(t, want, ae.Alert, msg)
		assert.False(t, ae.Remote, msg)
	}
}

// A KeyUpdate that asks for ours: the reader rotates its read key, and its
// next Seal sends its own KeyUpdate before the data; both sides go on.
func TestKeyUpdateAnswered(t *testing.T) {
	for _, id := range allSuites {
		srv, cl := pair(t, id)
		stream := cl.SealKeyUpdate(nil, true)
		stream = cl.Seal(stream, []byte("after the client's update"))
		got, r, err := openAll(t, srv, stream)
		require.NoError(t, err)
		assert.True(t, r.UpdateRequested)
		assert.Equal(t, "after the client's update", string(got))
		rd, _ := srv.Seqs()
		assert.Equal(t, uint64(1), rd, "the read sequence restarts at the new key")

		out := srv.Seal(nil) // no data: just the pending KeyUpdate
		assert.Len(t, out, KeyUpdateLen)
		out = srv.Seal(out, []byte("under the server's new key"))
		got, r, err = openAll(t, cl, out)
		require.NoError(t, err)
		assert.False(t, r.UpdateRequested, "ours did not ask again")
		assert.Equal(t, "under the server's new key", string(got))
		assert.Len(t, srv.Seal(nil), 0, "answered once")
	}
}

// Seal updates its own keys before an AES-GCM key reaches its limit.
func TestKeyUpdateAtLimit(t *testing.T) {
	srv, cl := pair(t, tls.TLS_AES_128_GCM_SHA256)
	srv.updateAfter = 3
	var stream, want []byte
	for i := range 10 {
		m := []byte(fmt.Sprintf("message %d", i))
		want = append(want, m...)
		stream = srv.Seal(stream, m)
	}
	got, r, err := openAll(t, cl, stream)
	require.NoError(t, err)
	assert.False(t, r.UpdateRequested)
	assert.Equal(t, string(want), string(got))
	_, w := srv.Seqs()
	assert.Equal(t, uint64(1), w, "3 records, update, 3, update, 3, update, 1")
	rd, _ := cl.Seqs()
	assert.Equal(t, uint64(1), rd)
	assert.Len(t, stream, 10*SealedSize(len("message 0"))+3*KeyUpdateLen)
}

func TestCloseNotifyStopsData(t *testing.T) {
	srv, cl := pair(t, tls.TLS_CHACHA20_POLY1305_SHA256)
	stream := srv.Seal(nil, []byte("last words"))
	stream = srv.SealAlert(stream, AlertCloseNotify)
	after := len(stream)
	stream = srv.Seal(stream, []byte("never read"))
	r, err := cl.Open(stream)
	require.NoError(t, err)
	assert.True(t, r.CloseNotify)
	assert.Equal(t, "last words", string(stream[:r.N]))
	assert.Equal(t, after, r.Used, "what follows close_notify is not consumed")
}

func TestAlertsFromThePeer(t *testing.T) {
	srv, cl := pair(t, tls.TLS_AES_256_GCM_SHA384)
	stream := srv.SealAlert(nil, AlertUserCanceled) // ignored (§6.1)
	stream = srv.Seal(stream, []byte("still here"))
	stream = srv.SealAlert(stream, AlertInternalError)
	r, err := cl.Open(stream)
	var ae *AlertError
	require.ErrorAs(t, err, &ae)
	assert.True(t, ae.Remote)
	assert.Equal(t, AlertInternalError, ae.Alert)
	assert.Equal(t, "still here", string(stream[:r.N]))
	assert.Contains(t, err.Error(), "internal_error")
}

// record seals an arbitrary inner plaintext (content and type already in
// it, padding too) as srv would, for the violation tests.
func record(srv *Conn, inner []byte) []byte {
	var b []byte
	b = append(b, typeApplicationData, 3, 3, 0, 0)
	b = append(b, inner...)
	b = append(b, make([]byte, tagLen)...)[:len(b)]
	return srv.out.seal(srv.s, b, 0)
}

func TestViolations(t *testing.T) {
	big := make([]byte, MaxPlaintext+1)
	cases := []struct {
		name  string
		build func(srv *Conn) []byte
		want  Alert
	}{
		{"plaintext handshake record", func(*Conn) []byte { return []byte{22, 3, 3, 0, 1, 1} }, AlertUnexpectedMessage},
		{"change_cipher_spec after the handshake", func(*Conn) []byte { return []byte{20, 3, 3, 0, 1, 1} }, AlertUnexpectedMessage},
		{"legacy version not 0x0303", func(*Conn) []byte { return []byte{23, 3, 1, 0, 1, 1} }, AlertDecodeError},
		{"ciphertext over 2^14+256, found from the header", func(*Conn) []byte { return []byte{23, 3, 3, 0x41, 0x01} }, AlertRecordOverflow},
		{"inner plaintext over 2^14+1", func(s *Conn) []byte { return record(s, append(append([]byte(nil), big...), 23)) }, AlertRecordOverflow},
		{"no content type (all padding)", func(s *Conn) []byte { return record(s, make([]byte, 20)) }, AlertUnexpectedMessage},
		{"unknown inner content type", func(s *Conn) []byte { return record(s, []byte{1, 2, 3, 99}) }, AlertUnexpectedMessage},
		{"too short for a tag", func(*Conn) []byte { return []byte{23, 3, 3, 0, 3, 1, 2, 3} }, AlertBadRecordMAC},
		{"alert of 3 bytes", func(s *Conn) []byte { return record(s, []byte{2, 40, 0, typeAlert}) }, AlertDecodeError},
		{"empty handshake record", func(s *Conn) []byte { return record(s, []byte{typeHandshake}) }, AlertUnexpectedMessage},
		{"KeyUpdate with value 2", func(s *Conn) []byte { return record(s, []byte{24, 0, 0, 1, 2, typeHandshake}) }, AlertIllegalParameter},
		{"KeyUpdate of 2 bytes", func(s *Conn) []byte { return record(s, []byte{24, 0, 0, 2, 0, 0, typeHandshake}) }, AlertDecodeError},
		{"KeyUpdate not at the end of its record", func(s *Conn) []byte {
			return record(s, []byte{24, 0, 0, 1, 0, 24, 0, 0, 1, 0, typeHandshake})
		}, AlertUnexpectedMessage},
		{"NewSessionTicket to a server", func(s *Conn) []byte { return record(s, []byte{4, 0, 0, 1, 0, typeHandshake}) }, AlertUnexpectedMessage},
		{"a Finished after the handshake", func(s *Conn) []byte { return record(s, []byte{20, 0, 0, 1, 0, typeHandshake}) }, AlertUnexpectedMessage},
		{"data in the middle of a handshake message", func(s *Conn) []byte {
			b := record(s, []byte{24, 0, typeHandshake})
			return append(b, record(s, []byte{'x', typeApplicationData})...)
		}, AlertUnexpectedMessage},
		{"17 empty records in a row", func(s *Conn) []byte {
			var b []byte
			for range 17 {
				b = append(b, record(s, []byte{typeApplicationData, 0, 0})...)
			}
			return b
		}, AlertUnexpectedMessage},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl, srv := pair(t, tls.TLS_AES_128_GCM_SHA256) // cl is the server side here: it reads srv's records
			_, err := cl.Open(tc.build(srv))
			assertAlert(t, err, tc.want, tc.name)
		})
	}
}

// What a peer may do that is not data: padding, 16 empty records, a
// NewSessionTicket to a client split over three records.
func TestAllowedNonData(t *testing.T) {
	srv, cl := pair(t, tls.TLS_AES_128_GCM_SHA256)
	var b []byte
	b = append(b, record(srv, append([]byte("padded"), typeApplicationData, 0, 0, 0, 0))...)
	ticket := append([]byte{4, 0, 1, 0}, bytes.Repeat([]byte{7}, 256)...)
	b = append(b, record(srv, append(append([]byte(nil), ticket[:2]...), typeHandshake))...)
	b = append(b, record(srv, append(append([]byte(nil), ticket[2:100]...), typeHandshake))...)
	b = append(b, record(srv, append(append([]byte(nil), ticket[100:]...), typeHandshake))...)
	b = append(b, record(srv, []byte("!\x17"))...)
	for range 16 {
		b = append(b, record(srv, []byte{typeApplicationData})...)
	}
	b = append(b, record(srv, []byte("?\x17"))...)
	got, _, err := openAll(t, cl, b)
	require.NoError(t, err)
	assert.Equal(t, "padded!?", string(got))
	assert.Nil(t, cl.hand, "no partial message kept")
}

func TestDropRebuildsCiphers(t *testing.T) {
	srv, cl := pair(t, tls.TLS_AES_128_GCM_SHA256)
	got, _, err := openAll(t, cl, srv.Seal(nil, []byte("one")))
	require.NoError(t, err)
	assert.True(t, cl.Holding())
	srv.Drop()
	cl.Drop()
	assert.False(t, cl.Holding())
	got2, _, err := openAll(t, cl, srv.Seal(nil, []byte("two")))
	require.NoError(t, err)
	assert.Equal(t, "onetwo", string(got)+string(got2))
}

func TestInitChecks(t *testing.T) {
	var c Conn
	err := c.Init(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, make([]byte, 32), make([]byte, 32), true)
	assert.ErrorContains(t, err, "not a TLS 1.3 suite")
	err = c.Init(tls.TLS_AES_256_GCM_SHA384, make([]byte, 32), make([]byte, 32), true)
	assert.ErrorContains(t, err, "want 48")
	assert.True(t, Supported(tls.TLS_CHACHA20_POLY1305_SHA256))
	assert.False(t, Supported(0))
	assert.True(t, strings.HasPrefix(Alert(99).String(), "alert("))
}

// Seal and Open of small records allocate nothing (with room in dst).
func TestSealOpenAllocateNothing(t *testing.T) {
	for _, id := range allSuites {
		srv, cl := pair(t, id)
		msg := []byte("a small message, as a notification would be")
		dst := make([]byte, 0, 256)
		hdr := []byte{0x81, byte(len(msg))}
		n := testing.AllocsPerRun(200, func() {
			out := srv.Seal(dst[:0], hdr, msg)
			r, err := cl.Open(out)
			if err != nil || r.N != len(hdr)+len(msg) {
				t.Fatal(err, r)
			}
		})
		assert.Zero(t, n, tls.CipherSuiteName(id))
	}
}
