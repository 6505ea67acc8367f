package trace

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/wsd-dev/wsd/upgrade"
)

// The permessage-deflate negotiation (RFC 7692 §5, §7.1) as the handshake
// showed it: the client's offers, the server's answer checked against
// them, and what each direction applies to its messages.

// negotiation is what the handshake agreed on permessage-deflate.
type negotiation struct {
	offers   []offer // the client's permessage-deflate elements, in order
	answer   string  // the server's permessage-deflate element
	answered upgrade.DeflateParams
	accepted int                   // index in offers of the offer the answer accepts; -1 for none
	params   upgrade.DeflateParams // what both sides apply
	notes    []violation
}

// offer is one permessage-deflate element of the request.
type offer struct {
	text string
	o    upgrade.DeflateOffer
	why  string // why it is not an acceptable offer; "" if it is
}

// extensionValue joins a head's Sec-WebSocket-Extensions lines into one
// list (RFC 7230 §3.2.2: lines of one field combine with commas).
func extensionValue(head []byte) string {
	var vals []string
	for _, l := range headerLines(head) {
		if strings.EqualFold(l[0], "Sec-WebSocket-Extensions") && l[1] != "" {
			vals = append(vals, l[1])
		}
	}
	return strings.Join(vals, ", ")
}

// deflateOffers reads the permessage-deflate elements of a request's
// extension list, acceptable or not.
func deflateOffers(value string) []offer {
	var out []offer
	for _, e := range upgrade.ExtensionElements([]byte(value)) {
		if string(upgrade.ExtensionName(e)) != upgrade.DeflateExtension {
			continue
		}
		o, err := upgrade.ParseDeflateOffer(e)
		of := offer{text: string(e), o: o}
		if err != nil {
			of.why = err.Error()
		}
		out = append(out, of)
	}
	return out
}

// negotiate checks the server's extension answer against the client's
// offer. nil: permessage-deflate was neither offered nor answered. With
// offers and no answer, the result has answer "" (messages go plain). Any
// other extension answered must have been offered (RFC 6455 §9.1).
func negotiate(offered, answered string) (*negotiation, []violation) {
	var notes []violation
	names := map[string]bool{}
	for _, e := range upgrade.ExtensionElements([]byte(offered)) {
		names[string(upgrade.ExtensionName(e))] = true
	}
	var answers [][]byte
	for _, e := range upgrade.ExtensionElements([]byte(answered)) {
		name := string(upgrade.ExtensionName(e))
		switch {
		case name == upgrade.DeflateExtension:
			answers = append(answers, e)
		case !names[name]:
			notes = append(notes, violation{Section: "9.1", Reason: "the server answered the extension " + strconv.Quote(name) + ", which the client did not offer: the client must fail the connection"})
		}
	}
	offers := deflateOffers(offered)
	if len(offers) == 0 && len(answers) == 0 {
		return nil, notes
	}
	n := &negotiation{offers: offers, accepted: -1}
	if len(answers) == 0 {
		return n, notes
	}
	if len(answers) > 1 {
		n.notes = append(n.notes, violation{Section: "RFC 7692 §5", Reason: "permessage-deflate answered " + strconv.Itoa(len(answers)) + " times: two uses of RSV1 conflict, the client must fail the connection"})
	}
	elem := answers[0]
	n.answer = string(elem)
	// Offered "client_max_window_bits" without a value, any answer's own
	// parameters come back as they are.
	a, err := upgrade.ParseDeflateResponse(elem, upgrade.DeflateOffer{ClientMaxWindowBits: upgrade.OfferNoValue})
	if err != nil {
		n.notes = append(n.notes, violation{Section: "RFC 7692 §7.1", Reason: "the answer is not valid, the client must fail the connection: " + lastLine(err)})
		n.params = upgrade.DeflateParams{} // inflate as Wireshark does: context kept, 2^15 windows
		return n, append(notes, n.notes...)
	}
	n.answered, n.params = a, a
	var valid []upgrade.DeflateOffer
	for i, of := range offers {
		if of.why != "" {
			continue
		}
		valid = append(valid, of.o)
		if n.accepted < 0 {
			if p, err := upgrade.ParseDeflateResponse(elem, of.o); err == nil {
				n.accepted, n.params = i, p
			}
		}
	}
	if n.accepted < 0 {
		why := "permessage-deflate was not offered"
		if len(valid) > 0 {
			_, err := upgrade.ParseDeflateResponse(elem, valid...)
			why = lastLine(err)
		}
		n.notes = append(n.notes, violation{Section: "RFC 7692 §7.1", Reason: "the answer accepts none of the offers, the client must fail the connection: " + why})
	}
	return n, append(notes, n.notes...)
}

