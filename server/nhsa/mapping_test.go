package nhsa

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
	"github.com/rxguard/rxguard/server/engine"
)

func defaultTables(t *testing.T) *tables {
	t.Helper()
	tb, err := Config{}.tables()
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// payload is a minimal 3101/3102 with one patient and one encounter; enc
// and order are extra fields merged into the encounter and its one order.
func payload(infno string, data, enc, order map[string]any) []byte {
	o := map[string]any{"rx_id": "L1", "hilist_code": "XC10AAD9004A001010199904", "hilist_type": "101", "cnt": 1, "drord_dr_codg": "D1", "curr_drord_flag": "1"}
	for k, v := range order {
		o[k] = v
	}
	e := map[string]any{"mdtrt_id": "E1", "insutype": "310", "med_type": "11", "fsi_order_dtos": []any{o}}
	for k, v := range enc {
		e[k] = v
	}
	d := map[string]any{"syscode": "HIS", "task_id": "T1", "patient_dtos": []any{map[string]any{
		"patn_id": "P1", "gend": "1", "brdy": "1980-01-01", "curr_mdtrt_id": "E1", "fsi_encounter_dtos": []any{e}}}}
	for k, v := range data {
		d[k] = v
	}
	b, _ := json.Marshal(map[string]any{"infno": infno, "fixmedins_code": "H1", "input": map[string]any{"data": d}})
	return b
}

func convertOne(t *testing.T, body []byte) *rxguardv1.CheckOrdersRequest {
	t.Helper()
	units, _, err := convert(body, defaultTables(t))
	if err != nil {
		t.Fatal(err)
	}
	return units[0].req
}

func TestTrigScenSelectsScene(t *testing.T) {
	cases := []struct {
		infno, trig string
		enc         map[string]any
		order       map[string]any
		scene       rxguardv1.Scene
	}{
		{"3101", "1", nil, nil, rxguardv1.Scene_SCENE_OUTPATIENT},
		{"3101", "2", map[string]any{"med_type": "13"}, nil, rxguardv1.Scene_SCENE_EMERGENCY},
		// 住院登记: the admission scene; its lines (none, or these) are
		// the HIS's; validation of an empty order is the service's.
		{"3101", "3", map[string]any{"med_type": "21", "fsi_order_dtos": nil}, nil, rxguardv1.Scene_SCENE_ADMISSION},
		{"3101", "4", map[string]any{"med_type": "21"}, nil, rxguardv1.Scene_SCENE_INPATIENT},
		{"3101", "5", map[string]any{"med_type": "21"}, nil, rxguardv1.Scene_SCENE_INPATIENT},
		{"3101", "5", map[string]any{"med_type": "21"}, map[string]any{"drord_bhvr": 1}, rxguardv1.Scene_SCENE_DISCHARGE},
		{"3101", "2", nil, map[string]any{"drord_bhvr": "1"}, rxguardv1.Scene_SCENE_OUTPATIENT},
		{"3102", "6", nil, nil, rxguardv1.Scene_SCENE_SETTLEMENT},
		{"3102", "7", nil, nil, rxguardv1.Scene_SCENE_SETTLEMENT},
		{"3102", "8", map[string]any{"med_type": "21"}, nil, rxguardv1.Scene_SCENE_SETTLEMENT},
		{"3102", "9", map[string]any{"med_type": "21"}, nil, rxguardv1.Scene_SCENE_SETTLEMENT},
		{"3102", "10", nil, nil, rxguardv1.Scene_SCENE_OUTPATIENT},
		{"3101", "", map[string]any{"med_type": "21"}, nil, rxguardv1.Scene_SCENE_INPATIENT},
		{"3102", "", nil, nil, rxguardv1.Scene_SCENE_SETTLEMENT},
		{"3660", "2", nil, nil, rxguardv1.Scene_SCENE_OUTPATIENT},
	}
	for _, c := range cases {
		data := map[string]any{}
		if c.trig != "" {
			data["trig_scen"] = c.trig
		}
		req := convertOne(t, payload(c.infno, data, c.enc, c.order))
		if req.Scene != c.scene {
			t.Errorf("%s trig_scen %q %v: scene %v, want %v", c.infno, c.trig, c.enc, req.Scene, c.scene)
		}
		if c.trig == "3" && len(req.Orders) != 0 {
			t.Errorf("admission without lines mapped %d lines", len(req.Orders))
		}
	}
}

func TestFieldMapping(t *testing.T) {
	cases := []struct {
		name  string
		enc   map[string]any
		order map[string]any
		check func(*rxguardv1.CheckOrdersRequest) bool
	}{
		{"title 231", nil, map[string]any{"drord_dr_profttl": "231"}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Physician.Title == rxguardv1.Title_TITLE_CHIEF }},
		{"title 5", nil, map[string]any{"drord_dr_profttl": 5}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Physician.Title == rxguardv1.Title_TITLE_CHIEF }},
		{"title 233", nil, map[string]any{"drord_dr_profttl": "233"}, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Physician.Title == rxguardv1.Title_TITLE_ATTENDING
		}},
		{"title 4", nil, map[string]any{"drord_dr_profttl": "4"}, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Physician.Title == rxguardv1.Title_TITLE_ASSOCIATE_CHIEF
		}},
		{"title 235 医士", nil, map[string]any{"drord_dr_profttl": "235"}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Physician.Title == rxguardv1.Title_TITLE_RESIDENT }},
		{"encounter physician", nil, map[string]any{"drord_dr_codg": nil}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Physician.Code == "DENC" }},
		{"insutype 390", map[string]any{"insutype": 390}, nil, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Patient.InsuranceType == rxguardv1.InsuranceType_INSURANCE_RESIDENT
		}},
		{"insutype 510", map[string]any{"insutype": "510"}, nil, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Patient.InsuranceType == rxguardv1.InsuranceType_INSURANCE_MATERNITY
		}},
		{"matn_stas 2", map[string]any{"matn_stas": 2}, nil, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Patient.Maternity == rxguardv1.Maternity_MATERNITY_LACTATING
		}},
		{"med_mdtrt_type fallback", map[string]any{"med_type": nil, "med_mdtrt_type": "2"}, nil, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Encounter.Type == rxguardv1.EncounterType_ENCOUNTER_INPATIENT
		}},
		{"medins_lv 08", map[string]any{"medins_lv": "08"}, nil, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Hospital.Level == 1 }},
		{"medins_lv 二级乙等", map[string]any{"medins_lv": "二级乙等"}, nil, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Hospital.Level == 2 }},
		{"medins_lv unknown", map[string]any{"medins_lv": "--"}, nil, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Hospital.Level == 1 }},
		{"hilist_type 102 herb", nil, map[string]any{"hilist_type": "102"}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Orders[0].Kind == rxguardv1.ItemKind_ITEM_HERB }},
		{"hilist_type 301", nil, map[string]any{"hilist_type": 301}, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Orders[0].Kind == rxguardv1.ItemKind_ITEM_CONSUMABLE
		}},
		{"kind from chrg_type", nil, map[string]any{"hilist_type": "105", "chrg_type": "01"}, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Orders[0].Kind == rxguardv1.ItemKind_ITEM_SERVICE
		}},
		{"kind from code", nil, map[string]any{"hilist_type": nil}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Orders[0].Kind == rxguardv1.ItemKind_ITEM_DRUG }},
		{"days and start", nil, map[string]any{"drord_begn_date": "2026-11-01 08:00:00", "drord_stop_date": "2026-11-08 08:00:00"}, func(r *rxguardv1.CheckOrdersRequest) bool {
			return r.Orders[0].Days == 7 && r.Orders[0].StartTime == "2026-11-01T08:00:00+08:00"
		}},
		{"self-pay", nil, map[string]any{"sumamt": "10", "selfpay_amt": 10}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Orders[0].SelfPay }},
		{"partly own pay is insured", nil, map[string]any{"sumamt": "10", "selfpay_amt": 2}, func(r *rxguardv1.CheckOrdersRequest) bool { return !r.Orders[0].SelfPay }},
		{"price from hilist_pric", nil, map[string]any{"hilist_pric": "3.5"}, func(r *rxguardv1.CheckOrdersRequest) bool { return r.Orders[0].UnitPrice == 3.5 }},
		{"history line", nil, map[string]any{"curr_drord_flag": 0, "drord_begn_date": "2026-11-01"}, func(r *rxguardv1.CheckOrdersRequest) bool {
			return len(r.Orders) == 0 && len(r.History) == 1 && r.History[0].Time == "2026-11-01T00:00:00+08:00" && r.History[0].HospitalCode == ""
		}},
	}
	for _, c := range cases {
		enc := map[string]any{"dr_codg": "DENC"}
		for k, v := range c.enc {
			enc[k] = v
		}
		req := convertOne(t, payload("3101", map[string]any{"trig_scen": "2"}, enc, c.order))
		if !c.check(req) {
			t.Errorf("%s: %v", c.name, req)
		}
	}
}

