package devnet

// Protocols of developer networks between nodes (and from a control plane
// to nodes). Each is one stream of uvarint-length-prefixed frames
// (internal/frame) holding the CBOR messages below.
const (
	// ProtoHello exchanges credentials and list versions on a new
	// connection: the dialer sends a Hello, the listener answers with its
	// own, then each sends the Lists the other lacks (possibly empty). It
	// is the only protocol a peer whose credential is not verified yet may
	// open.
	ProtoHello = "/coco/devnet/hello/1.0.0"
	// ProtoLists pushes newer lists (one Lists message) to a verified
	// member, from a member or a control plane.
	ProtoLists = "/coco/devnet/lists/1.0.0"
)

// Hello is the first message each side of ProtoHello sends.
type Hello struct {
	V uint8 `cbor:"1,keyasint"`
	// Cred is the sender's NodeCred encoding; empty for a node the ledger
	// lists (the owner's, an admin's).
	Cred []byte `cbor:"2,keyasint,omitempty"`
	Rev  uint64 `cbor:"3,keyasint,omitempty"` // revocation list version held
	Pol  uint64 `cbor:"4,keyasint,omitempty"` // policy version held
}

// MaxHelloSize bounds an encoded Hello.
const MaxHelloSize = MaxCredSize + 64

// Lists carries a revocation list and a policy (each optional, each the
// encoding of its type).
type Lists struct {
	V   uint8  `cbor:"1,keyasint"`
	Rev []byte `cbor:"2,keyasint,omitempty"`
	Pol []byte `cbor:"3,keyasint,omitempty"`
}

// MaxListsSize bounds an encoded Lists.
const MaxListsSize = 2*MaxListSize + 64

// Marshal encodes the hello.
func (h *Hello) Marshal() []byte { return marshal(h) }

// UnmarshalHello decodes a hello strictly.
func UnmarshalHello(b []byte) (*Hello, error) {
	h := new(Hello)
	if err := unmarshal(b, MaxHelloSize, h, "hello"); err != nil {
		return nil, err
	}
	if h.V != Version {
		return nil, ErrMalformed
	}
	return h, nil
}

// Marshal encodes the lists.
func (l *Lists) Marshal() []byte { return marshal(l) }

// UnmarshalLists decodes lists strictly; the lists inside are decoded by
// Decode.
func UnmarshalLists(b []byte) (*Lists, error) {
	l := new(Lists)
	if err := unmarshal(b, MaxListsSize, l, "lists"); err != nil {
		return nil, err
	}
	if l.V != Version {
		return nil, ErrMalformed
	}
	return l, nil
}

// Decode decodes the lists inside (nil for those absent).
func (l *Lists) Decode() (*Revocations, *Policy, error) {
	var r *Revocations
	var p *Policy
	var err error
	if len(l.Rev) > 0 {
		if r, err = UnmarshalRevocations(l.Rev); err != nil {
			return nil, nil, err
		}
	}
	if len(l.Pol) > 0 {
		if p, err = UnmarshalPolicy(l.Pol); err != nil {
			return nil, nil, err
		}
	}
	return r, p, nil
}

// Newer is the Lists of what s holds newer than the versions rev and pol.
func (s *Store) Newer(rev, pol uint64) *Lists {
	l := &Lists{V: Version}
	if r := s.Revocations(); r != nil && r.Version > rev {
		l.Rev = r.Marshal()
	}
	if p := s.Policy(); p != nil && p.Version > pol {
		l.Pol = p.Marshal()
	}
	return l
}

// Offer offers both lists of l to s; it reports which it took, and the
// first error that is not ErrStale.
func (s *Store) Offer(l *Lists) (tookRev, tookPol bool, err error) {
	r, p, err := l.Decode()
	if err != nil {
		return false, false, err
	}
	var errs [2]error
	if r != nil {
		errs[0] = s.OfferRevocations(r)
		tookRev = errs[0] == nil
	}
	if p != nil {
		errs[1] = s.OfferPolicy(p)
		tookPol = errs[1] == nil
	}
	for _, e := range errs {
		if e != nil && !isStale(e) {
			return tookRev, tookPol, e
		}
	}
	return tookRev, tookPol, nil
}
