package auth

import (
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // crypto.SHA256.New
	_ "crypto/sha512" // crypto.SHA384.New, crypto.SHA512.New
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"time"
)

// MintClaims are the claims of a token to mint. Subject and Expires are
// required, as Verify requires them; zero NotBefore and IssuedAt are left
// out, as are empty strings and lists.
type MintClaims struct {
	Subject   string
	Expires   time.Time
	NotBefore time.Time
	IssuedAt  time.Time
	Issuer    string
	Audience  []string
	ID        string
	Rooms     []string
}

// Mint signs a token, for tests, documentation and operators (cmd/wsdtoken);
// wsd itself only verifies. key is a []byte HMAC secret (alg HS256, HS384 or
// HS512, at least as long as the hash, RFC 7518 §3.2) or a crypto.Signer —
// ed25519.PrivateKey for EdDSA, *rsa.PrivateKey for RS256/RS384/RS512/PS256,
// *ecdsa.PrivateKey on P-256 for ES256, or any other Signer with such a
// public key (a key in an HSM or KMS). An empty alg picks the key's usual
// one: HS256, EdDSA, RS256 or ES256.
//
// Signing is done here with the standard library rather than by the jwt
// library that Verify uses, so that the tests check two implementations
// against each other.
func Mint(key any, alg string, claims MintClaims) (string, error) {
	if claims.Subject == "" {
		return "", errors.New("mint: the subject is empty")
	}
	if claims.Expires.IsZero() {
		return "", errors.New("mint: no expiry time (wsd requires exp)")
	}
	algs, err := mintAlgs(key)
	if err != nil {
		return "", err
	}
	if alg == "" {
		alg = algs[0]
	}
	if !slices.Contains(algs, alg) {
		return "", fmt.Errorf("mint: alg %q does not fit this key (it takes %v)", alg, algs)
	}
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}{alg, "JWT"})
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(payloadOf(claims))
	if err != nil {
		return "", fmt.Errorf("mint: claims: %w", err)
	}
	input := b64(header) + "." + b64(payload)
	sig, err := sign(key, alg, []byte(input))
	if err != nil {
		return "", fmt.Errorf("mint: %s: %w", alg, err)
	}
	return input + "." + b64(sig), nil
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// payload is the JSON of a claims set; dates are whole seconds (RFC 7519
// §2 NumericDate), "aud" a plain string when there is one (§4.1.3).
type payload struct {
	Iss   string   `json:"iss,omitempty"`
	Sub   string   `json:"sub"`
	Aud   any      `json:"aud,omitempty"`
	Exp   int64    `json:"exp"`
	Nbf   int64    `json:"nbf,omitempty"`
	Iat   int64    `json:"iat,omitempty"`
	Jti   string   `json:"jti,omitempty"`
	Rooms []string `json:"rooms,omitempty"`
}

func payloadOf(c MintClaims) payload {
	p := payload{Iss: c.Issuer, Sub: c.Subject, Exp: c.Expires.Unix(), Jti: c.ID, Rooms: c.Rooms}
	if !c.NotBefore.IsZero() {
		p.Nbf = c.NotBefore.Unix()
	}
	if !c.IssuedAt.IsZero() {
		p.Iat = c.IssuedAt.Unix()
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		p.Aud = c.Audience[0]
	default:
		p.Aud = c.Audience
	}
	return p
}

// mintAlgs lists what a signing key can sign, its usual alg first.
func mintAlgs(key any) ([]string, error) {
	switch k := key.(type) {
	case []byte:
		if algs := hmacAlgsFor(k); len(algs) > 0 {
			return algs, nil
		}
		return nil, fmt.Errorf("mint: the secret is %d bytes; RFC 7518 §3.2 requires at least %d", len(k), hmacAlgs[0].min)
	case crypto.Signer:
		algs, err := publicAlgs(k.Public())
		if err != nil {
			return nil, fmt.Errorf("mint: %w", err)
		}
		return algs, nil
	}
	return nil, fmt.Errorf("mint: key of type %T is neither a []byte secret nor a crypto.Signer", key)
}

var algHash = map[string]crypto.Hash{
	"HS256": crypto.SHA256, "HS384": crypto.SHA384, "HS512": crypto.SHA512,
	"RS256": crypto.SHA256, "RS384": crypto.SHA384, "RS512": crypto.SHA512,
	"PS256": crypto.SHA256, "ES256": crypto.SHA256,
}

// sign makes the JWS Signature (RFC 7515 §5.1) with the algorithms of
// RFC 7518 §3 and RFC 8037 §3.1.
func sign(key any, alg string, input []byte) ([]byte, error) {
	if secret, ok := key.([]byte); ok {
		mac := hmac.New(algHash[alg].New, secret)
		mac.Write(input)
		return mac.Sum(nil), nil
	}
	signer := key.(crypto.Signer) // mintAlgs accepted it
	if alg == "EdDSA" {
		return signer.Sign(rand.Reader, input, crypto.Hash(0)) // Ed25519 hashes the message itself
	}
	h := algHash[alg]
	d := h.New()
	d.Write(input)
	digest := d.Sum(nil)
	switch alg {
	case "PS256": // RFC 7518 §3.5: the salt is as long as the hash
		return signer.Sign(rand.Reader, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
	case "ES256":
		der, err := signer.Sign(rand.Reader, digest, h)
		if err != nil {
			return nil, err
		}
		return rawECDSA(der, 32)
	}
	return signer.Sign(rand.Reader, digest, h) // RS*: PKCS #1 v1.5
}

// rawECDSA turns a crypto.Signer's ASN.1 DER ECDSA signature into the JWS
// form, R and S as fixed-size big-endian integers (RFC 7518 §3.4).
func rawECDSA(der []byte, size int) ([]byte, error) {
	var rs struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &rs)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("ECDSA signature is not DER")
	}
	if rs.R.Sign() <= 0 || rs.S.Sign() <= 0 || rs.R.BitLen() > 8*size || rs.S.BitLen() > 8*size {
		return nil, errors.New("ECDSA signature out of range")
	}
	out := make([]byte, 2*size)
	rs.R.FillBytes(out[:size])
	rs.S.FillBytes(out[size:])
	return out, nil
}
