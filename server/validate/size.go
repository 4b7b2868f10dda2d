package validate

import (
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// withinSize reports whether proto.Size(req) <= limit, and the size when it
// is not.
//
// proto.Size costs about as much as all other validation together (~1 µs for
// ten lines and twenty history entries), so it is only called when a cheap
// over-estimate says the request might be too large. The over-estimate reads
// only string lengths and unknown-field lengths; it stops as soon as it passes
// the limit, so a huge message is not walked to the end either.
func withinSize(req *rxguardv1.CheckOrdersRequest, limit int) (bool, int) {
	if sizeBound(req, limit) <= limit {
		return true, 0
	}
	n := proto.Size(req)
	return n <= limit, n
}

// fieldSlop bounds the encoding of one field besides its string or message
// payload: a key (at most 5 bytes) plus a length or scalar value (at most 10).
const fieldSlop = 16

// Scalars cost at most fieldSlop each, so only the number of fields matters;
// taken from the descriptors so a new scalar field needs no change here. A
// new string or message field does: TestSizeBoundCoversEveryField fails until
// its payload is added below.
var (
	requestSlop   = slopOf(&rxguardv1.CheckOrdersRequest{})
	hospitalSlop  = slopOf(&rxguardv1.Hospital{})
	patientSlop   = slopOf(&rxguardv1.Patient{})
	encounterSlop = slopOf(&rxguardv1.Encounter{})
	physicianSlop = slopOf(&rxguardv1.Physician{})
	diagnosisSlop = slopOf(&rxguardv1.Diagnosis{})
	orderSlop     = slopOf(&rxguardv1.OrderLine{})
	historySlop   = slopOf(&rxguardv1.HistoryOrder{})
	previousSlop  = slopOf(&rxguardv1.PreviousEncounter{})
)

func slopOf(m proto.Message) int {
	return fieldSlop * m.ProtoReflect().Descriptor().Fields().Len()
}

func unknownLen(m proto.Message) int { return len(m.ProtoReflect().GetUnknown()) }

// sizeBound returns at least proto.Size(req), or any number above limit once
// the sum passes it.
func sizeBound(req *rxguardv1.CheckOrdersRequest, limit int) int {
	if req == nil {
		return 0
	}
	n := requestSlop + unknownLen(req) + len(req.GetRequestId()) + len(req.GetCheckTime())
	if h := req.GetHospital(); h != nil {
		n += hospitalSlop + unknownLen(h) + len(h.GetCode())
	}
	if p := req.GetPatient(); p != nil {
		n += patientSlop + unknownLen(p) + len(p.GetId()) + len(p.GetBirthDate())
	}
	if e := req.GetEncounter(); e != nil {
		n += encounterSlop + unknownLen(e) + len(e.GetId()) + len(e.GetDepartmentCode()) + len(e.GetAdmitDate())
	}
	if p := req.GetPhysician(); p != nil {
		n += physicianSlop + unknownLen(p) + len(p.GetCode()) + len(p.GetName()) + len(p.GetDepartmentCode())
	}
	for _, d := range req.GetDiagnoses() {
		n += fieldSlop + diagnosisSlop
		if d != nil {
			n += unknownLen(d) + len(d.GetCode()) + len(d.GetName())
		}
		if n > limit {
			return n
		}
	}
	for _, o := range req.GetOrders() {
		n += fieldSlop + orderSlop
		if o != nil {
			n += unknownLen(o) + len(o.GetLineId()) + len(o.GetItemCode()) + len(o.GetItemName()) +
				len(o.GetUnit()) + len(o.GetStartTime()) + len(o.GetReportId())
		}
		if n > limit {
			return n
		}
	}
	for _, h := range req.GetHistory() {
		n += fieldSlop + historySlop
		if h != nil {
			n += unknownLen(h) + len(h.GetItemCode()) + len(h.GetTime()) + len(h.GetEncounterId()) +
				len(h.GetHospitalCode()) + len(h.GetReportId())
		}
		if n > limit {
			return n
		}
	}
	for _, p := range req.GetPreviousEncounters() {
		n += fieldSlop + previousSlop
		if p != nil {
			n += unknownLen(p) + len(p.GetId()) + len(p.GetHospitalCode()) + len(p.GetAdmitDate()) +
				len(p.GetDischargeDate()) + len(p.GetPrimaryDiagnosis())
		}
		if n > limit {
			return n
		}
	}
	return n
}
