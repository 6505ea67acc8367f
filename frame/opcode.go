package frame

// Opcode is the 4-bit frame type of RFC 6455 §5.2.
type Opcode uint8

// Opcodes defined by RFC 6455 §5.2 (§11.8). The others are reserved.
const (
	OpContinuation Opcode = 0x0
	OpText         Opcode = 0x1
	OpBinary       Opcode = 0x2
	OpClose        Opcode = 0x8
	OpPing         Opcode = 0x9
	OpPong         Opcode = 0xA
)

// IsControl reports whether o is a control opcode (§5.5: the high bit set).
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsData reports whether o starts or continues a data message.
func (o Opcode) IsData() bool { return o <= OpBinary }

// IsReserved reports whether o is one of the reserved opcodes 0x3-0x7 and
// 0xB-0xF (§5.2), or does not fit in four bits.
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

var opNames = [16]string{
	0x0: "continuation", 0x1: "text", 0x2: "binary",
	0x3: "reserved-3", 0x4: "reserved-4", 0x5: "reserved-5", 0x6: "reserved-6", 0x7: "reserved-7",
	0x8: "close", 0x9: "ping", 0xA: "pong",
	0xB: "reserved-B", 0xC: "reserved-C", 0xD: "reserved-D", 0xE: "reserved-E", 0xF: "reserved-F",
}

// String names the opcode as RFC 6455 §5.2 does ("text", "ping", ...).
func (o Opcode) String() string {
	if o > 0xF {
		return "invalid"
	}
	return opNames[o]
}
