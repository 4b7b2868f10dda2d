package importer

import (
	"errors"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

// Hand-made rows the published files could plausibly contain: stray
// blanks, line breaks, full-width characters, reordered or missing columns,
// values nobody anticipated.

type rowCase struct {
	name     string
	parse    func(file string, s sheet) (parsed, error)
	rows     [][]string
	records  int
	warnings map[string]int                                 // category → count
	check    func(t *testing.T, rs []knowledge.Restriction) // optional
	err      []string                                       // substrings of the expected error
}

func drugParser(spec drugSpec, sheet1 [][]string) func(string, sheet) (parsed, error) {
	return func(file string, s sheet) (parsed, error) {
		return parseDrugSheets(spec, file, sheet{name: "Sheet1", rows: sheet1}, s)
	}
}

var genderSheet1 = [][]string{
	{"药品通用名", "药品说明", "限定类型", "限定对象"},
	{"阿帕他胺片", "限转移性激素敏感性前列腺癌(mHSPC)患者。", "限定性别对象", "男"},
	{"艾附暖宫丸", "理气补血，暖宫调经。", "限定性别对象", "女"},
}

func TestRowParsers(t *testing.T) {
	tests := []rowCase{
		{
			name: "drug: blanks, line breaks and full-width spaces in cells and headers",
			parse: drugParser(specDrugGender, [][]string{
				{" 药品\n通用名 ", "药品说明", "限定\r\n类型", "限定对象\u3000"},
				{"\u00a0阿帕他\n胺片\u3000", "限转移性激素敏感性\n前列腺癌患者。", "限定性别对象", " 男 "},
			}),
			rows: [][]string{
				{"药品通用名", "序号", "药品\n代码", "限定类型"},
				{"阿帕他胺片 ", "1", " XL02BBA326A001010102180\n", "限定性别对象"},
				{"阿帕他\n胺片", "2", "XL02BBA326A0010101 78537", "限定性别对象"},
			},
			records:  2,
			warnings: map[string]int{wCodeNormalised: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				for _, r := range rs {
					if r.Name != "阿帕他胺片" || r.Gender != knowledge.GenderMale || r.Description != "限转移性激素敏感性前列腺癌患者。" {
						t.Errorf("%+v", r)
					}
				}
				if rs[1].Code != "XL02BBA326A001010178537" {
					t.Errorf("code %q", rs[1].Code)
				}
			},
		},
		{
			name: "drug: reordered columns",
			parse: drugParser(specDrugGender, [][]string{
				{"限定对象", "药品通用名", "限定类型", "药品说明"},
				{"女", "艾附暖宫丸", "限定性别对象", "理气补血，暖宫调经。"},
			}),
			rows: [][]string{
				{"药品代码", "限定类型", "序号", "药品通用名"},
				{"ZD03AAA0043010100166", "限定性别对象", "1", "艾附暖宫丸"},
			},
			records: 1,
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].Gender != knowledge.GenderFemale || rs[0].Code != "ZD03AAA0043010100166" || rs[0].Description == "" {
					t.Errorf("%+v", rs[0])
				}
			},
		},
		{
			name:  "drug: Sheet2 name without Sheet1 row, unused Sheet1 row, malformed and repeated codes, empty rows",
			parse: drugParser(specDrugGender, genderSheet1),
			rows: [][]string{
				{"药品通用名", "序号", "药品代码", "限定类型"},
				{"阿帕他胺片", "1", "XL02BBA326A001010102180", "限定性别对象"},
				{"", "", "", ""},
				{},
				{"阿帕他胺片", "2", "xl02bba326a001010102181", "限定性别对象"},
				{"阿帕他胺片", "3", "XL02BBA326A001010102180", "限定性别对象"},
				{"不存在的药", "1", "ZA04CAE0023010100166", "限定年龄对象"},
				{"阿帕他胺片", "4", "", "限定性别对象"},
			},
			records: 3,
			warnings: map[string]int{
				wEmptyRow: 1, wBadCode: 1, wDuplicateCode: 1, wNoSheet1Row: 1, wTypeMismatch: 1,
				wNoCode: 1, wUnusedSheet1: 1,
			},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[2].Name != "不存在的药" || rs[2].Gender != "" || rs[2].Description != "" {
					t.Errorf("unjoined record %+v", rs[2])
				}
			},
		},
		{
			name:     "drug: unknown 限定对象 kept as text",
			parse:    drugParser(specDrugGender, [][]string{{"药品通用名", "限定对象"}, {"甲", "男女"}}),
			rows:     [][]string{{"药品通用名", "药品代码"}, {"甲", "XL02BBA326A001010102180"}},
			records:  1,
			warnings: map[string]int{wUnknownValue: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].Gender != "" || rs[0].Text != "男女" {
					t.Errorf("%+v", rs[0])
				}
			},
		},
		{
			name: "drug: payment course N天 only",
			parse: drugParser(specPaymentCourse, [][]string{
				{"药品通用名", "药品说明", "限定类型", "限定值域"},
				{"甲", "支付不超过14天。", "限定支付疗程", "１４ 天"},
				{"乙", "", "限定支付疗程", "3个月"},
				{"丙", "", "限定支付疗程", "abc天"},
			}),
			rows: [][]string{
				{"药品通用名", "序号", "国标代码", "限定类型"},
				{"甲", "1", "XB01AXA223B004010180963", "限定支付疗程"},
				{"乙", "1", "XB01AXA223B004010180964", "限定支付疗程"},
				{"丙", "1", "XB01AXA223B004010180965", "限定支付疗程"},
			},
			records:  3,
			warnings: map[string]int{wUnknownValue: 2},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].CourseDays != 14 || rs[1].CourseDays != 0 || rs[1].Text != "3个月" || rs[2].Text != "abc天" {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name: "drug: levels and emergency",
			parse: drugParser(specHospitalLevel, [][]string{
				{"药品通用名", "药品说明", "限定值域"},
				{"甲", "限二级及以上医疗机构。", "二级"}, {"乙", "", "三级"}, {"丙", "", "一级"},
			}),
			rows: [][]string{
				{"药品通用名", "国标代码"},
				{"甲", "ZC01AAA0042010105549"}, {"乙", "ZC01AAA0042010105548"}, {"丙", "ZC01AAA0042010105547"},
			},
			records:  3,
			warnings: map[string]int{wUnknownValue: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].MinLevel != 2 || rs[1].MinLevel != 3 || rs[2].MinLevel != 0 || rs[2].Text != "一级" {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name:  "drug: missing column names the column",
			parse: drugParser(specDrugGender, genderSheet1),
			rows:  [][]string{{"药品通用名", "序号", "限定类型"}, {"阿帕他胺片", "1", "限定性别对象"}},
			err:   []string{"f.xlsx", "[Sheet2]", "row 1", "missing column", "药品代码"},
		},
		{
			name:  "drug: missing Sheet1 column",
			parse: drugParser(specDrugGender, [][]string{{"药品通用名", "药品说明"}}),
			rows:  [][]string{{"药品通用名", "药品代码"}},
			err:   []string{"[Sheet1]", "missing column", "限定对象"},
		},
		{
			name:  "header below a title row",
			parse: parseItemGender,
			rows: [][]string{
				{"第一批 项目 限定性别对象"},
				{},
				{"项目名称", "项目说明", "国标代码", "限定类型", "限定性别"},
				{"子宫造影", "女性泌尿生殖系统相关检查", "002101030300000", "限定性别对象", "女"},
			},
			records: 1,
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].Source.Row != 4 || rs[0].Gender != knowledge.GenderFemale {
					t.Errorf("%+v", rs[0])
				}
			},
		},
		{
			name:  "item gender: malformed codes kept",
			parse: parseItemGender,
			rows: [][]string{
				{"项目名称", "国标代码", "限定性别"},
				{"子宫造影", "2101030300000", "女"},       // leading zeros lost to a number format
				{"输精管造影", "00210103029000０", "男"},    // full-width digit
				{"阴茎海绵体造影", "002101030280000", "未知"}, // unknown gender
			},
			records:  3,
			warnings: map[string]int{wBadCode: 1, wCodeNormalised: 1, wUnknownValue: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].Code != "2101030300000" || rs[1].Code != "002101030290000" || rs[2].Text != "未知" {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name:  "surgery: same group repeat and cross-group listing",
			parse: parseSurgeryGroups,
			rows: [][]string{
				{"项目名称", "项目说明", "国标代码", "限定类型", "限定值域"},
				{"阑尾切除术", "", "003310030220000", "限定主次操作", "胃肠手术组"},
				{"阑尾切除术", "", "003310030220000", "限定主次操作", "胃肠手术组"},
				{"阑尾切除术", "", "003310030220000", "限定主次操作", "经腹直肠手术组"},
			},
			records:  1,
			warnings: map[string]int{wDuplicateCode: 1, wMultiGroup: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if strings.Join(rs[0].Groups, ",") != "胃肠手术组,经腹直肠手术组" {
					t.Errorf("groups %v", rs[0].Groups)
				}
			},
		},
		{
			name:  "duplicate charge: unknown and variant 频度, key collision",
			parse: parseDuplicateCharge,
			rows: [][]string{
				{"从项编码", "从项名称", "主项编码", "主项名称", "频度", "序号"}, // reordered, 备注 absent
				{"001102000030000", "急诊诊查费", "001103000010000", "急诊监护费", "６ 小时", "1"},
				{"001102000030000", "急诊诊查费", "001103000010000", "急诊监护费", "同一周", "2"},
				{"001102000030000", "急诊诊查费", "001103000010000", "急诊监护费", "同一月", "3"},
				{"001102000030000", "急诊诊查费", "001103000010000", "急诊监护费", " 6小时\n", "4"},
				{"001102000030000", "急诊诊查费", "", "急诊监护费", "单日", "5"},
			},
			// Two unknown windows both become window "", so 同一月
			// collides with 同一周: keys must stay unique.
			records:  3,
			warnings: map[string]int{wUnknownWindow: 2, wDuplicateKey: 2, wBadCode: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].Window != knowledge.WindowSixHours || rs[1].Window != "" || rs[1].Text != "同一周" {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name:  "duplicate charge: missing column",
			parse: parseDuplicateCharge,
			rows:  [][]string{{"序号", "频度", "主项名称", "主项编码", "从项名称"}},
			err:   []string{"missing column", "从项编码"},
		},
		{
			name:  "frequency: bad numbers and units, footers",
			parse: parseItemFrequency,
			rows: [][]string{
				{"序号", "项目名称", "限制\n数量", "数量单位", "项目编码"},
				{"1", "住院诊查费", "1", "日", "001102000050000"},
				{"2", "心电监测", "２４", "小时", "003107010220000"},
				{"3", "硬膜外连续镇痛", "一", "天", "003301000100000"},
				{"4", "甲", "两次", "日", "003301000100001"},
				{"5", "乙", "-1", "日", "003301000100002"},
				{"6", "丙", "2", "次", "003301000100003"},
				{"合计"},
				{"备注：各省级医保部门应当进行细化和本地化。"},
			},
			records:  6,
			warnings: map[string]int{wBadNumber: 2, wUnknownUnit: 1, wFooterRow: 2},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[1].DailyLimit != 24 || rs[2].DailyLimit != 1 || rs[3].Text != "两次" || rs[3].DailyLimit != 0 ||
					rs[5].DailyLimit != 0 || rs[5].Text != "2次" {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name:  "working age: no band named",
			parse: parseWorkingAgeItems,
			rows: [][]string{
				{"序号", "项目名称", "备注", "项目代码"},
				{"1", "职业功能训练", "参保人年龄超出法定\n就业年龄限制", "003402000320000"},
				{"2", "某训练", "限老年人", "003402000320001"},
			},
			records:  2,
			warnings: map[string]int{wUnstructured: 1},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].AgeBand != knowledge.AgeWorkingAge || rs[1].AgeBand != "" || rs[1].Text != "限老年人" {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name:  "course: structured, partly structured, unstructured",
			parse: parseItemCourse,
			rows: [][]string{
				{"序号", "项目名称", "备注", "项目代码"},
				{"1", "手功能评定", "总时间不超过90天，评定间隔时间不短于14天。", "003402000050000"},
				{"2", "儿童听力障碍语言训练", "支付不超过一年，每周最多支付一次。", "003402000350000"},
				{"3", "甲", "按需支付", "003402000350001"},
				{"4", "乙", "支付不超过三个月，间隔不少于2周", "003402000350002"},
			},
			records:  4,
			warnings: map[string]int{wUnstructured: 2},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].CourseDays != 90 || rs[0].IntervalDays != 14 || rs[1].CourseDays != 365 || rs[1].Text != "每周最多支付一次" ||
					rs[2].Text != "按需支付" || rs[3].CourseDays != 90 || rs[3].IntervalDays != 14 {
					t.Errorf("%+v", rs)
				}
				for _, r := range rs {
					if r.Description == "" {
						t.Errorf("no description: %+v", r)
					}
				}
			},
		},
		{
			name:  "period frequency: bad numbers keep both as text",
			parse: parseItemPeriodFrequency,
			rows: [][]string{
				{"序号", "项目名称", "频次上限", "疗程周期", "备注", "项目代码"},
				{"1", "血清果糖胺测定", "1", "7", "诊疗规范", "002503020020000"},
				{"2", "糖化血红蛋白测定", "1次", "15天", "", "002503020030000"},
				{"3", "平衡试验", "1", "两周左右", "", "003104010220000"},
				{"4", "手功能评定", "", "14", "", "003402000050000"},
			},
			records:  4,
			warnings: map[string]int{wBadNumber: 2},
			check: func(t *testing.T, rs []knowledge.Restriction) {
				if rs[0].PeriodCount != 1 || rs[0].PeriodDays != 7 || rs[0].Description != "诊疗规范" ||
					rs[1].PeriodCount != 1 || rs[1].PeriodDays != 15 ||
					rs[2].PeriodCount != 0 || rs[2].PeriodDays != 0 || !strings.Contains(rs[2].Text, "两周左右") ||
					rs[3].PeriodDays != 0 || !strings.Contains(rs[3].Text, "疗程周期: 14") {
					t.Errorf("%+v", rs)
				}
			},
		},
		{
			name:  "only a header",
			parse: parseItemPeriodFrequency,
			rows:  [][]string{{"序号", "项目名称", "频次上限", "疗程周期", "备注", "项目代码"}},
		},
		{
			name:  "no rows at all",
			parse: parseItemCourse,
			rows:  nil,
			err:   []string{"f.xlsx", "row 1", "no header row"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.parse("f.xlsx", sheet{name: "Sheet2", rows: tt.rows})
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatalf("no error; got %d records", len(res.restrictions))
				}
				for _, w := range tt.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				if !errors.Is(err, errMissingColumn) && !errors.Is(err, errNoHeader) {
					t.Errorf("error %v wraps neither errMissingColumn nor errNoHeader", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.restrictions) != tt.records {
				t.Errorf("%d records, want %d: %+v", len(res.restrictions), tt.records, res.restrictions)
			}
			got := map[string]int{}
			for _, w := range res.warnings {
				got[warningCategory(w.Message)]++
			}
			want := tt.warnings
			if want == nil {
				want = map[string]int{}
			}
			if !mapsEqual(got, want) {
				t.Errorf("warnings %v, want %v", got, want)
				for _, w := range res.warnings {
					t.Logf("  %s %s", w.Source, w.Message)
				}
			}
			if res.sourceRows != len(res.restrictions)+res.skipped {
				t.Errorf("rows %d != records %d + skipped %d", res.sourceRows, len(res.restrictions), res.skipped)
			}
			if tt.check != nil && len(res.restrictions) == tt.records {
				tt.check(t, res.restrictions)
			}
		})
	}
}

