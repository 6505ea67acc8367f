package upgrade

// Negotiation checked against two independent implementations on this
// machine: Python's websockets (Debian's python3-websockets) and Node's ws
// (test/node), both installed by scripts/test-deps.sh.

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runDeflatePeer runs a testdata script with the JSON of reqs on stdin and
// decodes its JSON answer into out.
func runDeflatePeer(t *testing.T, out any, reqs any, cmd string, args ...string) {
	t.Helper()
	in, err := json.Marshal(reqs)
	require.NoError(t, err)
	c := exec.Command(cmd, args...)
	c.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	res, err := c.Output()
	require.NoError(t, err, "%s %v: %s", cmd, args, stderr.String())
	require.NoError(t, json.Unmarshal(res, out))
}

func needPythonWebsockets(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import websockets").Run(); err != nil {
		t.Skip("python3-websockets is not installed (scripts/test-deps.sh installs it)")
	}
}

// pyOffer is a DeflateOffer as websockets' client factory takes it.
func pyOffer(o DeflateOffer) map[string]any {
	m := map[string]any{
		"server_no_context_takeover": o.ServerNoContextTakeover,
		"client_no_context_takeover": o.ClientNoContextTakeover,
	}
	if o.ServerMaxWindowBits != 0 {
		m["server_max_window_bits"] = o.ServerMaxWindowBits
	}
	switch o.ClientMaxWindowBits {
	case 0:
	case OfferNoValue:
		m["client_max_window_bits"] = "novalue"
	default:
		m["client_max_window_bits"] = o.ClientMaxWindowBits
	}
	return m
}

var peerOffers = []DeflateOffer{
	{ClientMaxWindowBits: OfferNoValue}, // Chromium, websockets, ws
	{},                                  // Firefox
	{ServerMaxWindowBits: 12, ClientMaxWindowBits: 12},
	{ServerNoContextTakeover: true, ClientNoContextTakeover: true},
	{ServerNoContextTakeover: true, ServerMaxWindowBits: 9, ClientMaxWindowBits: OfferNoValue},
	{ClientMaxWindowBits: 8},
	{ServerMaxWindowBits: 8},
	{ClientNoContextTakeover: true, ClientMaxWindowBits: 10},
}

var peerPolicies = []DeflatePolicy{
	policyOn, policyTakeover,
	{Mode: DeflateTakeover, WindowBits: 8}, {Mode: DeflateTakeover, WindowBits: 12}, {Mode: DeflateTakeover, WindowBits: 15},
}

type peerCase struct {
	offer  DeflateOffer
	policy DeflatePolicy
	answer string
	ours   DeflateParams // the answer as our client reads it
}

// peerCases answers every peer offer under every policy.
func peerCases(t *testing.T) []peerCase {
	var cases []peerCase
	for _, o := range peerOffers {
		for _, p := range peerPolicies {
			r := deflateRequest(t, string(AppendDeflateOffer(nil, o)))
			a, ok := r.NegotiateDeflate(p)
			require.True(t, ok)
			answer := AppendDeflateResponse(nil, a)
			ours, err := ParseDeflateResponse(answer, o)
			require.NoError(t, err)
			cases = append(cases, peerCase{o, p, string(answer), ours})
		}
	}
	return cases
}

// websockets' client accepts every answer we give to its offers, reads the
// same configuration from it as our client does, and can compress with it.
func TestDeflateAnswersAcceptedByPythonWebsockets(t *testing.T) {
	needPythonWebsockets(t)
	var cases []peerCase
	for _, c := range peerCases(t) {
		// websockets configured to offer client_max_window_bits=8 cannot
		// compress with the 8 it offered (zlib, see below), whatever the
		// answer: nothing a server says can help it.
		if c.offer.ClientMaxWindowBits != 8 {
			cases = append(cases, c)
		}
	}
	var reqs []map[string]any
	for _, c := range cases {
		reqs = append(reqs, map[string]any{"op": "client", "offer": pyOffer(c.offer), "answer": c.answer})
	}
	var res []struct {
		OK   bool   `json:"ok"`
		Err  string `json:"err"`
		SNCT bool   `json:"server_no_context_takeover"`
		CNCT bool   `json:"client_no_context_takeover"`
		SMWB uint8  `json:"server_max_window_bits"`
		CMWB uint8  `json:"client_max_window_bits"`
	}
	runDeflatePeer(t, &res, reqs, "/usr/bin/python3", "testdata/deflate_peer.py")
	require.Len(t, res, len(cases))
	for i, c := range cases {
		r := res[i]
		if !assert.True(t, r.OK, "offer %+v, policy %+v, answer %q: %s", c.offer, c.policy, c.answer, r.Err) {
			continue
		}
		assert.Equal(t, c.ours, DeflateParams{
			ServerNoContextTakeover: r.SNCT, ClientNoContextTakeover: r.CNCT,
			ServerMaxWindowBits: c.ours.ServerMaxWindowBits, ClientMaxWindowBits: c.ours.ClientMaxWindowBits,
		}, "answer %q", c.answer)
		assert.Equal(t, c.ours.ServerWindowBits(), r.SMWB, "answer %q", c.answer)
		assert.Equal(t, c.ours.ClientWindowBits(), r.CMWB, "answer %q", c.answer)
	}
}

