package worker

import (
	"net"
	"testing"
)

// Port 0 means a free port, as for net.Listen: two servers at once get two
// ports, and neither takes NATS's default 4222 (which other test packages
// running at the same time may hold).
func TestEmbeddedPortZeroIsFree(t *testing.T) {
	a := startServer(t, "127.0.0.1:0", t.TempDir())
	defer a.Shutdown()
	b := startServer(t, "127.0.0.1:0", t.TempDir())
	defer b.Shutdown()
	pa, pb := a.Addr().(*net.TCPAddr).Port, b.Addr().(*net.TCPAddr).Port
	if pa == pb || pa == 4222 || pb == 4222 {
		t.Fatalf("ports %d and %d: want two free ports, not 4222", pa, pb)
	}
}