func TestDemoParsersOddRows(t *testing.T) {
	drugs, res, err := parseDemoDrugs("drugs.csv", [][]string{
		{"\ufeffcode", "generic_name", "class", "indication_icd_prefixes", "second_line"},
		{"XB01AAD9001A00101019990", "华法林", "甲", "", ""},
		{"XA02BCD9025A00101019992", "艾普拉唑", "乙", "K26；K21; ;k2x", "YES"},
		{"XA02BCD9025A00101019992", "重复", "丙", "", "maybe"},
		{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(drugs) != 2 || !drugs[1].SecondLine || strings.Join(drugs[1].IndicationICD, ",") != "K26,K21,k2x" {
		t.Errorf("%+v", drugs)
	}
	cats := map[string]int{}
	for _, w := range res.warnings {
		cats[warningCategory(w.Message)]++
	}
	if !mapsEqual(cats, map[string]int{wBadCode: 1, wUnknownValue: 2, wDuplicateCode: 1, wEmptyRow: 1}) {
		t.Errorf("warnings %v", res.warnings)
	}
	if res.sourceRows != len(drugs)+res.skipped {
		t.Errorf("rows %d, records %d, skipped %d", res.sourceRows, len(drugs), res.skipped)
	}

	events, res, err := parseDemoPhysicianEvents("physician-events.csv", [][]string{
		{"seq", "physician_code", "type", "date", "points", "until", "reason"},
		{"1", "D1", "POINTS_ADDED", "2026-01-01", "3", "", "x"},
		{"x", "D1", "POINTS_ADDED", "2026-01-01", "3", "", "bad seq"},
		{"2", "D1", "SUSPENDED", "2026/01/01", "", "2026-13-01", ""},
		{"3", "D1", "FIRED", "2026-01-01", "99", "", ""},
		{"1", "D1", "RESTORED", "2026-01-01", "", "", "repeat"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cats = map[string]int{}
	for _, w := range res.warnings {
		cats[warningCategory(w.Message)]++
	}
	if len(events) != 3 || !mapsEqual(cats, map[string]int{wBadNumber: 2, wBadDate: 2, wUnknownValue: 1, wDuplicateKey: 1}) {
		t.Errorf("%d events, warnings %v", len(events), res.warnings)
	}
	if w := checkEventPhysicians(events, []knowledge.PhysicianRecord{{Code: "D2"}}); len(w) != 3 {
		t.Errorf("registry check: %v", w)
	}

	cats2, res, err := parseICDCategories("icd10-categories.tsv", [][]string{
		{"code", "disease"}, {"A17+", "神经系统的结核"}, {"G01*", "脑膜炎"}, {"A1", "坏"}, {"A17", "重复"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cats2) != 3 || cats2[0].Code != "A17" || cats2[1].Code != "G01" || len(res.warnings) != 2 {
		t.Errorf("%+v %v", cats2, res.warnings)
	}

	blocks, res, err := parseICDBlocks("icd10-blocks.tsv", [][]string{
		{"code_lower_bound", "code_upper_bound", "level", "catalog"},
		{"A00", "B99", "1", "某些传染病和寄生虫病"}, {"B99", "A00", "2", "反了"}, {"A00", "A09", "三", "坏"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 3 || blocks[2].Level != 0 || len(res.warnings) != 2 {
		t.Errorf("%+v %v", blocks, res.warnings)
	}
}
