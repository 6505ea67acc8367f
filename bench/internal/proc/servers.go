package proc

import "strings"

// IsWsd says whether a server name is a wsd build: "wsd" itself or a
// second build beside it ("wsd-base": bin/wsd-base, built from another
// revision by `make bench-compare`), which take the same flags.
func IsWsd(name string) bool { return name == "wsd" || strings.HasPrefix(name, "wsd-") }

// Server is one entry of a benchmark's -servers list: a binary name,
// optionally with flags of its own after colons, so that one run can hold
// the same binary twice with different flags: "wsd:-loops=1" is bin/wsd
// started with -loops=1, shown as "wsd -loops=1".
type Server struct {
	Name  string   // the binary in -bin
	Flags []string // its own flags
}

// ParseServer reads a -servers entry.
func ParseServer(spec string) Server {
	f := strings.Split(spec, ":")
	return Server{Name: f[0], Flags: f[1:]}
}

// Label is how the server's rows are named.
func (s Server) Label() string {
	parts := []string{s.Name}
	for _, f := range s.Flags {
		if k, v, ok := strings.Cut(f, "="); ok && strings.Contains(v, "/") {
			f = k + "=…/" + v[strings.LastIndex(v, "/")+1:] // a file: its name is enough
		}
		parts = append(parts, f)
	}
	return strings.Join(parts, " ")
}

// Args are the command-line arguments to start it on addr: the address,
// for a wsd build the flags all wsd builds get (-wsd-flags), then its own.
func (s Server) Args(addr, wsdFlags string) []string {
	args := []string{"-addr", addr}
	if IsWsd(s.Name) {
		args = append(args, strings.Fields(wsdFlags)...)
	}
	return append(args, s.Flags...)
}
