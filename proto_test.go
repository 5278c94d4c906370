package coconet

import "github.com/libp2p/go-libp2p/core/protocol"

func protoID(s string) protocol.ID { return protocol.ID(s) }
