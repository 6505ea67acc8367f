package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// The JWS side of a token (RFC 7515): the compact serialization, the JOSE
// Header and the signature, for the algorithms of RFC 7518 §3 and RFC 8037
// §3.1 that wsd's keys verify.

// algorithm is an "alg" value (RFC 7518 §3.1, RFC 8037 §3.1).
type algorithm uint8

const (
	algUnknown algorithm = iota // any name below not listed
	algNone                     // "none", RFC 7518 §3.6: never accepted (RFC 8725 §3.1)
	algHS256
	algHS384
	algHS512
	algRS256
	algRS384
	algRS512
	algPS256
	algPS384
	algPS512
	algES256
	algES384
	algES512
	algEdDSA
	numAlgs
)

// algNames are the names of RFC 7518 §3.1's table for JWS (with EdDSA from
// RFC 8037): a name listed here that no configured key verifies is
// "not allowed"; any other is "unknown". Names are case-sensitive
// (RFC 7515 §4.1.1): "hs256" is unknown.
var algNames = [numAlgs]string{
	algNone: "none", algHS256: "HS256", algHS384: "HS384", algHS512: "HS512",
	algRS256: "RS256", algRS384: "RS384", algRS512: "RS512",
	algPS256: "PS256", algPS384: "PS384", algPS512: "PS512",
	algES256: "ES256", algES384: "ES384", algES512: "ES512", algEdDSA: "EdDSA",
}

func algByName(name []byte) algorithm {
	for a := algNone; a < numAlgs; a++ {
		if string(name) == algNames[a] {
			return a
		}
	}
	return algUnknown
}

// hmacKey verifies one HS* algorithm with the secret: a pool of keyed MAC
// states, because hmac.New allocates and Reset does not.
type hmacKey struct {
	pool sync.Pool // of *macState
}

type macState struct {
	mac hash.Hash
	sum [sha512.Size]byte
}

func newHMACKey(newHash func() hash.Hash, secret []byte) *hmacKey {
	return &hmacKey{pool: sync.Pool{New: func() any { return &macState{mac: hmac.New(newHash, secret)} }}}
}

// segments is a compact JWS split at its two periods.
type segments struct {
	header, payload, signature []byte
	signingInput               []byte // header.payload, what the signature covers (RFC 7515 §5.2 step 8)
}

// split checks the shape of the compact serialization (RFC 7515 §7.1):
// exactly three parts separated by periods.
func split(token []byte) (segments, error) {
	var s segments
	i := bytes.IndexByte(token, '.')
	if i < 0 {
		return s, errors.New("1 part; a JWS has 3 separated by periods (RFC 7515 §7.1)")
	}
	j := bytes.IndexByte(token[i+1:], '.')
	if j < 0 {
		return s, errors.New("2 parts; a JWS has 3 separated by periods (RFC 7515 §7.1)")
	}
	j += i + 1
	if bytes.IndexByte(token[j+1:], '.') >= 0 {
		return s, fmt.Errorf("%d parts; a JWS has 3 separated by periods (RFC 7515 §7.1)", bytes.Count(token, []byte("."))+1)
	}
	s.header, s.payload, s.signature = token[:i], token[i+1:j], token[j+1:]
	s.signingInput = token[:j]
	return s, nil
}

// segmentEncoding is base64url without padding (RFC 7515 §2), strict: the
// unused bits of the last character must be zero (RFC 4648 §3.5), so a
// token has one encoding.
var segmentEncoding = base64.RawURLEncoding.Strict()

// decodeSegment decodes a part of the token into dst's space, or a new
// array when dst is too short. Line breaks, which the base64 package
// skips, are refused: RFC 7515 §2 allows no "line breaks, whitespace, or
// other additional characters".
func decodeSegment(dst, seg []byte, what string) ([]byte, error) {
	if i := bytes.IndexAny(seg, "\r\n"); i >= 0 {
		return nil, fmt.Errorf("%s: line break at offset %d of its base64url", what, i)
	}
	n := segmentEncoding.DecodedLen(len(seg))
	if cap(dst) < n {
		dst = make([]byte, n)
	}
	n, err := segmentEncoding.Decode(dst[:n], seg)
	if err != nil {
		return nil, fmt.Errorf("%s: not unpadded canonical base64url (RFC 7515 §2): %w", what, err)
	}
	return dst[:n], nil
}

// header reads the JOSE Header (RFC 7515 §4): the alg (and its raw JSON,
// for messages), and whether "crit" is present. Other parameters (typ,
// kid, …) are ignored, as §4 allows for those not understood outside
// crit. For a duplicate name the last one counts. A missing alg, or one
// that is not a string, is an error; an unknown name is algUnknown.
func header(h []byte) (alg algorithm, algRaw []byte, crit bool, err error) {
	s := jsonScanner{b: h, floats: true}
	if err := s.open(); err != nil {
		return 0, nil, false, fmt.Errorf("header: %w", err)
	}
	for {
		m, ok, err := s.member()
		if err != nil {
			return 0, nil, false, fmt.Errorf("header: %w", err)
		}
		if !ok {
			break
		}
		var nb [96]byte
		switch string(memberName(m, &nb)) {
		case "alg":
			algRaw = m.value
		case "crit":
			crit = true
		}
	}
	if algRaw == nil {
		return 0, nil, false, errors.New(`header: no "alg" (RFC 7515 §4.1.1: it MUST be present)`)
	}
	in, esc, ok := stringValue(algRaw)
	if !ok {
		return 0, nil, false, fmt.Errorf(`header: "alg" is %s, not a string`, clip(algRaw))
	}
	if esc {
		if len(in) > 32 { // longer than any name, escaped
			return algUnknown, algRaw, crit, nil
		}
		var b [96]byte
		in = appendUnquoted(b[:0], in)
	}
	return algByName(in), algRaw, crit, nil
}

