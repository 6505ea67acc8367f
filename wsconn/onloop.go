package wsconn

// OnLoop runs fn on the connection's event loop soon, from any goroutine:
// for work started elsewhere that must run where the connection's handler
// runs (Group.Add, a hello that has to precede the loop's own sends).
// fn runs even if the connection closed meanwhile: check IsOpen.
func (c *Conn) OnLoop(fn func()) { c.l.pl.Post(fn) }
