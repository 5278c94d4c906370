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
// Options.Authorize is asked for every delivery.
package pubsub
