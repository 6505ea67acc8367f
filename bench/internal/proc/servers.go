package proc

import "strings"

// IsWsd says whether a server name is a wsd build: "wsd" itself or a
// second build beside it ("wsd-base": bin/wsd-base, built from another
// revision by `make bench-compare`), which take the same flags.
func IsWsd(name string) bool { return name == "wsd" || strings.HasPrefix(name, "wsd-") }

// ServerArgs are the command-line arguments of a benchmarked server: the
// listen address, and for a wsd build the extra flags (-wsd-flags).
func ServerArgs(name, addr string, wsdFlags string) []string {
	args := []string{"-addr", addr}
	if IsWsd(name) {
		args = append(args, strings.Fields(wsdFlags)...)
	}
	return args
}
