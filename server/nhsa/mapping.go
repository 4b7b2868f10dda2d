package nhsa

import (
	"math"
	"strconv"
	"strings"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// unit is one check: the current encounter of one patient, as a
// CheckOrdersRequest, with where each of its parts came from.
type unit struct {
	patient *patientDTO
	enc     *encounterDTO
	req     *rxguardv1.CheckOrdersRequest
	origin  origin
	// amounts[i] is the insured amount of req.Orders[i].
	amounts []lineAmount
}

// lineAmount is one line's part of vola_amt.
type lineAmount struct {
	cents    int64
	computed bool // cnt × pric, not sumamt
	selfPay  bool
}

// Scenes of trig_scen (INTEROP.md, high confidence).
const (
	trigOutpatientRegister = 1  // 事前-门诊挂号
	trigOutpatientCharge   = 2  // 事前-门诊收费登记
	trigAdmission          = 3  // 事前-住院登记
	trigInpatientCharge    = 4  // 事前-住院收费登记
	trigInpatientOrder     = 5  // 事前-住院执行医嘱
	trigOutpatientSettle   = 6  // 事中-门诊结算
	trigOutpatientPreSett  = 7  // 事中-门诊预结算
	trigInpatientSettle    = 8  // 事中-住院结算
	trigInpatientPreSettle = 9  // 事中-住院预结算
	trigDrugPurchase       = 10 // 事中-购药划卡
)

// sceneOf maps a trig_scen to the check's scene. Discharge medication
// (drord_bhvr 1) is handled by the caller: an inpatient order whose lines
// under check are all 出院带药 is SCENE_DISCHARGE.
func sceneOf(trig int, enc rxguardv1.EncounterType) rxguardv1.Scene {
	switch trig {
	case trigAdmission:
		return rxguardv1.Scene_SCENE_ADMISSION
	case trigInpatientCharge, trigInpatientOrder:
		return rxguardv1.Scene_SCENE_INPATIENT
	case trigOutpatientSettle, trigOutpatientPreSett, trigInpatientSettle, trigInpatientPreSettle:
		return rxguardv1.Scene_SCENE_SETTLEMENT
	case trigOutpatientRegister, trigOutpatientCharge, trigDrugPurchase:
	}
	// An outpatient prescription, or an emergency one.
	if enc == rxguardv1.EncounterType_ENCOUNTER_EMERGENCY {
		return rxguardv1.Scene_SCENE_EMERGENCY
	}
	return rxguardv1.Scene_SCENE_OUTPATIENT
}

// trigScen reads trig_scen, or derives it when absent: 3101 checks orders
// (住院执行医嘱 for an inpatient, 门诊收费登记 otherwise), 3102 settles.
func trigScen(a *analysis, infno string, enc rxguardv1.EncounterType, n *notes) (int, error) {
	p := join(a.path, "trig_scen")
	inEvent := infno == "3102" || infno == "3661"
	if a.TrigScen == "" {
		inpatient := enc == rxguardv1.EncounterType_ENCOUNTER_INPATIENT
		t := map[[2]bool]int{{false, false}: trigOutpatientCharge, {false, true}: trigInpatientOrder,
			{true, false}: trigOutpatientSettle, {true, true}: trigInpatientSettle}[[2]bool{inEvent, inpatient}]
		n.add(p, "未传触发场景, 按%d处理 (trig_scen absent: judged as %d)", t, t)
		return t, nil
	}
	t, err := strconv.Atoi(a.TrigScen)
	if err != nil || t < 1 || t > 10 {
		return 0, fieldErr(p, "触发场景应为1–10 (trig_scen must be 1–10): got %q", validate.Clip(a.TrigScen))
	}
	if inEvent && t <= 5 {
		return 0, fieldErr(p, "触发场景%d为事前场景, 应调用3101 (trig_scen %d is 事前: send it to /nhsa/3101)", t, t)
	}
	if !inEvent && t > 5 {
		return 0, fieldErr(p, "触发场景%d为事中场景, 应调用3102 (trig_scen %d is 事中: send it to /nhsa/3102)", t, t)
	}
	return t, nil
}

// mapAnalysis turns a 3101/3102 into one check per patient: the
// encounter named by curr_mdtrt_id with its lines under check
// (curr_drord_flag 1), everything else of the patient as history.
func mapAnalysis(env *envelope, a *analysis, t *tables, n *notes) ([]*unit, error) {
	checkTime := ""
	if env.InfTime != "" {
		ct, _, ok := parseLocal(env.InfTime)
		if !ok {
			return nil, fieldErr("inf_time", "交易时间应为yyyy-MM-dd HH:mm:ss (inf_time must be yyyy-MM-dd HH:mm:ss, local time): got %q", validate.Clip(env.InfTime))
		}
		checkTime = ct.Format(time.RFC3339)
	}
	units := make([]*unit, 0, len(a.Patients))
	for _, pt := range a.Patients {
		u, err := mapPatient(env, a, pt, t, n)
		if err != nil {
			return nil, err
		}
		u.req.CheckTime = checkTime
		u.origin.checkTime = "inf_time"
		units = append(units, u)
	}
	return units, nil
}

func currentEncounter(pt *patientDTO) (*encounterDTO, error) {
	if len(pt.Encounters) == 0 {
		return nil, fieldErr(join(pt.path, "fsi_encounter_dtos"), "就诊信息不能为空 (fsi_encounter_dtos must not be empty)")
	}
	if pt.CurrMdtrtID == "" {
		if len(pt.Encounters) == 1 {
			return pt.Encounters[0], nil
		}
		return nil, fieldErr(join(pt.path, "curr_mdtrt_id"), "有多次就诊时当前就诊ID必填 (curr_mdtrt_id is required when several encounters are sent)")
	}
	for _, e := range pt.Encounters {
		if e.MdtrtID == pt.CurrMdtrtID {
			return e, nil
		}
	}
	return nil, fieldErr(join(pt.path, "curr_mdtrt_id"), "当前就诊ID %q 不在fsi_encounter_dtos中 (curr_mdtrt_id matches no fsi_encounter_dtos[].mdtrt_id)", validate.Clip(pt.CurrMdtrtID))
}

func mapPatient(env *envelope, a *analysis, pt *patientDTO, t *tables, n *notes) (*unit, error) {
	enc, err := currentEncounter(pt)
	if err != nil {
		return nil, err
	}
	encType := encounterType(enc, t, n)
	trig, err := trigScen(a, env.Infno, encType, n)
	if err != nil {
		return nil, err
	}
	if encType == rxguardv1.EncounterType_ENCOUNTER_UNSPECIFIED {
		encType = rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT
		if trig == trigAdmission || trig == trigInpatientCharge || trig == trigInpatientOrder || trig == trigInpatientSettle || trig == trigInpatientPreSettle {
			encType = rxguardv1.EncounterType_ENCOUNTER_INPATIENT
		}
		n.add(join(enc.path, "med_type"), "未能识别就诊类型, 按触发场景%d判为%s (encounter type from trig_scen %d)", trig, encType, trig)
	}
	ins, err := insuranceType(enc, t)
	if err != nil {
		return nil, err
	}
	hospital := env.FixmedinsCode
	hospitalPath := "fixmedins_code"
	if hospital == "" {
		hospital, hospitalPath = enc.MedinsID, join(enc.path, "medins_id")
	}
	level, ok := int32(t.levels[enc.MedinsLv]), true
	if level == 0 {
		level, ok = t.defaultLevel, false
	}
	if !ok {
		n.add(join(enc.path, "medins_lv"), "机构等级%q不在对照表中, 按%d级判断 (medins_lv not in nhsa.hospital_levels: judged as level %d, nhsa.default_hospital_level)", validate.Clip(enc.MedinsLv), level, level)
	}
	u := &unit{patient: pt, enc: enc}
	u.origin = origin{patient: pt.path, encounter: enc.path, hospitalCode: hospitalPath, taskID: join(a.path, "task_id"),
		scene: join(a.path, "trig_scen"), orderList: join(enc.path, "fsi_order_dtos")}
	req := &rxguardv1.CheckOrdersRequest{
		RequestId: a.TaskID,
		Hospital:  &rxguardv1.Hospital{Code: hospital, Level: level},
		Patient: &rxguardv1.Patient{Id: pt.PatnID, Gender: gender(pt, n), BirthDate: dateOf(pt.Brdy),
			InsuranceType: ins, Maternity: maternity(enc, n)},
		Encounter: &rxguardv1.Encounter{Id: enc.MdtrtID, Type: encType, DepartmentCode: enc.AdmDeptCodg, AdmitDate: dateOf(enc.AdmDate)},
		Diagnoses: diagnoses(enc, n, &u.origin),
	}
	u.req = req

	// Lines under check and the physician who orders them.
	discharge := true
	physicians := map[string]bool{}
	for _, o := range enc.Orders {
		switch o.CurrFlag {
		case "1", "":
			o.lineInCheck = true
		case "0":
		default:
			o.lineInCheck = true
			n.add(join(o.path, "curr_drord_flag"), "当前医嘱标志%q无法识别, 按当前医嘱审核 (curr_drord_flag not 0/1: judged as a line under check)", validate.Clip(o.CurrFlag))
		}
		if !o.lineInCheck {
			continue
		}
		line, amt := orderLine(o, n)
		req.Orders = append(req.Orders, line)
		u.amounts = append(u.amounts, amt)
		u.origin.orders = append(u.origin.orders, o.path)
		discharge = discharge && o.DrordBhvr == "1"
		if o.DrCodg != "" {
			if len(physicians) == 0 {
				req.Physician = &rxguardv1.Physician{Code: o.DrCodg, Name: o.DrName, Title: title(o.DrProfttl, join(o.path, "drord_dr_profttl"), n), DepartmentCode: o.DeptCodg}
				u.origin.physician = o.path
				u.origin.physicianCode = "drord_dr_codg"
			}
			physicians[o.DrCodg] = true
		}
	}
	if len(physicians) > 1 {
		n.add(u.origin.orderList, "当前医嘱含%d位开单医师, 按第一位(%s)判断医师资格 (lines by %d physicians: qualification judged for the first)", len(physicians), validate.Clip(req.Physician.Code), len(physicians))
	}
	if req.Physician == nil {
		req.Physician = &rxguardv1.Physician{Code: enc.DrCodg}
		u.origin.physician, u.origin.physicianCode = enc.path, "dr_codg"
	}
	req.Scene = sceneOf(trig, encType)
	if discharge && len(req.Orders) > 0 && req.Scene == rxguardv1.Scene_SCENE_INPATIENT {
		req.Scene = rxguardv1.Scene_SCENE_DISCHARGE
	}

	// History: the other lines of this encounter, and every line and the
	// encounter itself of the patient's other encounters.
	for _, o := range enc.Orders {
		if !o.lineInCheck {
			addHistory(u, env, enc, o, n)
		}
	}
	for _, e := range pt.Encounters {
		if e == enc {
			continue
		}
		req.PreviousEncounters = append(req.PreviousEncounters, previousEncounter(env, e, t, n))
		u.origin.previous = append(u.origin.previous, e.path)
		for _, o := range e.Orders {
			addHistory(u, env, e, o, n)
		}
	}
	return u, nil
}

// otherHospital is the hospital_code of an item done at encounter e:
// empty when it is this hospital.
func otherHospital(env *envelope, e *encounterDTO) string {
	if e.MedinsID == "" || e.MedinsID == env.FixmedinsCode || env.FixmedinsCode == "" {
		return ""
	}
	return e.MedinsID
}

func addHistory(u *unit, env *envelope, e *encounterDTO, o *orderDTO, n *notes) {
	code, _ := itemCode(o, n)
	if code == "" {
		n.add(join(o.path, "hilist_code"), "历史医嘱无医保目录编码, 未纳入 (history line without hilist_code: not used)")
		return
	}
	when, _, ok := parseLocal(o.BegnDate)
	if !ok {
		if when, _, ok = parseLocal(e.AdmDate); !ok {
			n.add(join(o.path, "drord_begn_date"), "历史医嘱无有效开始时间, 未纳入 (history line without a readable drord_begn_date or adm_date: not used)")
			return
		}
		n.add(join(o.path, "drord_begn_date"), "历史医嘱开始时间缺失或无法识别, 按入院时间 (history line dated by the encounter's adm_date)")
	}
	h := &rxguardv1.HistoryOrder{ItemCode: code, Kind: kind(o, code), Quantity: o.Cnt.v, Days: days(o),
		Time: when.Format(time.RFC3339), EncounterId: e.MdtrtID, HospitalCode: otherHospital(env, e)}
	u.req.History = append(u.req.History, h)
	u.origin.history = append(u.origin.history, o.path)
}

func previousEncounter(env *envelope, e *encounterDTO, t *tables, n *notes) *rxguardv1.PreviousEncounter {
	typ := t.medTypes[e.MedType]
	if typ == 0 {
		typ = mdtrtType(e.MedMdtrtType)
	}
	pe := &rxguardv1.PreviousEncounter{Id: e.MdtrtID, Type: typ, HospitalCode: otherHospital(env, e),
		AdmitDate: dateOf(e.AdmDate), DischargeDate: dateOf(e.DscgDate)}
	if c := strings.ToUpper(e.DscgMainDiseCodg); isICD(c) {
		pe.PrimaryDiagnosis = c
	}
	if pe.PrimaryDiagnosis == "" {
		for _, d := range e.Diagnoses {
			code, _ := icdOf(d)
			if d.MaindiseFlag == "1" && code != "" {
				pe.PrimaryDiagnosis = code
				break
			}
		}
	}
	return pe
}

func encounterType(e *encounterDTO, t *tables, n *notes) rxguardv1.EncounterType {
	if typ, ok := t.medTypes[e.MedType]; ok {
		return typ
	}
	if e.MedType != "" {
		n.add(join(e.path, "med_type"), "医疗类别%q不在对照表中, 按med_mdtrt_type判断 (med_type not in nhsa.med_types)", validate.Clip(e.MedType))
	}
	return mdtrtType(e.MedMdtrtType)
}

// mdtrtType is med_mdtrt_type: 1 门诊, 2 住院, 3 购药 (an outpatient
// purchase), 4 其他 (unknown: left to the scene).
func mdtrtType(s string) rxguardv1.EncounterType {
	switch s {
	case "1", "3":
		return rxguardv1.EncounterType_ENCOUNTER_OUTPATIENT
	case "2":
		return rxguardv1.EncounterType_ENCOUNTER_INPATIENT
	}
	return rxguardv1.EncounterType_ENCOUNTER_UNSPECIFIED
}

func insuranceType(e *encounterDTO, t *tables) (rxguardv1.InsuranceType, error) {
	p := join(e.path, "insutype")
	if e.Insutype == "" {
		return 0, fieldErr(p, "险种类型必填 (insutype is required: e.g. 310 职工, 390 居民)")
	}
	ins, ok := t.insurance[e.Insutype]
	if !ok {
		return 0, fieldErr(p, "险种类型%q不在对照表中, 请在配置nhsa.insurance_types中补充 (insutype not in nhsa.insurance_types)", validate.Clip(e.Insutype))
	}
	return ins, nil
}

func gender(pt *patientDTO, n *notes) rxguardv1.Gender {
	switch pt.Gend {
	case "1", "男":
		return rxguardv1.Gender_GENDER_MALE
	case "2", "女":
		return rxguardv1.Gender_GENDER_FEMALE
	case "", "0", "9", "未知", "未说明":
	default:
		n.add(join(pt.path, "gend"), "性别%q无法识别, 按未知 (gend not 0/1/2/9: judged as unknown)", validate.Clip(pt.Gend))
	}
	return rxguardv1.Gender_GENDER_UNKNOWN
}

func maternity(e *encounterDTO, n *notes) rxguardv1.Maternity {
	switch e.MatnStas {
	case "0":
		return rxguardv1.Maternity_MATERNITY_NONE
	case "1":
		return rxguardv1.Maternity_MATERNITY_PREGNANT
	case "2":
		return rxguardv1.Maternity_MATERNITY_LACTATING
	case "":
	default:
		n.add(join(e.path, "matn_stas"), "孕产状态%q无法识别, 未纳入 (matn_stas not 0/1/2: not used)", validate.Clip(e.MatnStas))
	}
	return rxguardv1.Maternity_MATERNITY_UNSPECIFIED
}

// title maps drord_dr_profttl in both families seen: 1 医士 … 5 主任医师
// (6 无, 9 其他) and GB/T 8561's 231 主任医师 … 235 医士.
func title(s, path string, n *notes) rxguardv1.Title {
	switch s {
	case "1", "2", "234", "235", "医士", "医师", "住院医师":
		return rxguardv1.Title_TITLE_RESIDENT
	case "3", "233", "主治医师":
		return rxguardv1.Title_TITLE_ATTENDING
	case "4", "232", "副主任医师":
		return rxguardv1.Title_TITLE_ASSOCIATE_CHIEF
	case "5", "231", "主任医师":
		return rxguardv1.Title_TITLE_CHIEF
	case "", "6", "9", "无", "其他":
	default:
		n.add(path, "职称%q无法识别, 未纳入 (drord_dr_profttl not a known title code: not used)", validate.Clip(s))
	}
	return rxguardv1.Title_TITLE_UNSPECIFIED
}

// isICD reports whether s looks like an ICD-10 code (医保版 or not): a
// letter and two digits, then anything. Local codes ("HIS0012", "1001")
// are not.
func isICD(s string) bool {
	return len(s) >= 3 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= '0' && s[1] <= '9' && s[2] >= '0' && s[2] <= '9'
}

// icdOf returns a diagnosis's ICD-10 code and name, putting a swapped
// code/name pair back; "" when it has no ICD-10 code.
func icdOf(d *diagnoseDTO) (code, name string) {
	c, nm := strings.ToUpper(d.Codg), d.Name
	if isICD(c) {
		return c, nm
	}
	if sw := strings.ToUpper(d.Name); isICD(sw) && !strings.ContainsFunc(sw, isCJK) {
		return sw, d.Codg
	}
	return "", nm
}

func isCJK(r rune) bool { return r >= 0x2E80 }

func diagnoses(e *encounterDTO, n *notes, o *origin) []*rxguardv1.Diagnosis {
	var out []*rxguardv1.Diagnosis
	seen := map[string]int{}
	add := func(code, name string, primary bool, path string) {
		if i, ok := seen[code]; ok {
			out[i].Primary = out[i].Primary || primary
			return
		}
		seen[code] = len(out)
		out = append(out, &rxguardv1.Diagnosis{Code: code, Name: name, Primary: primary})
		o.diagnoses = append(o.diagnoses, path)
	}
	for _, d := range e.Diagnoses {
		code, name := icdOf(d)
		switch {
		case code == "":
			if d.Codg != "" || d.Name != "" {
				n.add(join(d.path, "dise_codg"), "诊断编码%q不是ICD-10编码, 未纳入审核 (not an ICD-10 code: not judged)", validate.Clip(d.Codg))
			}
			continue
		case code != strings.ToUpper(d.Codg):
			n.add(join(d.path, "dise_codg"), "诊断编码与名称疑似颠倒, 已按%q审核 (dise_codg and dise_name swapped: judged as %q)", validate.Clip(code), validate.Clip(code))
		}
		add(code, name, d.MaindiseFlag == "1", join(d.path, "dise_codg"))
	}
	if c := strings.ToUpper(e.DscgMainDiseCodg); c != "" {
		if isICD(c) {
			add(c, e.DscgMainDiseName, !hasPrimary(out), join(e.path, "dscg_main_dise_codg"))
		} else {
			n.add(join(e.path, "dscg_main_dise_codg"), "出院主诊断编码%q不是ICD-10编码, 未纳入审核 (not an ICD-10 code: not judged)", validate.Clip(e.DscgMainDiseCodg))
		}
	}
	return out
}

func hasPrimary(ds []*rxguardv1.Diagnosis) bool {
	for _, d := range ds {
		if d.Primary {
			return true
		}
	}
	return false
}

// looksLikeCode: printable ASCII without spaces, as every national code is.
func looksLikeCode(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// itemCode returns the line's national code and name, putting a swapped
// pair back (a name in hilist_code, the code in hilist_name).
func itemCode(o *orderDTO, n *notes) (code, name string) {
	if o.HilistCode != "" && !looksLikeCode(o.HilistCode) && looksLikeCode(o.HilistName) {
		n.add(join(o.path, "hilist_code"), "医保目录编码与名称疑似颠倒, 已按%q审核 (hilist_code and hilist_name swapped)", validate.Clip(o.HilistName))
		return o.HilistName, o.HilistCode
	}
	return o.HilistCode, o.HilistName
}

// kind maps hilist_type, then chrg_type, then the code's shape (national
// drug codes start with X 西药 or Z 中成药, herbal pieces with T, consumables
// with C; service items are digits).
func kind(o *orderDTO, code string) rxguardv1.ItemKind {
	switch o.HilistType {
	case "101":
		return rxguardv1.ItemKind_ITEM_DRUG
	case "102", "106":
		return rxguardv1.ItemKind_ITEM_HERB
	case "201", "501":
		return rxguardv1.ItemKind_ITEM_SERVICE
	case "301":
		return rxguardv1.ItemKind_ITEM_CONSUMABLE
	}
	switch o.ChrgType {
	case "09", "11":
		return rxguardv1.ItemKind_ITEM_DRUG
	case "10":
		return rxguardv1.ItemKind_ITEM_HERB
	case "08":
		return rxguardv1.ItemKind_ITEM_CONSUMABLE
	case "01", "02", "03", "04", "05", "06", "07", "12", "13", "14":
		return rxguardv1.ItemKind_ITEM_SERVICE
	}
	if code == "" {
		return rxguardv1.ItemKind_ITEM_UNSPECIFIED
	}
	switch c := code[0]; {
	case c == 'X' || c == 'Z':
		return rxguardv1.ItemKind_ITEM_DRUG
	case c == 'T':
		return rxguardv1.ItemKind_ITEM_HERB
	case c == 'C':
		return rxguardv1.ItemKind_ITEM_CONSUMABLE
	case c >= '0' && c <= '9':
		return rxguardv1.ItemKind_ITEM_SERVICE
	}
	return rxguardv1.ItemKind_ITEM_UNSPECIFIED
}

func orderLine(o *orderDTO, n *notes) (*rxguardv1.OrderLine, lineAmount) {
	code, name := itemCode(o, n)
	price := o.Pric
	if !price.ok {
		price = o.HilistPric
	}
	l := &rxguardv1.OrderLine{LineId: o.RxID, ItemCode: code, ItemName: name, Kind: kind(o, code), Quantity: o.Cnt.v,
		Days: days(o), UnitPrice: price.v}
	if o.BegnDate != "" {
		if t, _, ok := parseLocal(o.BegnDate); ok {
			l.StartTime = t.Format(time.RFC3339)
		} else {
			n.add(join(o.path, "drord_begn_date"), "医嘱开始时间%q无法识别, 按审核时间 (drord_begn_date unreadable: judged at the check time)", validate.Clip(o.BegnDate))
		}
	}
	// 全自费: the whole amount is the patient's own (selfpay_amt ≥ sumamt).
	l.SelfPay = o.Sumamt.ok && o.Sumamt.v > 0 && o.SelfpayAmt.ok && o.SelfpayAmt.v >= o.Sumamt.v
	amt := lineAmount{selfPay: l.SelfPay}
	switch {
	case l.SelfPay:
	case o.Sumamt.ok && o.Sumamt.v > 0:
		amt.cents = toCents(o.Sumamt.v)
	default:
		amt.cents, amt.computed = toCents(o.Cnt.v*price.v), true
	}
	return l, amt
}

func toCents(v float64) int64 {
	c := math.Round(v * 100)
	if math.IsNaN(c) || c <= 0 || c > 1e15 {
		return 0
	}
	return int64(c)
}

// days is the supply days of a line with both dates: the calendar days
// from drord_begn_date to drord_stop_date (at least 1 when the stop is on
// the start day); 0 (unknown) otherwise.
func days(o *orderDTO) int32 {
	b, _, ok1 := parseLocal(o.BegnDate)
	s, _, ok2 := parseLocal(o.StopDate)
	if !ok1 || !ok2 || s.Before(b) {
		return 0
	}
	by, bm, bd := b.Date()
	sy, sm, sd := s.Date()
	d := time.Date(sy, sm, sd, 0, 0, 0, 0, time.UTC).Sub(time.Date(by, bm, bd, 0, 0, 0, 0, time.UTC)).Hours() / 24
	if d < 1 {
		return 1
	}
	if d > math.MaxInt32 {
		return math.MaxInt32
	}
	return int32(d)
}

var localLayouts = []struct {
	layout   string
	dateOnly bool
}{
	{"2006-01-02 15:04:05", false}, {"2006-01-02", true}, {"2006-01-02T15:04:05", false},
	{"2006-01-02 15:04", false}, {"20060102150405", false}, {"20060102", true},
	{"2006/01/02 15:04:05", false}, {"2006/01/02", true},
}

// parseLocal reads a national date or time (yyyy-MM-dd HH:mm:ss local
// time, and the variants HIS send) in Asia/Shanghai; RFC 3339 with an
// offset is accepted too.
func parseLocal(s string) (time.Time, bool, bool) {
	if s == "" {
		return time.Time{}, false, false
	}
	// RFC 3339 needs at least 20 bytes ("2006-01-02T15:04:05Z"); the
	// national layouts have at most 19, so they skip a parse that can only
	// fail (and allocate its error) three times per line.
	if len(s) >= len("2006-01-02T15:04:05Z") {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t.In(engine.Shanghai), false, true
		}
	}
	for _, l := range localLayouts {
		if len(s) != len(l.layout) {
			continue
		}
		if t, err := time.ParseInLocation(l.layout, s, engine.Shanghai); err == nil {
			return t, l.dateOnly, true
		}
	}
	return time.Time{}, false, false
}

// dateOf is a national date or time as YYYY-MM-DD; text it cannot read is
// passed on as sent, so validation names it.
func dateOf(s string) string {
	if t, _, ok := parseLocal(s); ok {
		return t.Format("2006-01-02")
	}
	return s
}