// The other encounters are previous_encounters and their lines history,
// with hospital_code when another hospital's.
func TestOtherEncounters(t *testing.T) {
	body := []byte(`{"infno":"3101","fixmedins_code":"H1","input":{"data":{"syscode":"S","task_id":"T","trig_scen":5,"patient_dtos":[
	 {"patn_id":"P","gend":2,"brdy":"1970-01-01","curr_mdtrt_id":"E2","fsi_encounter_dtos":[
	  {"mdtrt_id":"E1","medins_id":"H9","med_type":"21","adm_date":"2026-10-01 08:00:00","dscg_date":"2026-10-05 10:00:00",
	   "fsi_diagnose_dtos":[{"maindise_flag":"1","dise_codg":"J18.900"}],
	   "fsi_order_dtos":[{"rx_id":"O1","hilist_code":"001109000010000","cnt":1,"drord_begn_date":"2026-10-02 00:00:00","curr_drord_flag":"1"}]},
	  {"mdtrt_id":"E2","medins_id":"H1","med_type":"21","insutype":"310","adm_date":"2026-10-15 08:00:00",
	   "fsi_order_dtos":[{"rx_id":"N1","hilist_code":"001109000010000","cnt":1,"drord_dr_codg":"D1"}]}]}]}}}`)
	req := convertOne(t, body)
	if len(req.PreviousEncounters) != 1 || req.PreviousEncounters[0].HospitalCode != "H9" || req.PreviousEncounters[0].PrimaryDiagnosis != "J18.900" ||
		req.PreviousEncounters[0].DischargeDate != "2026-10-05" || req.PreviousEncounters[0].Type != rxguardv1.EncounterType_ENCOUNTER_INPATIENT {
		t.Errorf("previous encounters %v", req.PreviousEncounters)
	}
	// A line of another encounter is history whatever its flag says.
	if len(req.History) != 1 || req.History[0].EncounterId != "E1" || req.History[0].HospitalCode != "H9" || len(req.Orders) != 1 || req.Orders[0].LineId != "N1" {
		t.Errorf("history %v orders %v", req.History, req.Orders)
	}
	if req.Encounter.Id != "E2" || req.Patient.Gender != rxguardv1.Gender_GENDER_FEMALE {
		t.Errorf("encounter %v patient %v", req.Encounter, req.Patient)
	}
}

