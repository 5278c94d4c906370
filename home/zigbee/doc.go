// Package zigbee is a simulated Zigbee-style gateway for the home model.
//
// It is a simulated Zigbee-style gateway for the home model: it bridges bulbs (on_off,
// level, color), plugs (on_off), door locks (lock, battery) and temperature sensors
// (temperature that drifts, battery) into a home.Host, and lets the network's owner
// pair and remove bridged devices at run time through the gateway resource's bridge
// capability (`coco cmd NET zigbee bridge add kind=bulb id=porch name=Porch`).
//
// Tests, `coco up --sim zigbee` and `coco demo` use it in place of a radio.
package zigbee
