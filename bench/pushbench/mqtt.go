package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// A minimal MQTT 3.1.1 client: CONNECT, SUBSCRIBE and PUBLISH at QoS 0,
// nothing else. It does as little work per message as the line client of
// the push server, so that the clients cost both sides alike.

type mqttConn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

func appendLen(b []byte, n int) []byte { // remaining length, a varint of 7-bit groups
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

func appendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// packet frames a control packet.
func packet(first byte, body []byte) []byte {
	return append(appendLen([]byte{first}, len(body)), body...)
}

// dialMQTT connects with a clean session and no keepalive, and reads the
// CONNACK. bufSize sizes the reader and writer (small for 10,000 idle
// connections).
func dialMQTT(addr, clientID string, bufSize int) (*mqttConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &mqttConn{nc: nc, r: bufio.NewReaderSize(nc, bufSize), w: bufio.NewWriterSize(nc, bufSize)}
	body := appendStr(nil, "MQTT")
	body = append(body, 4, 0x02, 0, 0) // level 4, clean session, keepalive 0
	body = appendStr(body, clientID)
	if _, err := nc.Write(packet(0x10, body)); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.expect(0x20, 2); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connack: %w", err)
	}
	return c, nil
}

// startConnect sends CONNECT and SUBSCRIBE without waiting (10,000 devices
// connect in batches); finishConnect reads their acknowledgements.
func startConnect(addr, clientID, topic string) (*mqttConn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &mqttConn{nc: nc, r: bufio.NewReaderSize(nc, 16)}
	body := appendStr(nil, "MQTT")
	body = append(body, 4, 0x02, 0, 0)
	body = appendStr(body, clientID)
	b := packet(0x10, body)
	b = append(b, subscribePacket(topic)...)
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *mqttConn) finishConnect() error {
	if err := c.expect(0x20, 2); err != nil {
		return fmt.Errorf("connack: %w", err)
	}
	if err := c.expect(0x90, 3); err != nil {
		return fmt.Errorf("suback: %w", err)
	}
	return nil
}

func subscribePacket(topic string) []byte {
	body := []byte{0, 1} // packet id 1
	body = appendStr(body, topic)
	body = append(body, 0) // QoS 0
	return packet(0x82, body)
}

// subscribe subscribes at QoS 0 and reads the SUBACK.
func (c *mqttConn) subscribe(topic string) error {
	if _, err := c.nc.Write(subscribePacket(topic)); err != nil {
		return err
	}
	return c.expect(0x90, 3)
}

// expect reads one packet of type first with n bytes of body; a granted
// QoS of 0x80 in a SUBACK is a refusal.
func (c *mqttConn) expect(first byte, n int) error {
	typ, body, err := c.readPacket()
	if err != nil {
		return err
	}
	if typ != first || len(body) != n {
		return fmt.Errorf("got packet 0x%02x with %d bytes, want 0x%02x with %d", typ, len(body), first, n)
	}
	if first == 0x20 && body[1] != 0 {
		return fmt.Errorf("refused with return code %d", body[1])
	}
	if first == 0x90 && body[2] == 0x80 {
		return errors.New("subscription refused")
	}
	return nil
}

func (c *mqttConn) readPacket() (typ byte, body []byte, err error) {
	typ, err = c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mul := 0, 1
	for i := 0; ; i++ {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(d&0x7f) * mul
		mul *= 128
		if d&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	body = make([]byte, n)
	_, err = io.ReadFull(c.r, body)
	return typ, body, err
}

// publish queues a QoS 0 PUBLISH; flush sends what is queued.
func (c *mqttConn) publish(topic string, payload []byte) error {
	n := 2 + len(topic) + len(payload)
	b := appendLen([]byte{0x30}, n)
	b = appendStr(b, topic)
	if _, err := c.w.Write(b); err != nil {
		return err
	}
	_, err := c.w.Write(payload)
	return err
}

func (c *mqttConn) flush() error { return c.w.Flush() }

// next returns the payload of the next PUBLISH.
func (c *mqttConn) next() ([]byte, error) {
	for {
		typ, body, err := c.readPacket()
		if err != nil {
			return nil, err
		}
		if typ&0xf0 != 0x30 || len(body) < 2 {
			continue
		}
		tl := int(binary.BigEndian.Uint16(body))
		if 2+tl > len(body) {
			return nil, errors.New("malformed PUBLISH")
		}
		off := 2 + tl
		if typ&0x06 != 0 { // QoS > 0 has a packet id
			off += 2
		}
		return body[off:], nil
	}
}

func (c *mqttConn) close() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write([]byte{0xe0, 0}) // DISCONNECT
	c.nc.Close()
}
