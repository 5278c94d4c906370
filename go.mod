module github.com/coconet/coconet

go 1.26.8

require github.com/tyler-smith/go-bip39 v1.1.0

require golang.org/x/crypto v0.58.0 // indirect