func lastLine(err error) string {
	s := err.Error()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// direction returns whether the sender in direction d keeps its LZ77
// window between messages (context takeover, RFC 7692 §7.1.1) and the
// window's size in bits (§7.1.2).
func (n *negotiation) direction(d Direction) (takeover bool, bits uint8) {
	if d == ClientToServer {
		return !n.params.ClientNoContextTakeover, n.params.ClientWindowBits()
	}
	return !n.params.ServerNoContextTakeover, n.params.ServerWindowBits()
}

// param is one of the four parameters, as offered and answered.
type param struct {
	Name     string `json:"name"`
	Offered  string `json:"offered"`  // "" not offered, "yes", "no value", or the value
	Answered string `json:"answered"` // "" not answered, "yes", or the value
	Added    bool   `json:"added_by_server,omitempty"`
	Section  string `json:"section"`
}

// params lists the four parameters of the accepted offer (or, when none
// was accepted, the first offer) against the answer's.
func (n *negotiation) params4() []param {
	var o upgrade.DeflateOffer
	switch {
	case n.accepted >= 0:
		o = n.offers[n.accepted].o
	case len(n.offers) > 0:
		o = n.offers[0].o
	}
	a := n.answered
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return ""
	}
	bits := func(b uint8) string {
		switch b {
		case 0:
			return ""
		case upgrade.OfferNoValue:
			return "no value"
		}
		return strconv.Itoa(int(b))
	}
	ps := []param{
		{"server_no_context_takeover", yes(o.ServerNoContextTakeover), yes(a.ServerNoContextTakeover), false, "RFC 7692 §7.1.1.1"},
		{"client_no_context_takeover", yes(o.ClientNoContextTakeover), yes(a.ClientNoContextTakeover), false, "RFC 7692 §7.1.1.2"},
		{"server_max_window_bits", bits(o.ServerMaxWindowBits), bits(a.ServerMaxWindowBits), false, "RFC 7692 §7.1.2.1"},
		{"client_max_window_bits", bits(o.ClientMaxWindowBits), bits(a.ClientMaxWindowBits), false, "RFC 7692 §7.1.2.2"},
	}
	for i := range ps {
		ps[i].Added = ps[i].Answered != "" && ps[i].Offered == ""
	}
	return ps
}

// meaning says what a parameter's answer does.
func (n *negotiation) meaning(p param) string {
	switch p.Name {
	case "server_no_context_takeover":
		if p.Answered != "" {
			return "the server compresses each message afresh"
		}
		return "the server may keep its window from message to message"
	case "client_no_context_takeover":
		switch {
		case p.Answered != "":
			return "the client must compress each message afresh"
		case p.Offered != "":
			return "the client compresses each message afresh, as it offered"
		}
		return "the client may keep its window from message to message"
	case "server_max_window_bits":
		if p.Answered != "" {
			return "the server looks back at most 2^" + p.Answered + " bytes"
		}
		return "the server may look back 2^15 bytes"
	}
	switch {
	case p.Answered != "":
		return "the client looks back at most 2^" + p.Answered + " bytes"
	case p.Offered != "" && p.Offered != "no value":
		return "the client looks back at most 2^" + p.Offered + " bytes, as it offered"
	}
	return "the client may look back 2^15 bytes"
}