// Validation paths map back to the national fields.
func TestNationalPaths(t *testing.T) {
	o := &origin{patient: "P", encounter: "E", physician: "E.fsi_order_dtos[0]", physicianCode: "drord_dr_codg", hospitalCode: "fixmedins_code",
		taskID: "D.task_id", scene: "D.trig_scen", checkTime: "inf_time", orderList: "E.fsi_order_dtos",
		orders: []string{"E.fsi_order_dtos[1]"}, history: []string{"X.fsi_order_dtos[0]"}, diagnoses: []string{"E.fsi_diagnose_dtos[2].dise_codg"}}
	for field, want := range map[string]string{
		"orders[0].quantity": "E.fsi_order_dtos[1].cnt", "orders[0].line_id": "E.fsi_order_dtos[1].rx_id", "orders": "E.fsi_order_dtos",
		"history[0].time": "X.fsi_order_dtos[0].drord_begn_date", "patient.birth_date": "P.brdy", "patient.insurance_type": "E.insutype",
		"encounter.type": "E.med_type", "physician.code": "E.fsi_order_dtos[0].drord_dr_codg", "hospital.level": "E.medins_lv",
		"check_time": "inf_time", "diagnoses[0].code": "E.fsi_diagnose_dtos[2].dise_codg", "request": "CheckOrdersRequest.request",
		"orders[5].quantity": "CheckOrdersRequest.orders[5].quantity", "scene": "D.trig_scen",
	} {
		if got := o.national(field); got != want {
			t.Errorf("%s → %s, want %s", field, got, want)
		}
	}
}

