//go:build !linux

package poller

import (
	"errors"
	"net/netip"
	"time"
)

// Event bits (meaningless off Linux; kept so that callers build).
const (
	In    = 0x1
	Out   = 0x4
	RdHup = 0x2000
	Hup   = 0x10
	Err   = 0x8
)

var (
	ErrAgain = errors.New("poller: would block")
	ErrIntr  = errors.New("poller: interrupted")
)

type Handler interface {
	Event(l *Loop, fd int, events uint32)
	Tick(l *Loop, now time.Time)
}

// Loop exists off Linux only so that callers build; NewLoop fails.
type Loop struct {
	ID  int
	Buf []byte
}

type ListenOptions struct {
	ReusePort bool
	Backlog   int
}

func NewLoop(int, Handler, int, time.Duration) (*Loop, error) { return nil, ErrUnsupported }
func (l *Loop) Add(int, uint32) error                         { return ErrUnsupported }
func (l *Loop) Mod(int, uint32) error                         { return ErrUnsupported }
func (l *Loop) Del(int) error                                 { return ErrUnsupported }
func (l *Loop) Post(func())                                   {}
func (l *Loop) Stop()                                         {}
func (l *Loop) Done() <-chan struct{}                         { return nil }
func (l *Loop) Run() error                                    { return ErrUnsupported }
func (l *Loop) Polls() uint64                                 { return 0 }
func (l *Loop) Writev(int, [][]byte) (int, error)             { return 0, ErrUnsupported }

func Write(int, []byte, []byte, []byte) (int, error) { return 0, ErrUnsupported }
func Listen(string, ListenOptions) (int, netip.AddrPort, error) {
	return -1, netip.AddrPort{}, ErrUnsupported
}
func Accept(int) (int, error)                 { return -1, ErrUnsupported }
func AcceptFrom(int) (int, netip.Addr, error) { return -1, netip.Addr{}, ErrUnsupported }
func PeerAddr(int) netip.AddrPort             { return netip.AddrPort{} }
func Read(int, []byte) (int, error)           { return 0, ErrUnsupported }
func Close(int) error                         { return ErrUnsupported }
func ShutdownWrite(int) error                 { return ErrUnsupported }
func ShutdownBoth(int) error                  { return ErrUnsupported }
func SetNoDelay(int) error                    { return ErrUnsupported }
func MaxFDs() (int, error)                    { return 0, ErrUnsupported }
func OutOfFDs(error) bool                     { return false }

func Dial(netip.Addr, netip.AddrPort) (int, error) { return -1, ErrUnsupported }
func SocketError(int) error                        { return ErrUnsupported }
func IsRefused(error) bool                         { return false }
func IsTimeout(error) bool                         { return false }

// TCPInfo is not available off Linux.
func TCPInfo(int) (*struct{ Segs_in, Segs_out uint32 }, error) { return nil, ErrUnsupported }
