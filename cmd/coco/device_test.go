package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coconet/coconet/homedir"

	"github.com/coconet/coconet/daemon"
)

// startDevice runs a device daemon (`coco up --device`) in-process and
// returns it with a channel of the claim codes it shows.
func startDevice(t *testing.T, home, name string) (*daemon.Daemon, <-chan string) {
	return startDeviceSim(t, home, name, "")
}

func startDeviceSim(t *testing.T, home, name, sim string) (*daemon.Daemon, <-chan string) {
	t.Helper()
	if _, err := homedir.Init(home, name); err != nil {
		t.Fatal(err)
	}
	codes := make(chan string, 4)
	d := &daemon.Daemon{Home: home, ListenHost: "127.0.0.1", Logf: t.Logf, Device: true, DeviceName: name, Sim: sim,
		OnClaimCode: func(c string) { codes <- c }}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("device daemon: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d, codes
}

func nextCode(t *testing.T, codes <-chan string) string {
	t.Helper()
	select {
	case c := <-codes:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("the device showed no claim code")
	}
	return ""
}

// TestDeviceCLIStory: a device shows a code, the owner adds it, lists it
// online, removes it; the device then shows a new code. An admin cannot add
// devices.
func TestDeviceCLIStory(t *testing.T) {
	a := homes(t, "alice")[0]
	dh := filepath.Join(filepath.Dir(a), "door")
	if _, errOut, code := coco(t, "", "--home", a, "device", "add", "home", "coco1nope"); code == 0 || !strings.Contains(errOut, "invite code for a person") {
		t.Fatalf("device add with an invite code: exit %d, %q", code, errOut)
	}
	startDaemon(t, a)
	dev, codes := startDevice(t, dh, "Front door")
	code := nextCode(t, codes)
	st, _ := dev.Status(context.Background())
	if st.Device == nil || st.Device.ClaimCode != code || st.Device.Network != "" {
		t.Fatalf("device status before the claim = %+v", st.Device)
	}

	out := mustCoco(t, "--home", a, "device", "add", "home", code)
	if !strings.Contains(out, `Added device "Front door"`) {
		t.Fatalf("device add printed %q", out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ds []struct {
			Name   string `json:"name"`
			Online bool   `json:"online"`
		}
		json.Unmarshal([]byte(mustCoco(t, "--home", a, "device", "list", "home", "--json")), &ds)
		if len(ds) == 1 && ds[0].Name == "Front door" && ds[0].Online {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device never online: %+v", ds)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if st, _ = dev.Status(context.Background()); st.Device.Network != "" {
			break
		}
	}
	if st.Device.Network != "home" || len(st.Networks) != 1 || st.Networks[0].Role != "device" {
		t.Fatalf("device status after the claim = %+v %+v", st.Device, st.Networks)
	}

	out = mustCoco(t, "--home", a, "device", "remove", "home", "front door")
	if !strings.Contains(out, `Removed device "Front door"`) {
		t.Fatalf("device remove printed %q", out)
	}
	if again := nextCode(t, codes); again == code {
		t.Fatal("after removal the device shows its old code")
	}
	if list := mustCoco(t, "--home", a, "device", "list", "home"); !strings.Contains(list, "no devices") {
		t.Fatalf("device list after remove = %q", list)
	}
}

// TestDeviceGatewayCLI: `coco up --device --sim zigbee` claimed by the owner
// serves its simulated resources to the owner's CLI.
func TestDeviceGatewayCLI(t *testing.T) {
	a := homes(t, "alice")[0]
	gh := filepath.Join(filepath.Dir(a), "hub")
	startDaemon(t, a)
	_, codes := startDeviceSim(t, gh, "Hub", "zigbee")
	mustCoco(t, "--home", a, "device", "add", "home", nextCode(t, codes))
	var list string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		list = mustCoco(t, "--home", a, "resource", "list", "home")
		if strings.Contains(list, "front-door") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway's resources never showed: %q", list)
		}
	}
	if !strings.Contains(list, "Hub") {
		t.Errorf("resource list does not name the device Hub:\n%s", list)
	}
	if out := mustCoco(t, "--home", a, "cmd", "home", "living-lamp", "level", "set", "level=30"); out == "" {
		t.Errorf("cmd printed nothing")
	}
	if _, errOut, code := coco(t, "", "--home", a, "cmd", "home", "living-lamp", "level", "set", "level=300"); code == 0 || !strings.Contains(errOut, "maximum") {
		t.Errorf("cmd level=300: exit %d, %q", code, errOut)
	}
	if _, errOut, code := coco(t, "", "up", "--sim", "hue"); code != 2 || !strings.Contains(errOut, "zigbee") {
		t.Errorf("up --sim hue: exit %d, %q", code, errOut)
	}
}

// TestDeviceRemovedWhileOffline: a device daemon that was down when the
// owner removed it learns it when it comes back, forgets the network and
// shows a new claim code.
func TestDeviceRemovedWhileOffline(t *testing.T) {
	a := homes(t, "alice")[0]
	dh := filepath.Join(filepath.Dir(a), "garage")
	startDaemon(t, a)
	dev, codes := startDevice(t, dh, "Garage")
	mustCoco(t, "--home", a, "device", "add", "home", nextCode(t, codes))
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if strings.Contains(mustCoco(t, "--home", a, "device", "list", "home"), "yes") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the device never came online")
		}
	}
	dev.Close()
	mustCoco(t, "--home", a, "device", "remove", "home", "Garage")

	codes2 := make(chan string, 4)
	dev2 := &daemon.Daemon{Home: dh, ListenHost: "127.0.0.1", Logf: t.Logf, Device: true, DeviceName: "Garage",
		OnClaimCode: func(c string) { codes2 <- c }}
	if err := dev2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer dev2.Close()
	nextCode(t, codes2)
	st, _ := dev2.Status(context.Background())
	if st.Device == nil || st.Device.Network != "" || len(st.Networks) != 0 {
		t.Fatalf("after learning of its removal: %+v, %+v", st.Device, st.Networks)
	}
}
