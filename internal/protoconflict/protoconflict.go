// Package protoconflict lets etcd and go-libp2p-pubsub live in one binary.
//
// Both register a protobuf file under the bare path "rpc.proto"
// (go.etcd.io/etcd/api/v3/etcdserverpb and github.com/libp2p/go-libp2p-pubsub/pb),
// and the protobuf runtime panics at start-up on the second registration.
// Their message types have distinct full names, so only the file path
// clashes, and nothing in coconet looks a descriptor up by file path.
// Importing this package (for its side effect) sets the runtime's
// documented policy, GOLANG_PROTOBUF_REGISTRATION_CONFLICT, to "ignore"
// unless the environment already says otherwise. It must initialize
// before both: Go initializes a ready package with the smallest import
// path first, and this path sorts before both of theirs, which cannot be
// ready before "os".
package protoconflict

import "os"

func init() {
	const env = "GOLANG_PROTOBUF_REGISTRATION_CONFLICT"
	if _, ok := os.LookupEnv(env); !ok {
		os.Setenv(env, "ignore")
	}
}