// Why W=8 asks clients for 9: websockets, told client_max_window_bits=8,
// cannot make its compressor (zlib refuses raw DEFLATE with an 8-bit
// window) and fails the connection.
func TestDeflateEightBitClientWindowBreaksZlibClients(t *testing.T) {
	needPythonWebsockets(t)
	var res []struct {
		OK  bool   `json:"ok"`
		Err string `json:"err"`
	}
	runDeflatePeer(t, &res, []map[string]any{
		{"op": "client", "offer": pyOffer(peerOffers[0]), "answer": "permessage-deflate; client_max_window_bits=8"},
		{"op": "client", "offer": pyOffer(peerOffers[0]), "answer": "permessage-deflate; client_max_window_bits=9"},
	}, "/usr/bin/python3", "testdata/deflate_peer.py")
	require.Len(t, res, 2)
	assert.False(t, res[0].OK)
	assert.Contains(t, res[0].Err, "Invalid initialization option")
	assert.True(t, res[1].OK, res[1].Err)
}

// Our client accepts what websockets' server answers to our offers.
func TestDeflateOffersAnsweredByPythonWebsockets(t *testing.T) {
	needPythonWebsockets(t)
	settings := []map[string]any{
		{},
		{"server_no_context_takeover": true},
		{"client_no_context_takeover": true},
		{"server_max_window_bits": 10},
		{"client_max_window_bits": 10},
		{"server_max_window_bits": 9, "client_max_window_bits": 9, "require_client_max_window_bits": true},
	}
	type pair struct {
		offer DeflateOffer
		s     map[string]any
	}
	var pairs []pair
	var reqs []map[string]any
	for _, o := range peerOffers {
		for _, s := range settings {
			pairs = append(pairs, pair{o, s})
			reqs = append(reqs, map[string]any{"op": "server", "settings": s, "offer": string(AppendDeflateOffer(nil, o))})
		}
	}
	var res []struct {
		OK     bool   `json:"ok"`
		Err    string `json:"err"`
		Answer string `json:"answer"`
	}
	runDeflatePeer(t, &res, reqs, "/usr/bin/python3", "testdata/deflate_peer.py")
	require.Len(t, res, len(pairs))
	answered := 0
	for i, p := range pairs {
		if !res[i].OK {
			continue // websockets declined our offer under those settings
		}
		answered++
		_, err := ParseDeflateResponse([]byte(res[i].Answer), p.offer)
		assert.NoError(t, err, "offer %+v, websockets %v answered %q", p.offer, p.s, res[i].Answer)
	}
	assert.Greater(t, answered, len(pairs)/2)
}

// Node's ws client accepts every answer we give to its offers.
func TestDeflateAnswersAcceptedByNodeWS(t *testing.T) {
	dir, _ := filepath.Abs("../test/node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules/ws")); err != nil {
		t.Skip("ws is not installed in test/node (scripts/test-deps.sh installs it)")
	}
	cases := peerCases(t)
	var reqs []map[string]any
	for _, c := range cases {
		opt := map[string]any{}
		if c.offer.ServerNoContextTakeover {
			opt["serverNoContextTakeover"] = true
		}
		if c.offer.ClientNoContextTakeover {
			opt["clientNoContextTakeover"] = true
		}
		if c.offer.ServerMaxWindowBits != 0 {
			opt["serverMaxWindowBits"] = c.offer.ServerMaxWindowBits
		}
		switch c.offer.ClientMaxWindowBits {
		case 0:
			opt["clientMaxWindowBits"] = false
		case OfferNoValue:
		default:
			opt["clientMaxWindowBits"] = c.offer.ClientMaxWindowBits
		}
		reqs = append(reqs, map[string]any{"options": opt, "answer": c.answer})
	}
	var res []struct {
		OK  bool   `json:"ok"`
		Err string `json:"err"`
	}
	runDeflatePeer(t, &res, reqs, "node", "testdata/deflate_peer.js", dir)
	require.Len(t, res, len(cases))
	for i, c := range cases {
		assert.True(t, res[i].OK, "offer %+v, answer %q: %s", c.offer, c.answer, res[i].Err)
	}
}
