package control

import (
	"errors"
	"fmt"

	"github.com/coconet/coconet/control/controlproto"
)

// ErrNotServed: the control plane serves only the networks of the owners its
// operator listed (Config.Owners), and not this one's. A client sees such a
// refusal as controlproto.ErrUnauthorized, with the reason. The errors a
// client sees are in package controlproto.
var ErrNotServed = errors.New("control: owner not served here")

// Usage is a network's use of one control plane in one month.
//
// It is an alias of controlproto.Usage, kept so that api, daemon and
// cmd/coco build unchanged while the local API is rewritten (issue 18);
// new code uses controlproto.Usage, and this alias goes when the API owns
// its wire types.
type Usage = controlproto.Usage

func unauthorized(format string, a ...any) error {
	return fmt.Errorf("%w: %s", controlproto.ErrUnauthorized, fmt.Sprintf(format, a...))
}