// The chosen code tables are a contract of docs/nhsa.md: pinned here.
func TestCodeTablesPinned(t *testing.T) {
	if got := SevDeg(rxguardv1.Action_ACTION_BLOCK) + SevDeg(rxguardv1.Action_ACTION_WARN) + SevDeg(rxguardv1.Action_ACTION_INFO); got != "123" {
		t.Errorf("sev_deg %s", got)
	}
	want := map[string]string{"1": "DRUG_AGE,DRUG_GENDER,DRUG_INDICATION,ENCOUNTER_TYPE,HOSPITAL_LEVEL,INSURANCE_TYPE,ITEM_AGE,ITEM_GENDER,SECOND_LINE",
		"2": "ITEM_COURSE,ITEM_FREQUENCY,ITEM_PERIOD_FREQUENCY,PAYMENT_COURSE,QUANTITY_LIMIT", "3": "DUPLICATE_CHARGE,REPEAT_EXAM,SURGERY_GROUP",
		"4": "DIAGNOSIS_GENDER,DRUG_INTERACTION,DUPLICATE_THERAPY", "5": "PHYSICIAN_QUALIFICATION", "6": "NOT_COVERED,UNKNOWN_ITEM",
		"7": "LOW_STANDARD_ADMISSION,READMISSION"}
	got := map[string][]string{}
	for rt, code := range BehaviourTypes {
		got[code] = append(got[code], string(rt))
	}
	for code, list := range got {
		slices.Sort(list)
		if strings.Join(list, ",") != want[code] {
			t.Errorf("vola_bhvr_type %s: %v, want %s", code, list, want[code])
		}
	}
	// Every built-in rule type has a behaviour type and a Chinese name.
	for _, rt := range engine.RuleTypes() {
		if _, ok := BehaviourTypes[rt]; !ok {
			t.Errorf("rule type %s has no vola_bhvr_type (docs/nhsa.md)", rt)
		}
		if name, ok := engine.RuleTypeName(rt); !ok || name == "" {
			t.Errorf("rule type %s has no Chinese name", rt)
		}
	}
	if AmtNone+AmtSumamt+AmtComputed != "012" {
		t.Error("vola_amt_stas codes changed")
	}
	lv := DefaultHospitalLevels()
	for code, want := range map[string]int{"01": 3, "02": 3, "03": 3, "04": 3, "05": 2, "06": 2, "07": 2, "08": 1, "09": 1, "10": 1, "11": 1} {
		if lv[code] != want {
			t.Errorf("medins_lv %s → %d, want %d", code, lv[code], want)
		}
	}
	ins := DefaultInsuranceTypes()
	if ins["310"] != "INSURANCE_EMPLOYEE" || ins["390"] != "INSURANCE_RESIDENT" || ins["510"] != "INSURANCE_MATERNITY" || len(ins) != 12 {
		t.Errorf("insutype table %v", ins)
	}
	med := DefaultMedTypes()
	if med["11"] != "ENCOUNTER_OUTPATIENT" || med["13"] != "ENCOUNTER_EMERGENCY" || med["14"] != "ENCOUNTER_OUTPATIENT" || med["21"] != "ENCOUNTER_INPATIENT" || len(med) != 16 {
		t.Errorf("med_type table %v", med)
	}
	if RuleName(&rxguardv1.Finding{RuleType: "X", Source: "plugin:antibiotics"}) != "院内规则(antibiotics)" ||
		RuleName(&rxguardv1.Finding{RuleType: string(knowledge.RuleType("DRUG_GENDER"))}) != "药品限定性别" {
		t.Error("rule_name")
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, ""},
		{Config{HospitalLevels: map[string]int{"99": 2}, DefaultHospitalLevel: 3, InsuranceTypes: map[string]string{"410": "INSURANCE_WORK_INJURY"}, MedTypes: map[string]string{"99": "ENCOUNTER_INPATIENT"}}, ""},
		{Config{HospitalLevels: map[string]int{"99": 4}}, "nhsa.hospital_levels.99"},
		{Config{DefaultHospitalLevel: 5}, "nhsa.default_hospital_level"},
		{Config{InsuranceTypes: map[string]string{"410": "WORK_INJURY"}}, "nhsa.insurance_types.410"},
		{Config{MedTypes: map[string]string{"31": "ENCOUNTER_UNSPECIFIED"}}, "nhsa.med_types.31"},
		{Config{MaxBodyBytes: -1}, "nhsa.max_body_bytes"},
	} {
		err := c.cfg.Validate()
		if (c.want == "") != (err == nil) || (err != nil && !strings.HasPrefix(err.Error(), c.want+":")) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	tb, err := Config{DefaultHospitalLevel: 3, MedTypes: map[string]string{"11": "ENCOUNTER_EMERGENCY"}}.tables()
	if err != nil || tb.defaultLevel != 3 || tb.medTypes["11"] != rxguardv1.EncounterType_ENCOUNTER_EMERGENCY || tb.medTypes["21"] != rxguardv1.EncounterType_ENCOUNTER_INPATIENT {
		t.Errorf("configured tables: %v %+v", err, tb)
	}
}

