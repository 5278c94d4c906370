package gateway

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"syscall"
)

// maxKeyFails is how many commands with a wrong key a connection may send
// before it has sent one with a valid key; the next closes it (the
// original closes after 5 wrong TCP:ID keys).
const maxKeyFails = 5

// handleP2P runs one command of the P2Pcluster dialect.
func (c *conn) handleP2P(line []byte) {
	cmd, bad := parseP2P(line)
	if bad != "" {
		c.replyLine([]byte(bad))
		return
	}
	if cmd.proto != ProtoTCP {
		c.p2pSession(cmd)
		return
	}
	account, key, ok := c.authP2P(cmd)
	if !ok {
		c.replyLine([]byte(p2pBadKey))
		if !c.authed {
			if c.keyFails++; c.keyFails > maxKeyFails {
				c.finish()
			}
		}
		return
	}
	c.markAuthed()
	s := c.s
	switch cmd.verb {
	case VerbID:
		c.p2pRegister(account, key, string(cmd.rest))
		return
	case VerbGID, VerbREMID, VerbPUSH, VerbTIME, "RETDATA", "EMAIL":
	default: // GOOGLESHEET is left out: it fetched any URL a device named
		c.replyLine([]byte(p2pInvalid))
		return
	}
	s.mu.Lock()
	me, mine := c.id, c.account == account
	s.mu.Unlock()
	if me == "" || !mine {
		if me == "" {
			c.replyLine([]byte(p2pNoID))
		} else {
			c.replyLine([]byte("FAIL:NOKEY"))
		}
		return
	}
	switch cmd.verb {
	case VerbGID:
		c.replyLine([]byte("[OK:" + strings.ToUpper(me) + "]"))
	case VerbREMID:
		s.mu.Lock()
		c.unregisterLocked()
		s.mu.Unlock()
		c.replyLine([]byte(p2pRemoved))
	case VerbTIME:
		c.replyLine([]byte(p2pTime(s.Now(), string(cmd.rest))))
	case "RETDATA":
		if b, ok := p2pRetdata(c.sent, string(cmd.rest)); ok {
			c.replyLine(b)
		}
	case "EMAIL":
		c.replyLine([]byte(c.p2pMail(account, cmd.rest)))
	case VerbPUSH:
		c.p2pPush(account, cmd.rest)
	}
}

// p2pPush runs TCP:PUSH:<key>:<group>:… (rest is what follows the key).
func (c *conn) p2pPush(account string, rest []byte) {
	group, rest, ok := bytes.Cut(rest, []byte{':'})
	if !ok || len(group) == 0 {
		c.replyLine([]byte(p2pFormat))
		return
	}
	g := strings.ToUpper(string(group))
	switch g {
	case GroupFriends, GroupChilds, GroupAllChilds, GroupParent:
		c.push(account, Command{Proto: ProtoTCP, Verb: VerbPUSH, Group: g, Data: rest})
	case GroupRID, GroupRouter:
		target, data, ok := bytes.Cut(rest, []byte{':'})
		if !ok || !validID(target) {
			if g == GroupRID {
				c.replyLine([]byte(p2pRemID))
			} else {
				c.replyLine([]byte(p2pNoRouter))
			}
			return
		}
		c.push(account, Command{Proto: ProtoTCP, Verb: VerbPUSH, Group: g, Target: string(target), Data: data})
	case VerbRAW:
		if !validID(rest) {
			c.replyLine([]byte(p2pRemID))
			return
		}
		c.pair(account, string(rest))
	default:
		c.replyLine([]byte(p2pUnknownGroup))
	}
}

// p2pRegister runs TCP:ID: the first live connection of an id keeps it; a
// second one gets [FAIL:NODEEXIST] and is closed. Ids are case-insensitive:
// the id is registered as the directory spells it (upper case if it does
// not know it) and echoed in upper case.
func (c *conn) p2pRegister(account, key, id string) {
	if !validID([]byte(id)) {
		c.replyLine([]byte(p2pBadID))
		return
	}
	s := c.s
	canon, shown := s.canonID(account, id), strings.ToUpper(id)
	s.mu.Lock()
	if c.id != "" {
		cur, acct := c.id, c.account
		s.mu.Unlock()
		switch {
		case acct != account:
			c.replyLine([]byte(p2pKeyOverride))
		case cur == canon:
			c.replyLine([]byte("[OK:" + shown + "]"))
		default:
			c.replyLine([]byte("[FAIL:" + strings.ToUpper(cur) + "]"))
		}
		return
	}
	k := acctID{account, canon}
	for {
		old := s.ids[k]
		if old == nil || old == c || old.closing.Load() {
			break
		}
		if !old.peerClosed() {
			s.mu.Unlock()
			c.replyLine([]byte(p2pNodeExists))
			c.finish()
			return
		}
		// The device closed it (a reboot) and its reader has not seen it
		// yet: the id is free (the original finds out with a write).
		s.mu.Unlock()
		old.close()
		s.mu.Lock()
	}
	s.ids[k] = c
	c.account, c.id, c.key = account, canon, key
	s.mu.Unlock()
	c.replyLine([]byte("[OK:" + shown + "]"))
}

