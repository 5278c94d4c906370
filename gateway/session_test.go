package gateway

import "testing"

// The vectors were computed with Python's hashlib and hmac, not with this
// package.
func TestDerivations(t *testing.T) {
	const (
		key  = "11FE313037C5327CD35BAC6C8D66867F"
		rnd  = "00112233445566778899aabbccddeeff"
		cr   = "c0ffee"
		data = "RID:1234:Hello1234"
	)
	tests := []struct {
		name, got, want string
	}{
		{"SessionKey(MD5)", SessionKey(ModeMD5, key, rnd), "c2e5796a4250f9ab71c84f8ba041490e"},
		{"PacketKey(MD5)", PacketKey(ModeMD5, key, rnd, []byte(data)), "8feb6182ed93441c56b2ea46f63195e3"},
		{"Proof(MD5)", Proof(ModeMD5, key, cr, rnd), "6be5b7cb627582dba5848609aab293bd"},
		{"SessionKey(HMAC)", SessionKey(ModeHMACSHA256, key, rnd), "bbac82036eb308bf79ab199912746d5bdff5b4734255ffc2e1f9336310f4b2b2"},
		{"PacketKey(HMAC)", PacketKey(ModeHMACSHA256, key, rnd, []byte(data)), "5c724da8cd02f1c6f334e391f60a382a0510172ddf93daf3c78a3fdd504665d3"},
		{"Proof(HMAC)", Proof(ModeHMACSHA256, key, cr, rnd), "a0cb18806f5e81bd0afb7ed0696d271df0021063d3cc90d2ab75ad6c50647bf3"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %s, want %s", tt.name, tt.got, tt.want)
		}
	}
}

func TestKeyEqual(t *testing.T) {
	for _, tt := range []struct {
		got, want string
		ok        bool
	}{
		{"abc123", "abc123", true},
		{"ABC123", "abc123", true},
		{"abc12", "abc123", false},
		{"abd123", "abc123", false},
	} {
		if ok := keyEqual(tt.got, tt.want); ok != tt.ok {
			t.Errorf("keyEqual(%q, %q) = %v, want %v", tt.got, tt.want, ok, tt.ok)
		}
	}
}