func TestMoney(t *testing.T) {
	for c, want := range map[money]string{0: "0.00", 5: "0.05", 651: "6.51", 3700: "37.00", 123456: "1234.56"} {
		if b, _ := c.MarshalJSON(); string(b) != want {
			t.Errorf("%d → %s, want %s", c, b, want)
		}
	}
	if toCents(3.255*2) != 651 || toCents(-1) != 0 {
		t.Error("toCents")
	}
}

func TestFieldErrorIsTyped(t *testing.T) {
	_, _, err := convert([]byte(`{"infno":"3101"}`), defaultTables(t))
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "input.data" {
		t.Errorf("%v", err)
	}
}

// parseLocal reads RFC 3339 (shortest form included) and the national
// layouts, in Asia/Shanghai.
func TestParseLocal(t *testing.T) {
	for _, c := range []struct {
		in       string
		want     string // RFC 3339 in Asia/Shanghai, "" when unreadable
		dateOnly bool
	}{
		{"2026-11-22T02:00:00Z", "2026-11-22T10:00:00+08:00", false},
		{"2026-11-22T10:00:00.5+08:00", "2026-11-22T10:00:00+08:00", false},
		{"2026-11-22T10:00:00+09:00", "2026-11-22T09:00:00+08:00", false},
		{"2026-11-22 10:00:00", "2026-11-22T10:00:00+08:00", false},
		{"2026-11-22T10:00:00", "2026-11-22T10:00:00+08:00", false},
		{"2026-11-22 10:00", "2026-11-22T10:00:00+08:00", false},
		{"20261122100000", "2026-11-22T10:00:00+08:00", false},
		{"2026/11/22 10:00:00", "2026-11-22T10:00:00+08:00", false},
		{"2026-11-22", "2026-11-22T00:00:00+08:00", true},
		{"20261122", "2026-11-22T00:00:00+08:00", true},
		{"2026/11/22", "2026-11-22T00:00:00+08:00", true},
		{"", "", false}, {"2026-13-45", "", false}, {"2026-11-22T10:00:00X", "", false}, {"昨天", "", false},
	} {
		got, dateOnly, ok := parseLocal(c.in)
		if ok != (c.want != "") || (ok && (got.Format(time.RFC3339) != c.want || dateOnly != c.dateOnly)) {
			t.Errorf("parseLocal(%q) = %v %v %v, want %q dateOnly %v", c.in, got, dateOnly, ok, c.want, c.dateOnly)
		}
	}
}