// authP2P checks the key of a TCP command: the account key (any case), or
// during a session the session key or the command's packet key.
func (c *conn) authP2P(cmd p2pCmd) (account, key string, ok bool) {
	ss := c.sess
	if ss == nil {
		return c.s.lookupKey(cmd.key)
	}
	want := ss.skey
	switch {
	case ss.p2p && ss.perPacket:
		c.s.mu.Lock()
		registered := c.id != ""
		c.s.mu.Unlock()
		want = md5Upper(ss.key + ss.rnd + p2pPacketData(cmd.rest, registered))
	case ss.perPacket:
		want = PacketKey(ss.mode, ss.key, ss.rnd, cmd.rest)
	}
	if !keyEqual(cmd.key, strings.ToLower(want)) {
		return "", "", false
	}
	account, ok = c.s.Keys.Lookup(ss.key) // revoked keys end sessions too
	return account, ss.key, ok
}

// p2pSession runs STCP/DSTCP (and coconet's STCP256/DSTCP256) commands:
// <proto>:<account user id>:ACTIVATE[:<clientRnd>] and
// <proto>:<user id>:DEACTIVATE. They may come before TCP:ID, so that the
// account key never crosses the wire.
func (c *conn) p2pSession(cmd p2pCmd) {
	s := c.s
	switch cmd.verb {
	case VerbDEACTIVATE:
		c.sess = nil
		c.replyLine([]byte("[OK:" + cmd.proto + "_DEACTIVATED]"))
		return
	case VerbACTIVATE:
	default:
		c.replyLine([]byte(p2pBadFormat))
		return
	}
	mode, perPacket := modeOf(cmd.proto)
	key, ok := "", false
	if ak, is := s.Keys.(AccountKeys); is && mode == ModeMD5 {
		key, _, ok = ak.AccountKey(cmd.uid)
	}
	if !ok {
		// coconet's form names the connection's own id, after TCP:ID;
		// STCP256/DSTCP256 take only this form, so that their proof is
		// never offered to a connection that has not shown the key.
		s.mu.Lock()
		if c.id != "" && strings.ToUpper(c.id) == cmd.uid {
			key, ok = c.key, true
		}
		s.mu.Unlock()
	}
	if !ok {
		c.replyLine([]byte(p2pBadUser))
		return
	}
	if cmd.clientRnd != "" && !validKey([]byte(cmd.clientRnd)) {
		c.replyLine([]byte(p2pBadFormat))
		return
	}
	ss := &session{mode: mode, perPacket: perPacket, key: key}
	proof := ""
	if mode == ModeMD5 {
		// The original's forms: an 8-digit upper-case hex challenge,
		// session key MD5(key ‖ rnd), proof MD5(key ‖ clientRnd).
		ss.p2p, ss.rnd = true, challenge()
		ss.skey = md5Upper(key + ss.rnd)
		if len(cmd.clientRnd) >= 8 {
			if challengeLike(cmd.clientRnd) {
				// MD5(key ‖ clientRnd) for a clientRnd that starts
				// like a challenge would be the session (or packet) key
				// of another connection: an oracle for strangers.
				c.replyLine([]byte("[FAIL:CLIENT_RND]"))
				return
			}
			proof = ":" + md5Upper(key+cmd.clientRnd)
		}
	} else {
		var r [16]byte
		rand.Read(r[:])
		ss.rnd = hex.EncodeToString(r[:])
		ss.skey = SessionKey(mode, key, ss.rnd)
		if cmd.clientRnd != "" {
			proof = ":" + Proof(mode, key, cmd.clientRnd, ss.rnd)
		}
	}
	c.sess = ss
	c.replyLine([]byte("[OK:" + ss.rnd + proof + "]"))
}

// challenge returns a server challenge of the original's form, 8
// upper-case hex digits, with at least one letter (see challengeLike).
func challenge() string {
	for {
		var r [4]byte
		rand.Read(r[:])
		s := strings.ToUpper(hex.EncodeToString(r[:]))
		if strings.ContainsAny(s, "ABCDEF") {
			return s
		}
	}
}

// challengeLike reports whether a client random starts with 8 upper-case
// hex digits holding a letter: the form of every server challenge.
func challengeLike(rnd string) bool {
	if len(rnd) < 8 {
		return false
	}
	letter := false
	for _, ch := range []byte(rnd[:8]) {
		switch {
		case '0' <= ch && ch <= '9':
		case 'A' <= ch && ch <= 'F':
			letter = true
		default:
			return false
		}
	}
	return letter
}

// peerClosed reports whether the device has closed (or reset) the
// connection: a peek at its socket, without waiting and without taking
// the bytes from its reader, finds the end of the stream or an error.
func (c *conn) peerClosed() bool {
	if c.rc == nil {
		return false
	}
	closed := false
	c.rc.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = (n == 0 && err == nil) || (err != nil && err != syscall.EAGAIN && err != syscall.EINTR)
	})
	return closed
}