// errBadSignature is the cause of every failed signature check: it says
// nothing about why, to the client or the log, as there is nothing an
// operator could do with more.
var errBadSignature = errors.New("the signature does not verify with the configured key")

// pssOptions: PS256 verifies with any salt length, as the jwt library
// (v5) did, though RFC 7518 §3.5 says the salt is as long as the hash;
// Mint uses the hash length.
var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}

// verifySignature checks sig over input with the key configured for alg
// (RFC 7515 §5.2 step 8; RFC 7518 §3.2-3.5, RFC 8037 §3.1). The key comes
// from the alg, never the reverse, and each table entry holds a key of its
// algorithm's type only (RFC 8725 §2.1): a wrong type is refused, not
// converted. Nothing here keeps input or sig, which may be the caller's.
func (v *Verifier) verifySignature(alg algorithm, input, sig []byte) bool {
	switch alg {
	case algHS256, algHS384, algHS512:
		k, ok := v.keys[alg].(*hmacKey)
		if !ok {
			return false
		}
		st := k.pool.Get().(*macState)
		st.mac.Reset()
		st.mac.Write(input)
		sum := st.mac.Sum(st.sum[:0])
		good := hmac.Equal(sum, sig) // constant time, RFC 7518 §3.2
		k.pool.Put(st)
		return good
	case algEdDSA:
		k, ok := v.keys[alg].(ed25519.PublicKey)
		return ok && len(sig) == ed25519.SignatureSize && ed25519.Verify(k, input, sig)
	case algRS256, algRS384, algRS512, algPS256:
		k, ok := v.keys[alg].(*rsa.PublicKey)
		if !ok {
			return false
		}
		switch alg {
		case algRS256:
			d := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig) == nil
		case algRS384:
			d := sha512.Sum384(input)
			return rsa.VerifyPKCS1v15(k, crypto.SHA384, d[:], sig) == nil
		case algRS512:
			d := sha512.Sum512(input)
			return rsa.VerifyPKCS1v15(k, crypto.SHA512, d[:], sig) == nil
		}
		// VerifyPSS keeps its digest argument (it escapes): the digest
		// goes in a pooled array, not on the stack.
		sc := scratchPool.Get().(*scratch)
		d := sha256.Sum256(input)
		good := rsa.VerifyPSS(k, crypto.SHA256, append(sc[:0], d[:]...), sig, pssOptions) == nil
		scratchPool.Put(sc)
		return good
	case algES256:
		k, ok := v.keys[alg].(*ecdsa.PublicKey)
		if !ok || len(sig) != 64 { // R || S, 32 bytes each (RFC 7518 §3.4)
			return false
		}
		d := sha256.Sum256(input)
		// VerifyASN1 keeps its signature argument (it escapes): the DER
		// goes in a pooled array, not in the caller's buffer.
		sc := scratchPool.Get().(*scratch)
		good := ecdsa.VerifyASN1(k, d[:], ecdsaDER(sc[:0], sig[:32], sig[32:]))
		scratchPool.Put(sc)
		return good
	}
	return false
}

// scratch holds what a standard library verifier keeps a reference to:
// an ES256 signature in DER (at most 72 bytes), a PS256 digest.
type scratch [2 + 2*(2+33)]byte

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// ecdsaDER appends the ASN.1 DER of ECDSA-Sig-Value (RFC 3279 §2.2.3),
// SEQUENCE { r INTEGER, s INTEGER }, for r and s of 32 bytes big-endian:
// minimal integers, a zero byte first when the high bit is set.
func ecdsaDER(dst, r, s []byte) []byte {
	r, s = bytes.TrimLeft(r, "\x00"), bytes.TrimLeft(s, "\x00")
	n := derIntLen(r) + derIntLen(s)
	dst = append(dst, 0x30, byte(n))
	dst = appendDERInt(dst, r)
	return appendDERInt(dst, s)
}

func derIntLen(b []byte) int {
	switch {
	case len(b) == 0:
		return 3 // 02 01 00
	case b[0] >= 0x80:
		return 3 + len(b)
	}
	return 2 + len(b)
}

func appendDERInt(dst, b []byte) []byte {
	switch {
	case len(b) == 0:
		return append(dst, 0x02, 1, 0)
	case b[0] >= 0x80:
		dst = append(dst, 0x02, byte(len(b)+1), 0)
	default:
		dst = append(dst, 0x02, byte(len(b)))
	}
	return append(dst, b...)
}
