// Package device brings a device into a network with a one-time claim code.
//
// It brings a device into a network: a device node shows a one-time claim code, and
// the network's owner claims it with that code.
//
// A device has its own home and seed; its node key is the seed's device key
// (identity.Seed.DeviceKey), the same in every network, so that it can be
// named in a claim code before the device belongs to any network. A device
// belongs to one network at a time.
//
// # Claiming
//
// The device runs a Claimer: a libp2p host with the device key that serves
// only the claim protocol (/coco/claim/1.0.0) and a claim code
//
//	cocodev1<base32 of: version, device key, name, model, addresses, secret, checksum>
//
// The owner runs Add with the code: the owner's node appends to the ledger
// add_node (the device key, owned by the owner, named after the device) and
// a record in ledger.TableDevice (key: the device node's peer ID; value the
// JSON Record), connects to the device and, over a Noise-authenticated
// stream, first proves that it holds the code's secret,
// HMAC-SHA256(secret, "coconet/claim/v1" ‖ owner peer ID ‖ device peer ID),
// in a frame of at most 256 bytes; only once the device accepted the proof
// does it send every operation of the ledger (so a stranger who reaches the
// claim host can make it read no more than 256 bytes). The device verifies
// the whole ledger (signatures, authority), and accepts only if the ledger
// makes its key a node of the network's owner with a device record, and the
// stream comes from a node of that owner. It then stores the
// network and runs a normal node in it (coconet.Node with Device set). If
// the device cannot be reached, Add removes the node and the record again.
// A Claimer limits claim tries per peer ID and per source address (token
// buckets in bounded tables); wrong proofs never change its code, so a
// neighbour's tries cannot lock the owner out.
//
// A claimed device is a node whose ledger user is the owner, but it never
// carries the owner's authority: node.Sender marks it Device with a guest's
// role and no grants.
//
// Remove appends remove_node and deletes the record: online members cut the
// device off at once, and a device daemon that sees itself removed forgets
// the network and shows a new claim code.
package device
