package control

import "github.com/coconet/coconet/devnet"

// ClaimsOf is the one-off auth-key claims a server on st keeps.
func ClaimsOf(st Store) devnet.Claims { return storeClaims{st.KV()} }
