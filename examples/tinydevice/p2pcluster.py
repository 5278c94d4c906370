# A tiny-device client for a push server speaking the original P2Pcluster
# protocol (`coco push-server`'s default dialect, or the original server).
# One file, CPython and MicroPython: commands go out without a terminator
# (one write, one command), replies come back without one ("[OK:...]",
# "[FAIL:...]", some bare like "FAIL:NOID"), a push arrives as
# "PUSH:<data>".
#
#   python3 p2pcluster.py HOST PORT KEY USER MY-ID TO-ID MESSAGE
#
# starts an STCP session with the account's user id USER before TCP:ID, so
# that KEY never crosses the wire, checks the server's proof, registers
# MY-ID, pushes MESSAGE to TO-ID, asks the time at +05:30, then prints the
# first push it receives and exits.
#
# The server side (an admin makes the key once):
#
#   coco push key create NET --account USER      # prints KEY
#   coco push-server NET --listen 0.0.0.0:7000
#
# STCP needs MD5, which CPython has; most MicroPython builds do not
# (build with MICROPY_PY_HASHLIB_MD5, or use the coconet dialect's STCP256).

try:
    import usocket as socket
except ImportError:
    import socket
try:
    import uhashlib as hashlib
except ImportError:
    import hashlib
try:
    import ubinascii as binascii
except ImportError:
    import binascii
try:
    import urandom as random
except ImportError:
    import random
import sys


def md5_upper(s):
    return binascii.hexlify(hashlib.md5(s.encode()).digest()).decode().upper()


def reply(sock):
    # A reply ends with ']' (bare FAIL:... replies are read as they come).
    out = b""
    while True:
        b = sock.recv(1)
        if not b:
            raise OSError("connection closed")
        out += b
        if b == b"]":
            return out.decode()
        if out in (b"FAIL:NOID", b"FAIL:NOKEY", b"FAIL:NO_ROUTER"):
            return out.decode()


def command(sock, cmd):
    sock.send(cmd.encode())
    return reply(sock)


def main(host, port, key, user, my_id, to_id, message):
    sock = socket.socket()
    sock.connect(socket.getaddrinfo(host, int(port))[0][-1])
    # A client random of digits: the server refuses one that looks like
    # its own challenges (8 upper-case hex digits with a letter).
    crnd = "".join(str(random.getrandbits(3) % 10) for _ in range(12))
    r = command(sock, "STCP:%s:ACTIVATE:%s" % (user, crnd))
    if not r.startswith("[OK:"):
        raise SystemExit("STCP: " + r)
    rnd, proof = r[4:-1].split(":")
    if proof != md5_upper(key + crnd):
        raise SystemExit("the server does not know the key: proof " + proof)
    skey = md5_upper(key + rnd)
    r = command(sock, "TCP:ID:%s:%s" % (skey, my_id))
    if r != "[OK:%s]" % my_id.upper():
        raise SystemExit("TCP:ID: " + r)
    print("registered " + my_id)
    r = command(sock, "TCP:PUSH:%s:RID:%s:%s" % (skey, to_id, message))
    if r != "[OK:DATA_SENT]":
        raise SystemExit("PUSH: " + r)
    print("pushed " + r)
    print("time " + command(sock, "TCP:TIME:%s:+05:30" % skey))
    while True:
        data = sock.recv(512)
        if not data:
            raise SystemExit("connection closed")
        if data.startswith(b"PUSH:"):
            print("received " + data[5:].decode())
            break
    sock.close()


if __name__ == "__main__":
    if len(sys.argv) != 8:
        raise SystemExit("usage: p2pcluster.py HOST PORT KEY USER MY-ID TO-ID MESSAGE")
    main(*sys.argv[1:])
