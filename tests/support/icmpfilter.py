"""ICMP sockets that lose replies for real: the probe's own opener plus a classic BPF program attached to
the socket (SO_ATTACH_FILTER), so the kernel drops what the program rejects."""

from __future__ import annotations

import ctypes
import socket
import struct

from slowatch.probes import icmp

SO_ATTACH_FILTER = 26
DROP_ALL = ((0x06, 0, 0, 0),)
"""ret #0: no reply ever arrives (an address that does not answer)."""
ONLY_SEQ_0 = ((0x28, 0, 0, 26), (0x15, 0, 1, 0), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0))
"""ldh [26] (the sequence number, past a 20-byte IPv4 header); accept only sequence 0 (raw IPv4 sockets)."""


def filtered(*program: tuple[int, int, int, int]) -> icmp.Opener:
    def opener(family: int) -> tuple[socket.socket, bool]:
        sock, raw = icmp.open_icmp_socket(family)
        code = b"".join(struct.pack("HBBI", *insn) for insn in program)
        buffer = ctypes.create_string_buffer(code)  # the kernel copies the program during setsockopt
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, struct.pack("HL", len(program), ctypes.addressof(buffer)))
        return sock, raw

    return opener
