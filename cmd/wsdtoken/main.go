// Command wsdtoken mints a connection token for wsd's client endpoints: a
// JWT (RFC 7519) that wsd's -jwt-secret-file or -jwt-public-key verifies.
// It is for tests, documentation and operators; a real deployment mints
// tokens in its login service, with the same claims.
//
//	wsdtoken -jwt-secret-file secret -sub alice -ttl 1h -rooms lobby,ops
//	wsdtoken -key private.pem -sub alice -iss https://login.example -aud wsd
//
// The token is printed on a line of its own. Connect with
// ws://host/ws/alice?token=TOKEN or "Authorization: Bearer TOKEN".
package main

import (
	"crypto"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/auth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, time.Now))
}

// errUsage marks a command-line mistake: exit status 2, as for a bad flag.
// errFlags is one the flag package has already reported, with the usage.
var (
	errUsage = errors.New("usage")
	errFlags = errors.New("bad flags")
)

func run(args []string, stdout, stderr io.Writer, now func() time.Time) int {
	tok, err := mint(args, stderr, now)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errFlags):
		return 2
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "wsdtoken:", strings.TrimPrefix(err.Error(), "usage: "))
		return 2
	case err != nil:
		fmt.Fprintln(stderr, "wsdtoken:", err)
		return 1
	}
	fmt.Fprintln(stdout, tok)
	return 0
}

func mint(args []string, stderr io.Writer, now func() time.Time) (string, error) {
	fs := flag.NewFlagSet("wsdtoken", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secretFile := fs.String("jwt-secret-file", "", "sign with the HMAC secret in `file`, as wsd's flag of that name verifies (one trailing newline is ignored)")
	keyFile := fs.String("key", "", "sign with the PEM private key in `file` (Ed25519, RSA, ECDSA P-256); wsd verifies with its public half, -jwt-public-key")
	alg := fs.String("alg", "", "signing algorithm (default: HS256 for a secret, EdDSA, RS256 or ES256 for a key; also HS384, HS512, RS384, RS512, PS256)")
	sub := fs.String("sub", "", "the user id (\"sub\"), required")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid (\"exp\" = now + ttl)")
	rooms := fs.String("rooms", "", "comma-separated rooms the holder may join, say in and chat in (\"rooms\")")
	iss := fs.String("iss", "", "issuer (\"iss\"), for wsd's -jwt-issuer")
	aud := fs.String("aud", "", "comma-separated audiences (\"aud\"), one of them for wsd's -jwt-audience")
	jti := fs.String("jti", "", "token id (\"jti\")")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", errFlags
	}
	switch {
	case fs.NArg() > 0:
		return "", fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case *sub == "":
		return "", fmt.Errorf("%w: -sub is required", errUsage)
	case *ttl < time.Second: // exp is in whole seconds (RFC 7519 §2)
		return "", fmt.Errorf("%w: -ttl %v is less than a second", errUsage, *ttl)
	case (*secretFile == "") == (*keyFile == ""):
		return "", fmt.Errorf("%w: give one of -jwt-secret-file and -key", errUsage)
	}
	var key any
	if *secretFile != "" {
		secret, err := auth.ReadSecretFile(*secretFile)
		if err != nil {
			return "", err
		}
		key = secret
	} else {
		signer, err := auth.ReadPrivateKeyFile(*keyFile)
		if err != nil {
			return "", err
		}
		key = crypto.Signer(signer)
	}
	t := now().Truncate(time.Second)
	return auth.Mint(key, *alg, auth.MintClaims{
		Subject:  *sub,
		IssuedAt: t,
		Expires:  t.Add(*ttl),
		Issuer:   *iss,
		Audience: list(*aud),
		ID:       *jti,
		Rooms:    list(*rooms),
	})
}

// list splits a comma-separated flag, dropping empty items and spaces.
func list(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
