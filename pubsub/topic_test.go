package pubsub

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, topic string
		want           bool
	}{
		{"a/b/c", "a/b/c", true},
		{"a/b/c", "a/b", false},
		{"a/b", "a/b/c", false},
		{"a/+/c", "a/b/c", true},
		{"a/+/c", "a/b/d", false},
		{"a/+/c", "a/b/x/c", false},
		{"a/+", "a/", true},
		{"a/+", "a", false},
		{"+", "a", true},
		{"+", "a/b", false},
		{"+/+", "a/b", true},
		{"+/b", "/b", true},
		{"#", "a", true},
		{"#", "a/b/c", true},
		{"#", "/", true},
		{"a/#", "a", true},
		{"a/#", "a/b", true},
		{"a/#", "a/b/c", true},
		{"a/#", "ab", false},
		{"a/#", "b/a", false},
		{"a/+/#", "a/b", true},
		{"a/+/#", "a", false},
		{"+/#", "a", true},
		{"a//c", "a//c", true},
		{"a/+/c", "a//c", true},
		{"home/+/temp", "home/kitchen/temp", true},
		{"home/+/temp", "home/kitchen/hum", false},
		{"sport/tennis/#", "sport/tennis", true},
		{"sport/tennis/#", "sport/tennisplayer", false},
	}
	for _, tt := range tests {
		if err := ValidPattern(tt.pattern); err != nil {
			t.Fatalf("ValidPattern(%q) = %v", tt.pattern, err)
		}
		if err := ValidTopic(tt.topic); err != nil {
			t.Fatalf("ValidTopic(%q) = %v", tt.topic, err)
		}
		if got := Match(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
}

func TestValidTopicPattern(t *testing.T) {
	for _, bad := range []string{"", "a/+", "a/#", "a+b", "x\x00y", "\xff", string(make([]byte, MaxTopic+1))} {
		if ValidTopic(bad) == nil {
			t.Errorf("ValidTopic(%q) = nil, want an error", bad)
		}
	}
	for _, bad := range []string{"", "a/#/b", "a/b#", "a+/b", "##", "+a", "\xff"} {
		if ValidPattern(bad) == nil {
			t.Errorf("ValidPattern(%q) = nil, want an error", bad)
		}
	}
	for _, good := range []string{"a", "/", "a/b", "+", "#", "+/+/#", "a/+/b/#", "/#"} {
		if err := ValidPattern(good); err != nil {
			t.Errorf("ValidPattern(%q) = %v, want nil", good, err)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Match("home/+/sensors/#", "home/kitchen/sensors/temp/1")
	}
}
