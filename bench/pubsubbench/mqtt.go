package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// A minimal MQTT 3.1.1 client (CONNECT, SUBSCRIBE, PUBLISH at QoS 0): a
// fast client for Mosquitto, so that the comparison measures the broker,
// not paho. Publishes are buffered and written in batches, as NATS's
// client does; each subscriber connection has one reader goroutine that
// hands every PUBLISH's payload to the subscriptions of its topic.

type mqttConn struct {
	nc net.Conn
	r  *bufio.Reader

	wmu sync.Mutex // guards w
	w   *bufio.Writer

	mu   sync.Mutex // guards subs
	subs map[string][]*mqttSub
	acks chan struct{}
	done chan struct{}
}

type mqttSub struct{ onMsg func([]byte) }

func mqttAppendLen(b []byte, n int) []byte {
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

func mqttAppendStr(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

func mqttPacket(first byte, body []byte) []byte {
	return append(mqttAppendLen([]byte{first}, len(body)), body...)
}

// dialMQTT connects with a clean session and no keepalive, reads the
// CONNACK and starts the reader.
func dialMQTT(addr, clientID string) (*mqttConn, error) {
	nc, err := net.Dial("tcp", strings.TrimPrefix(addr, "tcp://"))
	if err != nil {
		return nil, err
	}
	c := &mqttConn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10),
		subs: map[string][]*mqttSub{}, acks: make(chan struct{}, 16), done: make(chan struct{})}
	body := mqttAppendStr(nil, "MQTT")
	body = append(body, 4, 0x02, 0, 0) // level 4, clean session, keepalive 0
	body = mqttAppendStr(body, clientID)
	if _, err := nc.Write(mqttPacket(0x10, body)); err != nil {
		nc.Close()
		return nil, err
	}
	typ, b, err := c.readPacket()
	if err != nil || typ != 0x20 || len(b) != 2 || b[1] != 0 {
		nc.Close()
		return nil, fmt.Errorf("connack: %x %x %v", typ, b, err)
	}
	go c.read()
	return c, nil
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
	// The body is read in place when the buffer holds it: no allocation.
	if n <= c.r.Size() {
		body, err = c.r.Peek(n)
		if err != nil {
			return 0, nil, err
		}
		c.r.Discard(n)
		return typ, body, nil
	}
	body = make([]byte, n)
	_, err = io.ReadFull(c.r, body)
	return typ, body, err
}

func (c *mqttConn) read() {
	defer close(c.done)
	for {
		typ, body, err := c.readPacket()
		if err != nil {
			return
		}
		switch typ & 0xf0 {
		case 0x90, 0xb0: // SUBACK, UNSUBACK
			c.acks <- struct{}{}
		case 0x30:
			if len(body) < 2 {
				return
			}
			tl := int(binary.BigEndian.Uint16(body))
			off := 2 + tl
			if typ&0x06 != 0 {
				off += 2
			}
			if off > len(body) {
				return
			}
			c.mu.Lock()
			subs := c.subs[string(body[2:2+tl])]
			c.mu.Unlock()
			for _, s := range subs {
				s.onMsg(body[off:])
			}
		}
	}
}

func (c *mqttConn) control(first byte, body []byte) error {
	c.wmu.Lock()
	c.w.Write(mqttPacket(first, body))
	err := c.w.Flush()
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-c.acks:
		return nil
	case <-c.done:
		return errors.New("connection closed")
	case <-time.After(10 * time.Second):
		return errors.New("no acknowledgement within 10s")
	}
}

// subscribe subscribes at QoS 0 (the broker knows one subscription per
// topic per connection; more on one connection share it here).
func (c *mqttConn) subscribe(topic string, onMsg func([]byte)) (func(), error) {
	s := &mqttSub{onMsg: onMsg}
	c.mu.Lock()
	first := len(c.subs[topic]) == 0
	c.subs[topic] = append(c.subs[topic], s)
	c.mu.Unlock()
	if first {
		body := mqttAppendStr([]byte{0, 1}, topic)
		if err := c.control(0x82, append(body, 0)); err != nil {
			return nil, fmt.Errorf("subscribe: %w", err)
		}
	}
	return func() {
		c.mu.Lock()
		subs := c.subs[topic]
		for i, o := range subs {
			if o == s {
				subs = append(subs[:i:i], subs[i+1:]...)
				break
			}
		}
		c.subs[topic] = subs
		last := len(subs) == 0
		c.mu.Unlock()
		if last {
			c.control(0xa2, mqttAppendStr([]byte{0, 2}, topic))
		}
	}, nil
}

// publish queues a QoS 0 PUBLISH; flush sends what is queued.
func (c *mqttConn) publish(topic string, payload []byte) error {
	var hdr [16]byte
	b := mqttAppendLen(append(hdr[:0], 0x30), 2+len(topic)+len(payload))
	b = mqttAppendStr(b, topic)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.Write(b)
	_, err := c.w.Write(payload)
	return err
}

func (c *mqttConn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.w.Flush()
}

func (c *mqttConn) close() {
	c.wmu.Lock()
	c.w.Flush()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write([]byte{0xe0, 0}) // DISCONNECT
	c.wmu.Unlock()
	c.nc.Close()
	<-c.done
}
