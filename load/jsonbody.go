package load

import (
	"math/rand/v2"
	"strconv"
)

// JSON bodies for measuring compression: what a notification backend
// sends (orders with ids, names, quantities and prices, and a note of
// words) rather than a repeated pattern, which DEFLATE shrinks to almost
// nothing. They are made from a seed, so that a receiver can make the
// same bytes again to check an echo.

// MinJSONTail is the smallest tail AppendJSONTail can make.
const MinJSONTail = len(`,"items":[],"note":""}`)

var jsonWords = [...]string{"tea", "green", "jasmine", "oolong", "black", "white", "cup", "pot", "leaf", "spring",
	"harvest", "mountain", "river", "garden", "morning", "evening", "fresh", "roasted", "smoked", "sweet",
	"gift", "box", "sample", "order", "paid", "shipped", "pending", "express", "standard", "warehouse",
	"north", "south", "east", "west", "large", "small", "classic", "reserve", "organic", "loose"}

// AppendJSONTail appends exactly n bytes (at least MinJSONTail) that end a
// JSON object whose members so far were appended before them:
// `,"items":[{…},…],"note":"…"}`. The same seed and n give the same bytes.
func AppendJSONTail(b []byte, n int, seed uint64) []byte {
	n = max(n, MinJSONTail)
	end := len(b) + n
	rng := rand.New(rand.NewPCG(seed, 0x6a736f6e))
	word := func() string { return jsonWords[rng.IntN(len(jsonWords))] }
	b = append(b, `,"items":[`...)
	const closing = len(`],"note":""}`)
	var item []byte
	for i := 0; ; i++ {
		item = item[:0]
		if i > 0 {
			item = append(item, ',')
		}
		item = strconv.AppendInt(append(item, `{"id":`...), int64(rng.IntN(900000)+100000), 10)
		item = append(append(append(item, `,"sku":"`...), word()...), '-')
		item = strconv.AppendInt(item, int64(rng.IntN(9000)+1000), 10)
		item = append(append(append(append(append(item, `","name":"`...), word()...), ' '), word()...), '"')
		item = strconv.AppendInt(append(item, `,"qty":`...), int64(rng.IntN(20)+1), 10)
		item = strconv.AppendInt(append(item, `,"price":`...), int64(rng.IntN(500)+1), 10)
		item = append(item, '.', byte('0'+rng.IntN(10)), byte('0'+rng.IntN(10)))
		item = append(append(append(item, `,"status":"`...), word()...), `"}`...)
		if len(b)+len(item)+closing > end {
			break
		}
		b = append(b, item...)
	}
	b = append(b, `],"note":"`...)
	for len(b) < end-2 {
		w, room := word(), end-2-len(b)
		if len(w) >= room {
			b = append(b, w[:room]...) // letters: valid in a string wherever cut
			break
		}
		b = append(append(b, w...), ' ')
	}
	return append(b, `"}`...)
}

// JSONNotification is a JSON object of exactly size bytes (or the
// smallest it can be) carrying stamp in its "stamp" member, its items
// and note made from seed: a notification as a backend would publish it.
func JSONNotification(stamp []byte, size int, seed uint64) []byte {
	b := append([]byte(`{"type":"notification","stamp":"`), stamp...)
	b = append(b, '"')
	return AppendJSONTail(b, size-len(b), seed)
}
