package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/smtp"
	"strings"
	"sync"
	"time"
)

// DefaultMailPerHour is how many mails one account may send in an hour.
const DefaultMailPerHour = 20

// Mailer sends the mails of TCP:EMAIL (P2Pcluster dialect) through an
// SMTP server: STARTTLS when the server offers it, PLAIN authentication
// when User is set (only over TLS, or to a server on the loopback).
type Mailer struct {
	Addr     string // host:port of the SMTP server
	User     string // "" sends without authentication
	Password string
	From     string // the envelope and header sender
	// PerHour caps the mails of one account per hour; zero is
	// DefaultMailPerHour.
	PerHour int
	// TLSConfig for STARTTLS; nil verifies the server's name.
	TLSConfig *tls.Config

	mu   sync.Mutex
	sent map[string][]time.Time // account → send times in the last hour
}

// allow counts a mail of account against its hourly budget.
func (m *Mailer) allow(account string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[string][]time.Time{}
	}
	per := m.PerHour
	if per <= 0 {
		per = DefaultMailPerHour
	}
	ts := m.sent[account]
	for len(ts) > 0 && now.Sub(ts[0]) >= time.Hour {
		ts = ts[1:]
	}
	if len(ts) >= per {
		m.sent[account] = ts
		return false
	}
	m.sent[account] = append(ts, now)
	return true
}

// Send sends one plain-text mail.
func (m *Mailer) Send(ctx context.Context, to, subject, body string) error {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("gateway: mail: dial %s: %w", m.Addr, err)
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	host, _, _ := net.SplitHostPort(m.Addr)
	cl, err := smtp.NewClient(nc, host)
	if err != nil {
		return fmt.Errorf("gateway: mail: %w", err)
	}
	defer cl.Close()
	if ok, _ := cl.Extension("STARTTLS"); ok {
		cfg := m.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host}
		}
		if err := cl.StartTLS(cfg); err != nil {
			return fmt.Errorf("gateway: mail: starttls: %w", err)
		}
	}
	if m.User != "" {
		if err := cl.Auth(smtp.PlainAuth("", m.User, m.Password, host)); err != nil {
			return fmt.Errorf("gateway: mail: auth: %w", err)
		}
	}
	if err := cl.Mail(m.From); err != nil {
		return fmt.Errorf("gateway: mail: from: %w", err)
	}
	if err := cl.Rcpt(to); err != nil {
		return fmt.Errorf("gateway: mail: to: %w", err)
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("gateway: mail: data: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nContent-Type: text/plain; charset=UTF-8\r\n\r\n%s\r\n",
		m.From, to, subject, time.Now().UTC().Format(time.RFC1123Z), body)
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("gateway: mail: data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("gateway: mail: data: %w", err)
	}
	return cl.Quit()
}

// validMailbox reports whether to looks like an address and holds nothing
// that could forge an SMTP command or a header.
func validMailbox(to string) bool {
	return strings.Contains(to, "@") && strings.Contains(to, ".") && len(to) <= 254 &&
		!strings.ContainsAny(to, "\r\n<>,; \t:")
}

// p2pMail runs TCP:EMAIL:<key>:<to>:<subject>:<message> (rest is what
// follows the key) and returns the reply.
func (c *conn) p2pMail(account string, rest []byte) string {
	to, rest, ok1 := bytes.Cut(rest, []byte{':'})
	subject, msg, ok2 := bytes.Cut(rest, []byte{':'})
	if !ok1 || !ok2 {
		return p2pMailFormat
	}
	if !validMailbox(string(to)) {
		return p2pMailBadTo
	}
	m := c.s.Mail
	if m == nil {
		return p2pMailOff
	}
	if !m.allow(account, time.Now()) {
		return p2pMailLimit
	}
	subj := strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' {
			return ' '
		}
		return r
	}, string(subject))
	ctx, cancel := context.WithTimeout(c.s.ctx, forwardTimeout)
	defer cancel()
	if err := m.Send(ctx, string(to), subj, string(msg)); err != nil {
		c.s.Logf("gateway: %s: %v", account, err)
		return "[FAIL:MAIL]"
	}
	return p2pMailSent
}
