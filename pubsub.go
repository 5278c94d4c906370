package coconet

// Pub-sub integration lands with package pubsub.

func (n *Node) startPubSub() error { return nil }

func (n *Node) closePubSub() {}
