//go:build linux

package capture

import (
	"fmt"

	"github.com/portkit/ports/filter"
	"github.com/portkit/ports/pcapfile"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// skipMode says which packets the kernel program drops before the filter.
type skipMode uint8

const (
	skipNone skipMode = iota
	// skipOutgoing drops packets going out: on a loopback interface,
	// where each packet also comes back in.
	skipOutgoing
	// skipLoopbackOutgoing drops packets going out on a loopback
	// interface: for AnyInterface.
	skipLoopbackOutgoing
)

// kernelProgram builds the classic BPF program attached to the socket:
// expr compiled by package filter for link, returning snaplen for a
// packet it accepts (the kernel cuts the packet there), behind the
// checks of skip.
//
// With cooked set the socket is SOCK_DGRAM, so the kernel runs the
// program over the packet from its network header on, without the SLL
// header that the Handle writes later; the program compiled for
// LinkTypeLinuxSLL is rewritten for that, as libpcap does: loads from the
// network header move back by 16 bytes, the protocol field becomes the
// kernel's protocol extension, and the snapshot length loses the header.
func kernelProgram(expr string, link pcapfile.LinkType, cooked bool, snaplen int, skip skipMode) ([]bpf.RawInstruction, error) {
	prog, err := filter.Compile(expr, link, snaplen)
	if err != nil {
		if expr != "" {
			return nil, fmt.Errorf("%w in %q", err, expr)
		}
		return nil, err
	}
	if cooked {
		if prog, err = uncook(prog, max(snaplen-sllLen, 1)); err != nil {
			return nil, err
		}
	}
	prog = append(skipProgram(skip), prog...)
	if len(prog) > filter.MaxInstructions {
		return nil, fmt.Errorf("%w: %d instructions, the limit is %d", filter.ErrProgramTooLong, len(prog), filter.MaxInstructions)
	}
	return bpf.Assemble(prog)
}

// skipProgram returns the instructions that go in front of the filter to
// drop the packets skip names; they fall through to the filter for the
// others. The filter does not depend on what they leave in A (package
// filter assumes nothing about the registers at the start).
func skipProgram(skip skipMode) []bpf.Instruction {
	switch skip {
	case skipOutgoing:
		return []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 1},
			bpf.RetConstant{Val: 0},
		}
	case skipLoopbackOutgoing:
		return []bpf.Instruction{
			bpf.LoadExtension{Num: bpf.ExtType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.PACKET_OUTGOING, SkipTrue: 0, SkipFalse: 3},
			bpf.LoadExtension{Num: bpf.ExtLinkLayerType},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ARPHRD_LOOPBACK, SkipTrue: 0, SkipFalse: 1},
			bpf.RetConstant{Val: 0},
		}
	}
	return nil
}

// uncook rewrites a program compiled for LinkTypeLinuxSLL to run over the
// packet without the SLL header in front, returning kernelSnap for an
// accepted packet. Jumps are relative and every instruction is replaced
// by one, so they stay right. Of the SLL header, the protocol and the
// packet type become the kernel's extensions; a program that reads its
// other fields is refused.
func uncook(prog []bpf.Instruction, kernelSnap int) ([]bpf.Instruction, error) {
	const protoOff = 14 // the SLL protocol field
	out := make([]bpf.Instruction, len(prog))
	for i, ins := range prog {
		bad := false
		switch in := ins.(type) {
		case bpf.LoadAbsolute:
			switch {
			case in.Off == protoOff && in.Size == 2:
				ins = bpf.LoadExtension{Num: bpf.ExtProto}
			case in.Off == 0 && in.Size == 2:
				// The packet type (inbound, outbound): the kernel's
				// sll_pkttype, which the SLL header carries.
				ins = bpf.LoadExtension{Num: bpf.ExtType}
			case in.Off >= sllLen:
				in.Off -= sllLen
				ins = in
			default:
				bad = true
			}
		case bpf.LoadIndirect:
			if bad = in.Off < sllLen; !bad {
				in.Off -= sllLen
				ins = in
			}
		case bpf.LoadMemShift:
			if bad = in.Off < sllLen; !bad {
				in.Off -= sllLen
				ins = in
			}
		case bpf.RetConstant:
			if in.Val != 0 {
				ins = bpf.RetConstant{Val: uint32(kernelSnap)}
			}
		case bpf.RetA, bpf.LoadExtension:
			bad = true
		case bpf.JumpIf, bpf.JumpIfX, bpf.Jump, bpf.ALUOpConstant, bpf.ALUOpX,
			bpf.LoadConstant, bpf.LoadScratch, bpf.StoreScratch, bpf.TAX, bpf.TXA, bpf.NegateA:
		default:
			bad = true
		}
		if bad {
			return nil, fmt.Errorf("capture: cannot adapt BPF instruction %d (%v) for a cooked socket", i, ins)
		}
		out[i] = ins
	}
	return out, nil
}
