# A tiny-device client for a coconet push server (the P2Pcluster line
# protocol). One file, MicroPython and CPython: a socket, lines ending in
# "\n", replies "[OK:...]" or "[FAIL:REASON]", pushes arriving as
# "PUSH:<data>".
#
#   python3 client.py HOST PORT KEY MY-ID TO-ID MESSAGE
#
# registers MY-ID, starts an HMAC-SHA256 session (STCP256), pushes MESSAGE
# to TO-ID, then prints the first push it receives and exits. TO-ID may be
# connected to another push server of the same network.
#
# The server side, on a member node of a coconet network (an admin makes
# the key once; every push server of the network knows it):
#
#   coco push key create NET                      # prints KEY
#   coco push-server NET --listen 0.0.0.0:7000
#
# On a board, copy the functions you need; sha256 is in every MicroPython
# build (md5, for the historic STCP form, is not).

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
    import uos as os
except ImportError:
    import os


def hexstr(b):
    return binascii.hexlify(b).decode()


def hmac_sha256(key, msg):
    # HMAC-SHA256 by hand: MicroPython has no hmac module.
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + b"\x00" * (64 - len(key))
    inner = hashlib.sha256(bytes(k ^ 0x36 for k in key) + msg).digest()
    return hashlib.sha256(bytes(k ^ 0x5C for k in key) + inner).digest()


class Device:
    def __init__(self, host, port, key):
        addr = socket.getaddrinfo(host, port)[0][-1]
        self.sock = socket.socket()
        self.sock.connect(addr)
        self.key = key          # the account key
        self.rnd = None         # the server random while a session is on
        self.buf = b""
        self.pushes = []        # pushes that arrived while we waited for a reply

    # --- lines -----------------------------------------------------------
    def send(self, line):
        data = line.encode() + b"\n"
        while data:
            data = data[self.sock.send(data):]

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(256)
            if not chunk:
                raise OSError("server closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def command(self, line):
        """Send a command and return the text of its [OK:...] reply."""
        self.send(line)
        while True:
            reply = self.readline()
            if reply.startswith("PUSH:") or reply.startswith("RAW:"):
                self.pushes.append(reply)   # not our reply; keep it for later
                continue
            if reply.startswith("[OK:"):
                return reply[4:-1]
            raise OSError("server said " + reply)

    # --- keys ------------------------------------------------------------
    def k(self):
        # During a session the session key HMAC-SHA256(key, rnd) replaces
        # the account key, so a captured line is useless elsewhere.
        if self.rnd is None:
            return self.key
        return hexstr(hmac_sha256(self.key.encode(), self.rnd.encode()))

    # --- commands --------------------------------------------------------
    def register(self, my_id):
        self.my_id = my_id
        return self.command("TCP:ID:%s:%s" % (self.key, my_id))

    def start_session(self):
        client_rnd = hexstr(os.urandom(8))
        reply = self.command("STCP256:%s:ACTIVATE:%s" % (self.my_id, client_rnd))
        rnd, proof = reply.split(":")
        want = hexstr(hmac_sha256(self.key.encode(), (client_rnd + rnd).encode()))
        if proof != want:
            raise OSError("the server does not know our key: wrong proof")
        self.rnd = rnd

    def push(self, to_id, data):
        return self.command("TCP:PUSH:%s:RID:%s:%s" % (self.k(), to_id, data))

    def time(self, offset="+00:00"):
        return self.command("TCP:TIME:%s:%s" % (self.k(), offset))

    def receive(self):
        """Wait for the next push and return its data."""
        while not self.pushes:
            line = self.readline()
            if line.startswith("PUSH:"):
                return line[5:]
        return self.pushes.pop(0)[5:]

    def keepalive(self):
        self.send("")   # an empty line: call it more often than the idle timeout


def main(argv):
    host, port, key, my_id, to_id, message = argv[1:7]
    dev = Device(host, int(port), key)
    dev.register(my_id)
    dev.start_session()
    print("registered " + my_id)
    print("pushed " + dev.push(to_id, message))
    print("time " + dev.time("+01:00"))
    print("received " + dev.receive())


if __name__ == "__main__":
    import sys
    main(sys.argv)
