// Package pubsub is coconet's broker-less publish/subscribe between member nodes.
//
// It is coconet's broker-less publish/subscribe: publishers send straight to the
// member nodes whose subscriptions match, over the P2P network.
//
// Topics are '/'-separated levels ("home/kitchen/temp"); patterns may use the
// MQTT wildcards '+' (exactly one level) and '#' (the rest, last level only;
// "a/#" also matches "a"). See ValidTopic, ValidPattern and Match.
//
// How it works. Every node tells each connected member node the patterns of
// its subscriptions (protocol ProtoSubs), on connect and whenever they change.
// A publisher matches each topic against the patterns it knows, asks
// Options.Authorize, and queues the message for each matching node; one
// long-lived stream per subscriber node (ProtoMsg) carries the messages, written
// in batches that are flushed when the queue runs empty. The subscriber node
// hands each message to its local subscriptions whose pattern matches.
// Subscriptions of the publishing node itself receive its messages directly.
//
// Delivery guarantees:
//   - QoS 0 is at most once. While a subscriber node is connected, Publish
//     waits for room in its send queue (Options.QueueLen) — flow control, like a
//     TCP socket; a subscriber node that is away receives nothing.
//   - QoS 1 is at least once and in order per publisher: the subscriber node
//     acknowledges (cumulatively) what it received, and the publisher keeps
//     every unacknowledged message in a bounded outbox per subscriber node
//     (Options.OutboxLen) and sends it again, in order, when that node
//     reconnects and subscribes again — also after the subscriber restarts. The
//     outbox lives in the publisher's memory: a publisher restart loses it.
//     When the outbox of an absent subscriber is full the oldest message is
//     dropped and the subscriber is told (a Lag signal) when it comes back.
//     A message is delivered with the lower of the publish and subscribe QoS.
//   - Retained values live at the publisher (the last value per topic it
//     published with Retain; an empty retained message clears it) and are sent
//     to each new matching subscription, best effort, marked Retained.
//   - A subscription that does not keep up with its channel (Buffer) loses
//     messages — memory stays bounded — and gets a signal on Lag with the count.
//     Message.Data is shared between subscriptions: treat it as read-only.
//
// Subscriptions follow membership: announcements and streams are accepted only
// from member nodes, a node removed from the ledger is dropped at once, and
// Options.Authorize is asked for every delivery. Options.AuthorizePublish is
// asked by the receiving node for every message, whichever way it came.
//
// Gossip (developer networks). With Options.Gossip (the engine sets it in
// developer networks, and keeps the direct way while any Topic policy
// narrows who may receive what it publishes), a QoS 0 Publish goes over
// gossipsub on one topic per network (GossipTopic) instead of one copy per
// subscriber node: the publisher sends to a few peers and every subscribed
// node relays. A node joins the topic at its first subscription and stays
// until Close; it receives every gossip message of the network and its
// subscriptions' patterns (wildcards included) select what it delivers.
// Subscriptions still announce themselves the direct way. What holds over
// gossip and what does not:
//   - Authenticity holds: a message is signed by its publisher's node key
//     (gossipsub's StrictSign over origin, sequence number, topic and
//     payload). Every node checks, from its own ledger, that the peer it got
//     the message from and the origin are member nodes (node.Node.IsMember,
//     SenderOf), that it is at most MaxGossipAge old (no replay once
//     gossipsub's seen cache forgot it) and that AuthorizePublish admits the
//     publisher on the topic; a refused message is neither delivered nor
//     relayed. Peers that are not member nodes are shut out of gossipsub
//     altogether (its blacklist and RPC inspector ask IsMember). A removed
//     member's messages are dropped by every node that knows the removal.
//   - Options.Authorize (the publisher choosing who receives a topic) does
//     not hold: every subscribed member node relays, and so sees, every QoS
//     0 message of the network. Hence the engine's rule above.
//   - Delivery is best effort to the subscribed member nodes reachable from
//     the publisher through member nodes; gossipsub repairs a lost copy from
//     its message cache (a few heartbeats), no more. Order per publisher is
//     not kept, and the publisher sends no Lag signals. Message.Seq is
//     gossipsub's sequence number (increasing per publisher process).
//   - QoS 1 always goes the direct way: acknowledged, kept in the outbox and
//     redelivered, as above.
//   - Retained values stay at the publisher and are sent the direct way to
//     new matching subscriptions of connected nodes, as above; the live copy
//     of a retained publish travels by gossip.
package pubsub
