package outgoing

import (
	"errors"
	"testing"
)

// The default dialer checks the address once more as the socket connects:
// whatever resolved it, an internal address the policy does not allow is
// refused there.
func TestControlRefusesInternalAddressesAsTheSocketConnects(t *testing.T) {
	t.Parallel()
	p := Policy{}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "10.0.0.1:80", "[::ffff:169.254.169.254]:80"} {
		if err := p.controlConnect("hooks.example.com")("tcp", addr, nil); !errors.Is(err, ErrInternalAddress) {
			t.Errorf("%s: %v, want it refused", addr, err)
		}
	}
	if err := p.controlConnect("hooks.example.com")("tcp4", "93.184.216.34:443", nil); err != nil {
		t.Errorf("public address: %v", err)
	}
}
