package nhsa

import "github.com/rxguard/rxguard/server/validate"

// The national request shapes as decoded: text fields as sent (trimmed),
// amounts as numbers, each element with its path for error messages. The
// mapping onto CheckOrdersRequest (mapping.go) reads codes from these.

// reader keeps the first decode error, so the decoders read like the
// field list they follow.
type reader struct{ err error }

func (r *reader) s(m map[string]any, key, path string) string {
	v, err := str(m, key, path)
	if err != nil && r.err == nil {
		r.err = err
	}
	return v
}

func (r *reader) n(m map[string]any, key, path string) amount {
	v, ok, err := num(m, key, path)
	if err != nil && r.err == nil {
		r.err = err
	}
	return amount{v: v, ok: ok}
}

func (r *reader) list(m map[string]any, key, path string) ([]map[string]any, []string) {
	l, p, err := array(m, key, path)
	if err != nil && r.err == nil {
		r.err = err
	}
	return l, p
}

// amount is a number that may be absent.
type amount struct {
	v  float64
	ok bool
}

// envelope is the part of the national envelope rxguard reads; the other
// fields (mdtrtarea_admvs, cainfo, sign_no, …) are accepted and ignored.
type envelope struct {
	Infno         string
	Msgid         string
	InfTime       string
	FixmedinsCode string
	// data is input.data (or Hainan's input.trigScen); its path is
	// dataPath.
	data     map[string]any
	dataPath string
}

// decodeEnvelope reads the envelope of any national call.
func decodeEnvelope(body []byte) (*envelope, error) {
	top, err := parseTree(body)
	if err != nil {
		return nil, err
	}
	var r reader
	e := &envelope{
		Infno:         r.s(top, "infno", ""),
		Msgid:         r.s(top, "msgid", ""),
		InfTime:       r.s(top, "inf_time", ""),
		FixmedinsCode: r.s(top, "fixmedins_code", ""),
	}
	if r.err != nil {
		return nil, r.err
	}
	if e.Infno == "" {
		return nil, fieldErr("infno", "交易编号必填 (infno is required)")
	}
	input, err := object(top, "input", "")
	if err != nil {
		return nil, err
	}
	if input == nil {
		return nil, fieldErr("input.data", "交易输入必填 (input.data is required)")
	}
	for _, key := range []string{"data", "trigScen"} {
		d, err := object(input, key, "input")
		if err != nil {
			return nil, err
		}
		if d != nil {
			e.data, e.dataPath = d, "input."+key
			return e, nil
		}
	}
	return nil, fieldErr("input.data", "交易输入必填 (input.data is required)")
}

// analysis is input.data of 3101/3102.
type analysis struct {
	Syscode  string
	TaskID   string
	TrigScen string
	Patients []*patientDTO
	path     string
}

type patientDTO struct {
	path        string
	PatnID      string
	PatnName    string
	Gend        string
	Brdy        string
	CurrMdtrtID string
	Encounters  []*encounterDTO
}

type encounterDTO struct {
	path             string
	MdtrtID          string
	MedinsID         string
	MedinsLv         string
	AdmDate          string
	DscgDate         string
	DscgMainDiseCodg string
	DscgMainDiseName string
	DrCodg           string
	AdmDeptCodg      string
	MedMdtrtType     string
	MedType          string
	MatnStas         string
	Insutype         string
	Diagnoses        []*diagnoseDTO
	Orders           []*orderDTO
}

type diagnoseDTO struct {
	path         string
	InoutType    string
	MaindiseFlag string
	Codg         string
	Name         string
}

type orderDTO struct {
	path        string
	RxID        string
	HilistType  string
	ChrgType    string
	DrordBhvr   string
	HilistCode  string
	HilistName  string
	HilistPric  amount
	Cnt         amount
	Pric        amount
	Sumamt      amount
	SelfpayAmt  amount
	SpecUnt     string
	BegnDate    string
	StopDate    string
	DeptCodg    string
	DrCodg      string
	DrName      string
	DrProfttl   string
	CurrFlag    string
	lineInCheck bool // set by the mapping
}

// decodeAnalysis reads input.data of 3101/3102: syscode, task_id and at
// least one patient are required; everything else is read as far as it is
// there.
func decodeAnalysis(e *envelope) (*analysis, error) {
	var r reader
	d, p := e.data, e.dataPath
	a := &analysis{path: p, Syscode: r.s(d, "syscode", p), TaskID: r.s(d, "task_id", p), TrigScen: r.s(d, "trig_scen", p)}
	pts, ptPaths := r.list(d, "patient_dtos", p)
	if r.err != nil {
		return nil, r.err
	}
	switch {
	case a.Syscode == "":
		return nil, fieldErr(join(p, "syscode"), "调用系统编码必填 (syscode is required)")
	case a.TaskID == "":
		return nil, fieldErr(join(p, "task_id"), "任务ID必填 (task_id is required)")
	case len(pts) == 0:
		return nil, fieldErr(join(p, "patient_dtos"), "患者信息不能为空 (patient_dtos must not be empty)")
	}
	for i, pm := range pts {
		pp := ptPaths[i]
		pt := &patientDTO{path: pp, PatnID: r.s(pm, "patn_id", pp), PatnName: r.s(pm, "patn_name", pp), Gend: r.s(pm, "gend", pp),
			Brdy: r.s(pm, "brdy", pp), CurrMdtrtID: r.s(pm, "curr_mdtrt_id", pp)}
		encs, encPaths := r.list(pm, "fsi_encounter_dtos", pp)
		for j, em := range encs {
			pt.Encounters = append(pt.Encounters, decodeEncounter(&r, em, encPaths[j]))
		}
		if r.err != nil {
			return nil, r.err
		}
		a.Patients = append(a.Patients, pt)
	}
	return a, nil
}

