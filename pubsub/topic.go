package pubsub

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopic is the longest topic or pattern, in bytes.
const MaxTopic = 4096

// ValidTopic reports whether topic can be published to: non-empty UTF-8 of
// at most MaxTopic bytes, with no wildcard ('+', '#') and no NUL.
func ValidTopic(topic string) error {
	if err := validCommon("topic", topic); err != nil {
		return err
	}
	if i := strings.IndexAny(topic, "+#"); i >= 0 {
		return fmt.Errorf("pubsub: topic %q has the wildcard %q at byte %d; wildcards are for subscription patterns only", topic, topic[i], i)
	}
	return nil
}

// ValidPattern reports whether pattern can be subscribed to: like a topic,
// but a level may be exactly "+" (any one level), and the last level may be
// exactly "#" (any number of levels, including none).
func ValidPattern(pattern string) error {
	if err := validCommon("pattern", pattern); err != nil {
		return err
	}
	rest := pattern
	for level := 1; ; level++ {
		seg, tail, more := strings.Cut(rest, "/")
		if strings.ContainsAny(seg, "+#") && seg != "+" && seg != "#" {
			return fmt.Errorf("pubsub: pattern %q: level %d is %q; a wildcard must be a whole level (\"a/+/c\", \"a/#\")", pattern, level, seg)
		}
		if seg == "#" && more {
			return fmt.Errorf("pubsub: pattern %q: '#' must be the last level (\"a/#\")", pattern)
		}
		if !more {
			return nil
		}
		rest = tail
	}
}

func validCommon(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("pubsub: empty %s", what)
	case len(s) > MaxTopic:
		return fmt.Errorf("pubsub: %s of %d bytes is over the %d byte limit", what, len(s), MaxTopic)
	case !utf8.ValidString(s):
		return fmt.Errorf("pubsub: %s %q is not valid UTF-8", what, s)
	case strings.IndexByte(s, 0) >= 0:
		return fmt.Errorf("pubsub: %s %q contains a NUL byte", what, s)
	}
	return nil
}

// Match reports whether topic matches pattern. Both are assumed valid.
func Match(pattern, topic string) bool {
	if pattern == topic {
		return true // a topic has no wildcards: it matches itself
	}
	for {
		var p, t string
		pi := strings.IndexByte(pattern, '/')
		if pi < 0 {
			p = pattern
		} else {
			p = pattern[:pi]
		}
		if p == "#" {
			return true
		}
		ti := strings.IndexByte(topic, '/')
		if ti < 0 {
			t = topic
		} else {
			t = topic[:ti]
		}
		if p != "+" && p != t {
			return false
		}
		switch {
		case pi < 0 && ti < 0:
			return true
		case pi < 0:
			return false
		case ti < 0:
			// The topic ended; only a trailing "/#" still matches ("a/#" matches "a").
			return pattern[pi+1:] == "#"
		}
		pattern, topic = pattern[pi+1:], topic[ti+1:]
	}
}

var errClosed = errors.New("pubsub: closed")
