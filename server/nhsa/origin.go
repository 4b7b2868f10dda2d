package nhsa

import (
	"strconv"
	"strings"
)

// origin records where each part of a mapped CheckOrdersRequest came
// from, so a validation violation on "orders[2].quantity" is answered as
// "input.data.patient_dtos[0].fsi_encounter_dtos[1].fsi_order_dtos[4].cnt":
// the field the HIS developer sent.
type origin struct {
	patient, encounter string
	// physician is the order (or encounter) the physician was read from,
	// physicianCode its code field (drord_dr_codg or dr_codg).
	physician, physicianCode string
	hospitalCode             string
	taskID, scene, checkTime string
	orderList                string
	orders, history          []string
	diagnoses, previous      []string
}

// The national field of each CheckOrdersRequest field, by message.
var (
	orderFields = map[string]string{"line_id": "rx_id", "item_code": "hilist_code", "item_name": "hilist_name",
		"kind": "hilist_type", "quantity": "cnt", "days": "drord_stop_date", "start_time": "drord_begn_date",
		"unit_price": "pric"}
	historyFields = map[string]string{"item_code": "hilist_code", "kind": "hilist_type", "quantity": "cnt",
		"days": "drord_stop_date", "time": "drord_begn_date", "encounter_id": "mdtrt_id", "hospital_code": "medins_id"}
	patientFields   = map[string]string{"id": "patn_id", "gender": "gend", "birth_date": "brdy"}
	encounterFields = map[string]string{"id": "mdtrt_id", "type": "med_type", "department_code": "adm_dept_codg",
		"admit_date": "adm_date", "insurance_type": "insutype", "maternity": "matn_stas", "level": "medins_lv"}
	previousFields = map[string]string{"id": "mdtrt_id", "type": "med_type", "hospital_code": "medins_id",
		"admit_date": "adm_date", "discharge_date": "dscg_date", "primary_diagnosis": "dscg_main_dise_codg"}
)

// national translates a CheckOrdersRequest field path to the national
// one; a path it cannot place is returned as the proto path, prefixed
// "CheckOrdersRequest." so it is not mistaken for a national field.
func (o *origin) national(field string) string {
	head, rest, _ := strings.Cut(field, ".")
	name, i := head, -1
	if b := strings.IndexByte(head, '['); b > 0 && strings.HasSuffix(head, "]") {
		if n, err := strconv.Atoi(head[b+1 : len(head)-1]); err == nil {
			name, i = head[:b], n
		}
	}
	at := func(list []string, fields map[string]string) string {
		if i < 0 || i >= len(list) {
			return ""
		}
		if rest == "" {
			return list[i]
		}
		if f, ok := fields[rest]; ok {
			return join(list[i], f)
		}
		return ""
	}
	var out string
	switch name {
	case "request_id":
		out = o.taskID
	case "scene":
		out = o.scene
	case "check_time":
		out = o.checkTime
	case "orders":
		if i < 0 {
			out = o.orderList
		} else {
			out = at(o.orders, orderFields)
		}
	case "history":
		out = at(o.history, historyFields)
	case "diagnoses":
		if i >= 0 && i < len(o.diagnoses) {
			out = o.diagnoses[i] // the code field it was read from
		}
	case "previous_encounters":
		out = at(o.previous, previousFields)
	case "patient":
		switch {
		case rest == "":
			out = o.patient
		case patientFields[rest] != "":
			out = join(o.patient, patientFields[rest])
		case encounterFields[rest] != "":
			out = join(o.encounter, encounterFields[rest])
		}
	case "encounter":
		if rest == "" {
			out = o.encounter
		} else if f, ok := encounterFields[rest]; ok {
			out = join(o.encounter, f)
		}
	case "hospital":
		switch rest {
		case "code":
			out = o.hospitalCode
		case "level":
			out = join(o.encounter, "medins_lv")
		}
	case "physician":
		switch rest {
		case "", "code":
			out = join(o.physician, o.physicianCode)
		case "name":
			out = join(o.physician, "drord_dr_name")
		case "title":
			out = join(o.physician, "drord_dr_profttl")
		case "department_code":
			out = join(o.physician, "drord_dept_codg")
		}
	}
	if out == "" {
		return "CheckOrdersRequest." + field
	}
	return out
}
