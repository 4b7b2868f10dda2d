package nhsa

import (
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Convert maps a 3101/3102 body onto the CheckOrdersRequests the endpoint
// decides (one per patient), with the notes of what it did not judge; a
// *FieldError names bad input. It is what POST /nhsa/3101 does before the
// check service, for tests and for tools that compare the two doors.
func Convert(body []byte, cfg Config) ([]*rxguardv1.CheckOrdersRequest, []Note, error) {
	t, err := cfg.tables()
	if err != nil {
		return nil, nil, err
	}
	units, n, err := convert(body, t)
	if err != nil {
		return nil, nil, err
	}
	reqs := make([]*rxguardv1.CheckOrdersRequest, len(units))
	for i, u := range units {
		reqs[i] = u.req
	}
	return reqs, n.list, nil
}

func convert(body []byte, t *tables) ([]*unit, *notes, error) {
	env, err := decodeEnvelope(body)
	if err != nil {
		return nil, nil, err
	}
	a, err := decodeAnalysis(env)
	if err != nil {
		return nil, nil, err
	}
	var n notes
	units, err := mapAnalysis(env, a, t, &n)
	if err != nil {
		return nil, nil, err
	}
	return units, &n, nil
}
