package importer

import (
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

// The drug batches (1 gender, 1 age, 3, 4, 5, 6) share one layout: Sheet1
// states the restriction once per generic name (药品通用名, 药品说明, 限定类型,
// 限定对象 or 限定值域), Sheet2 lists the product codes of each generic name.
// The rule is checked on product codes, so there is one record per Sheet2
// row, carrying the Sheet1 description and value of its generic name.

// drugSpec is what differs between the drug batches.
type drugSpec struct {
	batch    string
	rule     knowledge.RuleType
	typeName string // 限定类型 as published
	// apply sets the rule's parameter on r from the Sheet1 value (限定对象
	// or 限定值域) and description. It returns what it could not understand,
	// or "" — the value then goes to r.Text, never guessed from.
	apply func(r *knowledge.Restriction, value, description string) (problem string)
}

var (
	drugSheet1Cols = []column{
		{name: "药品通用名", aliases: []string{"通用名", "药品名称"}},
		{name: "药品说明", aliases: []string{"说明", "限定支付范围"}, optional: true},
		{name: "限定类型", optional: true},
		{name: "限定对象", aliases: []string{"限定值域", "限定性别", "限定年龄"}},
	}
	drugSheet2Cols = []column{
		{name: "药品通用名", aliases: []string{"通用名", "药品名称"}},
		{name: "序号", optional: true},
		{name: "药品代码", aliases: []string{"国标代码", "药品编码", "国家医保药品代码", "医保药品代码"}},
		{name: "限定类型", optional: true},
	}
)

const (
	d1Name = iota
	d1Desc
	d1Type
	d1Value
)

const (
	d2Name = iota
	d2Seq
	d2Code
	d2Type
)

var (
	specDrugGender = drugSpec{batch: "第一批", rule: knowledge.RuleDrugGender, typeName: "限定性别对象",
		apply: func(r *knowledge.Restriction, v, _ string) string {
			g, ok := parseGender(v)
			if !ok {
				return "限定对象 is not 男 or 女"
			}
			r.Gender = g
			return ""
		}}
	specDrugAge = drugSpec{batch: "第一批", rule: knowledge.RuleDrugAge, typeName: "限定年龄对象",
		apply: func(r *knowledge.Restriction, v, _ string) string {
			a, ok := parseAgeBand(v)
			if !ok {
				return "限定对象 is not 儿童, 婴幼儿 or 新生儿"
			}
			r.AgeBand = a
			return ""
		}}
	specInsuranceType = drugSpec{batch: "第三批", rule: knowledge.RuleInsuranceType, typeName: "限定保险类型",
		apply: func(r *knowledge.Restriction, v, _ string) string {
			switch strings.TrimSuffix(stripSpace(v), "保险") {
			case "工伤":
				r.Insurance = "工伤"
			case "生育":
				r.Insurance = "生育"
			default:
				return "限定对象 is not 工伤 or 生育"
			}
			return ""
		}}
	specEncounterType = drugSpec{batch: "第四批", rule: knowledge.RuleEncounterType, typeName: "限定就医方式",
		apply: func(r *knowledge.Restriction, v, desc string) string {
			// "限急诊或住院患者。": the description, not the value, is where the
			// batch admits emergency encounters besides inpatient ones.
			r.AllowEmergency = strings.Contains(stripSpace(desc), "急诊")
			if s := stripSpace(v); s != "住院" && s != "限住院" {
				return "限定值域 is not 住院"
			}
			return ""
		}}
	specHospitalLevel = drugSpec{batch: "第五批", rule: knowledge.RuleHospitalLevel, typeName: "限定机构等级",
		apply: func(r *knowledge.Restriction, v, _ string) string {
			s := strings.TrimSuffix(strings.TrimPrefix(stripSpace(v), "限"), "及以上")
			s = strings.TrimSuffix(s, "医疗机构")
			switch s {
			case "二级", "2级":
				r.MinLevel = 2
			case "三级", "3级":
				r.MinLevel = 3
			default:
				return "限定值域 is not 二级 or 三级"
			}
			return ""
		}}
	specPaymentCourse = drugSpec{batch: "第六批", rule: knowledge.RulePaymentCourse, typeName: "限定支付疗程",
		apply: func(r *knowledge.Restriction, v, _ string) string {
			// Only "N天" is structured: other units would need a convention
			// (a month of 28, 30 or 31 days) the batch does not give.
			s := toHalfWidth(stripSpace(v))
			if !strings.HasSuffix(s, "天") {
				return `限定值域 is not "N天"`
			}
			n, ok := parseCount(strings.TrimSuffix(s, "天"))
			if !ok {
				return `限定值域 is not "N天"`
			}
			r.CourseDays = n
			return ""
		}}
)

func parseGender(v string) (knowledge.Gender, bool) {
	switch stripSpace(v) {
	case "男", "男性":
		return knowledge.GenderMale, true
	case "女", "女性":
		return knowledge.GenderFemale, true
	}
	return "", false
}

func parseAgeBand(v string) (knowledge.AgeBand, bool) {
	switch a := knowledge.AgeBand(stripSpace(v)); a {
	case knowledge.AgeChild, knowledge.AgeInfant, knowledge.AgeNewborn, knowledge.AgeWorkingAge:
		return a, true
	}
	return "", false
}

// sheet1Entry is a Sheet1 row: the restriction template of one generic name.
type sheet1Entry struct {
	row      int // 0-based index in Sheet1 rows
	name     string
	template knowledge.Restriction // rule parameter, description, text
	used     bool
}

// parseDrugSheets joins a drug batch's two sheets into one record per
// Sheet2 product code.
func parseDrugSheets(spec drugSpec, file string, s1, s2 sheet) (parsed, error) {
	t1, err := newTable(knowledge.Source{Batch: spec.batch, File: file, Sheet: s1.name}, s1.rows, drugSheet1Cols)
	if err != nil {
		return parsed{}, err
	}
	t2, err := newTable(knowledge.Source{Batch: spec.batch, File: file, Sheet: s2.name}, s2.rows, drugSheet2Cols)
	if err != nil {
		return parsed{}, err
	}

	byName := make(map[string]*sheet1Entry)
	var entries []*sheet1Entry
	t1.each(d1Name, func(i int) {
		name := t1.text(i, d1Name)
		k := nameKey(name)
		if first, ok := byName[k]; ok {
			t1.warn(i, wDupSheet1, "%s repeats row %d; the first row's restriction is used", name, first.row+1)
			t1.skipped++
			return
		}
		t1.checkType(i, d1Type, spec.typeName)
		e := &sheet1Entry{row: i, name: name}
		e.template.Description = t1.text(i, d1Desc)
		value := t1.text(i, d1Value)
		if problem := spec.apply(&e.template, value, e.template.Description); problem != "" {
			e.template.Text = value
			t1.warn(i, wUnknownValue, "%s: %s %q kept as text", name, problem, value)
		}
		byName[k] = e
		entries = append(entries, e)
	})

	t2.each(d2Code, func(i int) {
		name := t2.text(i, d2Name)
		code := t2.code(i, d2Code, isDrugCode, drugCodeKind)
		t2.checkType(i, d2Type, spec.typeName)
		r := t2.newRestriction(i, spec.rule, code, name)
		e, joined := byName[nameKey(name)]
		if joined {
			tp := e.template
			r.Description, r.Text = tp.Description, tp.Text
			r.Gender, r.AgeBand, r.Insurance = tp.Gender, tp.AgeBand, tp.Insurance
			r.AllowEmergency, r.MinLevel, r.CourseDays = tp.AllowEmergency, tp.MinLevel, tp.CourseDays
		} else {
			// Kept: the code is still restricted by this batch, and an
			// operator can supply the missing Sheet1 row. Without it the
			// record has no parameter, so no rule fires on it.
			t2.warn(i, wNoSheet1Row, "%s (%s) has no Sheet1 row; kept without description and %s value", name, code, spec.typeName)
		}
		// A Sheet1 row counts as joined only through a record that lands: a
		// Sheet2 row dropped as a repeated code must not hide it.
		if first, ok := t2.add(r); !ok {
			t2.warn(i, wDuplicateCode, "%s %s repeats row %d; the first is kept", r.Code, r.Name, first.Source.Row)
		} else if joined {
			e.used = true
		}
	})

	res := t2.result()
	joined := 0
	for _, e := range entries {
		if e.used {
			joined++
		} else {
			t1.warn(e.row, wUnusedSheet1, "%s has no product code on %s", e.name, s2.name)
		}
	}
	res.joined = joined
	res.warnings = append(t1.warnings, res.warnings...)
	return res, nil
}
