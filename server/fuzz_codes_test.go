package server

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// Pools the fuzzer builds requests from: codes the demo release binds
// (batches, demo drug table, interaction pairs), codes it does not, and
// physicians in each qualification state.
var (
	fuzzItems = [][2]string{
		{"ZD03AAA0043010100166", "艾附暖宫丸"},      // 第一批 female only
		{"XC10AAD9004A001010199904", "辛伐他汀"},   // 禁忌 with 克拉霉素
		{"XJ01FAD9005A001010199905", "克拉霉素"},   //
		{"XG04BED9012A001010199912", "西地那非"},   // not covered
		{"XJ01MAD9026B002010199926", "莫西沙星"},   // indication
		{"XA10BAD9029A001010199929", "二甲双胍"},   //
		{"XB05BAU012B002010102180", "脂肪乳注射液"},  // inpatient only
		{"XS01LAL328B002010178679", "雷珠单抗注射液"}, // level 3
		{"ZA04CAE0023010100166", "儿童清肺口服液"},    // children
		{"001109000010000", "普通病房床位费"},         // 1 a day
		{"002101030280000", "阴茎海绵体造影"},         // male only
		{"ZD03AAA", "艾附暖宫丸"},                   // truncated
		{"XJ01DDT018A001010101445", "头孢曲松钠"},   // unknown
	}
	fuzzPhysicians = []string{"D370800000001", "D370800000003", "D370800000004", "D370800000005", "D379999999999"}
	fuzzDiagnoses  = []string{"J18.900", "O80.000", "N40.x00", "I10.x00", "E11.900", "R10.400"}
	// fuzzPads are what HIS columns and input methods put around codes.
	fuzzPads = []string{"", " ", "  ", "\t", "\u3000", "\x00", "\u200b", "\r\n", "\ufeff"}
)

// FuzzCodeVariantsNeverLowerVerdict asserts the hardening invariant
// directly: for any request, surrounding a code with padding or changing
// the case of its letters never lowers the verdict the same request gets
// with clean codes (nor turns a valid request into bad input).
func FuzzCodeVariantsNeverLowerVerdict(f *testing.F) {
	f.Add([]byte{0, 9, 1}, []byte{0x11, 0x20, 0x03}, uint8(0))
	f.Add([]byte{1, 2, 10}, []byte{0x31, 0x05, 0x17, 0x40}, uint8(1))
	f.Add([]byte{11}, []byte{0x01}, uint8(2))
	f.Add([]byte{6, 7, 8, 3, 4}, []byte{0xff, 0x7e, 0x33, 0x48}, uint8(3))
	eng, err := engine.New(engine.Config{})
	if err != nil {
		f.Fatal(err)
	}
	eng.Swap(demoIndex(f))
	g := NewGuard(check.New(check.Options{Engine: eng, Limits: validate.DefaultLimits(), Logger: quietLog}))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, picks, mutations []byte, who uint8) {
		if len(picks) == 0 || len(picks) > 12 {
			return
		}
		clean := fuzzRequest(picks, who)
		dirty := proto.Clone(clean).(*rxguardv1.CheckOrdersRequest)
		mutateCodes(dirty, mutations)

		want, err := g.CheckOrders(ctx, clean)
		if err != nil {
			t.Fatalf("clean request refused: %v", err)
		}
		got, err := g.CheckOrders(ctx, dirty)
		if err != nil {
			if status.Code(err) == codes.InvalidArgument {
				t.Fatalf("padding or case made a valid request bad input: %v\n%v", err, dirty)
			}
			t.Fatal(err)
		}
		if got.Verdict < want.Verdict {
			t.Fatalf("verdict %v with codes %q, %v with clean codes %q", got.Verdict, codesOf(dirty), want.Verdict, codesOf(clean))
		}
	})
}

func fuzzRequest(picks []byte, who uint8) *rxguardv1.CheckOrdersRequest {
	req := clinicalRequest(nil)
	req.Hospital.Level = int32(1 + who%3)
	req.Physician.Code = fuzzPhysicians[int(who/3)%len(fuzzPhysicians)]
	if who&0x80 != 0 {
		req.Patient.Gender = rxguardv1.Gender_GENDER_FEMALE
	}
	req.Diagnoses = []*rxguardv1.Diagnosis{{Code: fuzzDiagnoses[int(who)%len(fuzzDiagnoses)], Primary: true}}
	for i, p := range picks {
		it := fuzzItems[int(p)%len(fuzzItems)]
		kind := rxguardv1.ItemKind_ITEM_DRUG
		if len(it[0]) == 15 {
			kind = rxguardv1.ItemKind_ITEM_SERVICE
		}
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{
			LineId: string(rune('a' + i)), ItemCode: it[0], ItemName: it[1], Kind: kind,
			Quantity: float64(1 + int(p)/len(fuzzItems)%3), Days: 5,
		})
	}
	return req
}

// mutateCodes pads and re-cases every code field, one mutation byte each:
// low nibble picks the padding, bit 4 pads the left too, bit 5 lower-cases.
func mutateCodes(req *rxguardv1.CheckOrdersRequest, mutations []byte) {
	i := 0
	next := func(s *string) {
		if i >= len(mutations) {
			return
		}
		m := mutations[i]
		i++
		pad := fuzzPads[int(m&0x0f)%len(fuzzPads)]
		v := *s
		if m&0x20 != 0 {
			v = strings.ToLower(v)
		}
		v += pad
		if m&0x10 != 0 {
			v = pad + v
		}
		*s = v
	}
	next(&req.Physician.Code)
	for _, d := range req.Diagnoses {
		next(&d.Code)
	}
	for _, o := range req.Orders {
		next(&o.ItemCode)
	}
	next(&req.Hospital.Code)
}

func codesOf(req *rxguardv1.CheckOrdersRequest) []string {
	out := []string{req.Physician.Code}
	for _, o := range req.Orders {
		out = append(out, o.ItemCode)
	}
	return out
}