func decodeEncounter(r *reader, m map[string]any, p string) *encounterDTO {
	e := &encounterDTO{path: p,
		MdtrtID: r.s(m, "mdtrt_id", p), MedinsID: r.s(m, "medins_id", p), MedinsLv: r.s(m, "medins_lv", p),
		AdmDate: r.s(m, "adm_date", p), DscgDate: r.s(m, "dscg_date", p),
		DscgMainDiseCodg: r.s(m, "dscg_main_dise_codg", p), DscgMainDiseName: r.s(m, "dscg_main_dise_name", p),
		DrCodg: r.s(m, "dr_codg", p), AdmDeptCodg: r.s(m, "adm_dept_codg", p),
		MedMdtrtType: r.s(m, "med_mdtrt_type", p), MedType: r.s(m, "med_type", p),
		MatnStas: r.s(m, "matn_stas", p), Insutype: r.s(m, "insutype", p),
	}
	dxs, dxPaths := r.list(m, "fsi_diagnose_dtos", p)
	for i, dm := range dxs {
		dp := dxPaths[i]
		e.Diagnoses = append(e.Diagnoses, &diagnoseDTO{path: dp, InoutType: r.s(dm, "inout_dise_type", dp),
			MaindiseFlag: r.s(dm, "maindise_flag", dp), Codg: r.s(dm, "dise_codg", dp), Name: r.s(dm, "dise_name", dp)})
	}
	ords, ordPaths := r.list(m, "fsi_order_dtos", p)
	for i, om := range ords {
		op := ordPaths[i]
		e.Orders = append(e.Orders, &orderDTO{path: op,
			RxID: r.s(om, "rx_id", op), HilistType: r.s(om, "hilist_type", op), ChrgType: r.s(om, "chrg_type", op),
			DrordBhvr: r.s(om, "drord_bhvr", op), HilistCode: r.s(om, "hilist_code", op), HilistName: r.s(om, "hilist_name", op),
			HilistPric: r.n(om, "hilist_pric", op), Cnt: r.n(om, "cnt", op), Pric: r.n(om, "pric", op),
			Sumamt: r.n(om, "sumamt", op), SelfpayAmt: r.n(om, "selfpay_amt", op), SpecUnt: r.s(om, "spec_unt", op),
			BegnDate: r.s(om, "drord_begn_date", op), StopDate: r.s(om, "drord_stop_date", op),
			DeptCodg: r.s(om, "drord_dept_codg", op), DrCodg: r.s(om, "drord_dr_codg", op),
			DrName: r.s(om, "drord_dr_name", op), DrProfttl: r.s(om, "drord_dr_profttl", op),
			CurrFlag: r.s(om, "curr_drord_flag", op)})
	}
	return e
}

// feedback is input.data of 3103.
type feedback struct {
	WarnType string
	Warns    []*warnDTO
	path     string
}

type warnDTO struct {
	path       string
	WarnRsltID string
	DspoWay    string
	DspoWayRea string
}

func decodeFeedback(e *envelope) (*feedback, error) {
	var r reader
	d, p := e.data, e.dataPath
	f := &feedback{path: p, WarnType: r.s(d, "warn_type", p)}
	ws, wPaths := r.list(d, "warns", p)
	for i, wm := range ws {
		wp := wPaths[i]
		f.Warns = append(f.Warns, &warnDTO{path: wp, WarnRsltID: r.s(wm, "warn_rslt_id", wp),
			DspoWay: r.s(wm, "dspo_way", wp), DspoWayRea: r.s(wm, "dspo_way_rea", wp)})
	}
	if r.err != nil {
		return nil, r.err
	}
	switch f.WarnType {
	case "1", "2":
	case "":
		return nil, fieldErr(join(p, "warn_type"), "反馈类型必填: 1 事前, 2 事中 (warn_type is required: 1 or 2)")
	default:
		return nil, fieldErr(join(p, "warn_type"), "反馈类型应为1 事前或2 事中 (warn_type must be 1 or 2): got %q", validate.Clip(f.WarnType))
	}
	if len(f.Warns) == 0 {
		return nil, fieldErr(join(p, "warns"), "反馈明细不能为空 (warns must not be empty)")
	}
	return f, nil
}
