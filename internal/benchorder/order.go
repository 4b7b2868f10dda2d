// Package benchorder builds the orders every rxguard benchmark sends (the
// Go benchmarks, the load generator, the OPA comparison), so numbers from
// different tools are about the same request.
package benchorder

import (
	"fmt"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Codes are 50 national codes the official batches and the demo tables
// restrict, in order: the first ten are the 10-line order of
// docs/PERFORMANCE.md (a female-only drug for a man, a payment course, a
// hospital level, inpatient-only, a daily limit, a duplicate-charge pair,
// a period and a course limit, an unrestricted demo drug); the rest add
// every other batch rule type and interacting demo drugs. Every release
// built from the official data (demo, kb synth) carries them.
var Codes = []string{
	"ZD03AAA0043010100166",     // 第一批 female-only drug (fires: male)
	"XB01AXA223B002010100156",  // 第六批 course 14 days
	"ZC01AAA0042010105549",     // 第五批 二级
	"XB05BAU012B002010102180",  // 第四批 住院
	"001109000010000",          // 第八批-1 床位费 1/日
	"001103000010000",          // 第七批 主项
	"001102000030000",          // 第七批 从项 (fires)
	"002503020030000",          // 第八批-4 1 per 15 days
	"003402000050000",          // 第八批-3 course 90 / interval 14
	"XA10BAD9029A001010199929", // demo drug without restrictions
	"XL02BBA326A001010102180",  // male-only drug
	"ZA04CAE0023010100166",     // child drug
	"ZF03AAE0027010102281",
	"002101030300000", // female-only item (fires)
	"002202020010000",
	"003105120040000", // child item
	"001302000010000",
	"003310010140000", // surgery groups
	"003310010160000",
	"ZH01AAB0066010100716", // 工伤 only (fires)
	"ZH01AAB0067010102021",
	"XB05BAU012B002010202180",
	"ZA05CAC0029010102312", // 二级
	"ZA05CAC0029020102312",
	"XB01AXA223B004010180963",
	"XB01AXA223B002010101157",
	"001109000010100",
	"001102000040000",
	"001102000050000",
	"001107000010000",
	"003402000050100",
	"003402000210000",
	"002503020020000",
	"003104010220000",
	"XB01AAD9001A001010199901", // 华法林 ⟷ 阿司匹林 (慎用)
	"XB01ACD9002A001010199902",
	"XC10AAD9004A001010199904", // 辛伐他汀 ⟷ 克拉霉素 (禁忌)
	"XJ01FAD9005A001010199905",
	"XB01ACD9006A001010199906",
	"XA02BCD9007A001010199907",
	"XJ01DDD9008B002010199908",
	"XA12AAD9009B002010199909",
	"XC01DAD9013A001010199913",
	"XC01AAD9014A001010199914",
	"XC01BDD9015A001010199915",
	"XC03DAD9016A001010199916",
	"XA12BAD9017A001010199917",
	"XN03AFD9018A001010199918",
	"XJ02ACD9019A001010199919",
	"XJ01MAD9026B002010199926",
}

// Order is an inpatient order of n lines (1 ≤ n ≤ len(Codes)) with a
// history of 20 earlier orders in the request, so every history-based rule
// does its work.
func Order(n int) *rxguardv1.CheckOrdersRequest {
	if n < 1 || n > len(Codes) {
		panic(fmt.Sprintf("benchorder: %d lines, have 1 to %d", n, len(Codes)))
	}
	req := &rxguardv1.CheckOrdersRequest{
		RequestId: "bench",
		Scene:     rxguardv1.Scene_SCENE_INPATIENT,
		Hospital:  &rxguardv1.Hospital{Code: "H1", Level: 2},
		Patient: &rxguardv1.Patient{Id: "P1", Gender: rxguardv1.Gender_GENDER_MALE, BirthDate: "1958-06-01",
			InsuranceType: rxguardv1.InsuranceType_INSURANCE_EMPLOYEE},
		Encounter: &rxguardv1.Encounter{Id: "E1", Type: rxguardv1.EncounterType_ENCOUNTER_INPATIENT, AdmitDate: "2026-11-10"},
		Physician: &rxguardv1.Physician{Code: "D370800000001", Title: rxguardv1.Title_TITLE_CHIEF},
		Diagnoses: []*rxguardv1.Diagnosis{{Code: "I63.900", Primary: true}, {Code: "E11.900"}},
		CheckTime: "2026-11-22T10:00:00+08:00",
	}
	codes := Codes[:n]
	for i, c := range codes {
		req.Orders = append(req.Orders, &rxguardv1.OrderLine{
			LineId: fmt.Sprintf("L%02d", i+1), ItemCode: c, Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 3,
			StartTime: "2026-11-22T10:00:00+08:00", UnitPrice: 10,
		})
	}
	shanghai := time.FixedZone("CST", 8*3600)
	for i := 0; i < 20; i++ {
		req.History = append(req.History, &rxguardv1.HistoryOrder{
			ItemCode: codes[i%len(codes)], Quantity: 1, Days: 3, EncounterId: "E1",
			Time: time.Date(2026, 11, 2+i/2, 9, 0, 0, 0, shanghai).Format(time.RFC3339),
		})
	}
	return req
}
