package main

import (
	"fmt"
	"net"
	"os"
)

// sdNotify tells systemd the service's state (sd_notify(3): "READY=1",
// "STOPPING=1", "STATUS=…" lines) on the datagram socket $NOTIFY_SOCKET
// names, which systemd sets for a Type=notify unit; without it, it does
// nothing. An abstract socket is written with a leading '@'.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