// describeDirection says how the sender in d compresses, and what the dump
// keeps to follow it.
func (n *negotiation) describeDirection(d Direction) string {
	takeover, bits := n.direction(d)
	size := strconv.Itoa(1 << bits)
	if !takeover {
		return "no context takeover: each message inflates on its own (window 2^" + strconv.Itoa(int(bits)) + " = " + size + " bytes within a message)"
	}
	return "context takeover: a message may refer to the last 2^" + strconv.Itoa(int(bits)) + " = " + size +
		" bytes of the ones before; the dump keeps that many of what this direction inflated"
}

// appendHuman writes the negotiation under the response.
func (n *negotiation) appendHuman(b *strings.Builder) {
	b.WriteString("  permessage-deflate (RFC 7692):\n")
	for i, of := range n.offers {
		mark := ""
		switch {
		case i == n.accepted:
			mark = "  ← accepted"
		case of.why != "":
			mark = "  (not acceptable, a server declines it: " + of.why + ")"
		}
		b.WriteString("    offer " + strconv.Itoa(i+1) + "  " + of.text + mark + "\n")
	}
	if n.answer == "" {
		b.WriteString("    answer   (none): declined, messages go uncompressed and RSV1 stays 0\n")
		return
	}
	b.WriteString("    answer   " + n.answer + "\n")
	if len(n.offers) > 0 {
		b.WriteString("    parameter                    offered    answered\n")
		var added []string
		for _, p := range n.params4() {
			fmtCell := func(s string) string {
				if s == "" {
					s = "-"
				}
				return s + strings.Repeat(" ", max(0, 11-len(s)))
			}
			line := "    " + p.Name + strings.Repeat(" ", 29-len(p.Name)) + fmtCell(p.Offered) + fmtCell(p.Answered) + n.meaning(p)
			if p.Added {
				line += " (added by the server, " + p.Section + ")"
				added = append(added, p.Name)
			}
			b.WriteString(line + "\n")
		}
		if len(added) == 0 {
			b.WriteString("    the server added nothing to the offer\n")
		} else {
			b.WriteString("    the server added: " + strings.Join(added, ", ") + "\n")
		}
	}
	b.WriteString("    client→server: " + n.describeDirection(ClientToServer) + "\n")
	b.WriteString("    server→client: " + n.describeDirection(ServerToClient) + "\n")
}

// jsonNegotiation is the negotiation in a JSON event.
type jsonNegotiation struct {
	Offers   []jsonOffer `json:"offers"`
	Answer   string      `json:"answer,omitempty"`
	Accepted int         `json:"accepted_offer,omitempty"` // 1-based; 0: none
	Params   []param     `json:"parameters,omitempty"`
	Added    []string    `json:"added_by_server,omitempty"`
	C2S      *jsonDir    `json:"c2s,omitempty"`
	S2C      *jsonDir    `json:"s2c,omitempty"`
}

type jsonOffer struct {
	Text     string `json:"offer"`
	Declined string `json:"not_acceptable,omitempty"`
}

type jsonDir struct {
	Takeover   bool  `json:"context_takeover"`
	WindowBits uint8 `json:"window_bits"`
}

func (n *negotiation) json() *jsonNegotiation {
	j := &jsonNegotiation{Offers: []jsonOffer{}, Answer: n.answer, Accepted: n.accepted + 1}
	for _, of := range n.offers {
		j.Offers = append(j.Offers, jsonOffer{of.text, of.why})
	}
	if n.answer == "" {
		return j
	}
	if len(n.offers) > 0 {
		j.Params = n.params4()
		for _, p := range j.Params {
			if p.Added {
				j.Added = append(j.Added, p.Name)
			}
		}
	}
	t, b := n.direction(ClientToServer)
	j.C2S = &jsonDir{t, b}
	t, b = n.direction(ServerToClient)
	j.S2C = &jsonDir{t, b}
	return j
}

// hasDeflate reports whether an answer names permessage-deflate at all:
// RSV1 then means "compressed" whether or not the answer was valid.
func hasDeflate(answer string) bool {
	for _, e := range upgrade.ExtensionElements([]byte(answer)) {
		if bytes.Equal(upgrade.ExtensionName(e), []byte(upgrade.DeflateExtension)) {
			return true
		}
	}
	return false
}
