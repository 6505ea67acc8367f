package trace

// Tap is a second reader of the trace: package trace/web's live page. It
// gets every event as the JSON object wsdump -json writes (one line,
// without its newline), whatever format the tracer's own writer has, but
// only while Watching says someone looks: with nobody watching, an event
// costs one call to Watching (an atomic load) more than the trace itself.
type Tap interface {
	// Watching reports whether events are wanted now. It is asked once per
	// event, on the traffic's path: it must be cheap.
	Watching() bool
	// Event takes one event. It runs on the traffic's path (wsdump's relay,
	// or a wsd event loop with the connection locked): it must not block,
	// and must copy line if it keeps it.
	Event(line []byte)
}

// outputs says where one event goes.
type outputs struct {
	json bool // as a JSON line to the writer (Options.JSON)
	text bool // as text to the writer
	tap  bool // as a JSON line to the tap
}

// renderJSON reports whether the event must be rendered as JSON at all.
func (o outputs) renderJSON() bool { return o.json || o.tap }

// outputs decides, once per event, where it goes.
func (t *Tracer) outputs() outputs {
	o := outputs{json: t.w != nil && t.opt.JSON, text: t.w != nil && !t.opt.JSON}
	o.tap = t.opt.Tap != nil && t.opt.Tap.Watching()
	return o
}

// Traces reports whether the tracer has a reader now: a writer, or a tap
// with someone watching. wsd -trace-web leaves a connection unobserved when
// it opens with nobody to show it to.
func (t *Tracer) Traces() bool {
	return t.w != nil || (t.opt.Tap != nil && t.opt.Tap.Watching())
}

// emitLine sends one JSON event (without its newline) where o says.
func (t *Tracer) emitLine(o outputs, line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o.tap {
		t.opt.Tap.Event(line)
	}
	if o.json {
		t.w.Write(append(line, '\n'))
	}
}
