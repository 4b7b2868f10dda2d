package importer

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

func TestCleanPDFText(t *testing.T) {
	tests := []struct{ in, want string }{
		// The catalogue's own examples.
		{"限：  1.预防重症患者应激性溃疡出\n血；  2.消化性溃疡出血。", "限：1.预防重症患者应激性溃疡出血；2.消化性溃疡出血。"},
		{"二甲双胍恩格列净片 (Ⅲ)", "二甲双胍恩格列净片(Ⅲ)"},
		{"甘精胰岛素利司那肽注射液\n( Ⅰ)", "甘精胰岛素利司那肽注射液(Ⅰ)"},
		{"补液盐 Ⅰ", "补液盐Ⅰ"},
		{"感冒清热颗粒(片、  胶囊)", "感冒清热颗粒(片、胶囊)"},
		{"益气养血，  润肠通便 。  用于功能性便\n秘证属虚秘者。", "益气养血，润肠通便。用于功能性便秘证属虚秘者。"},
		{"2024年1月1日至\n2025年12月31日", "2024年1月1日至2025年12月31日"},
		{"(磷酸西格列汀50mg (以\nC16H15F6N5O计)", "(磷酸西格列汀50mg(以C16H15F6N5O计)"},
		{"(MSI-\nH)", "(MSI-H)"},
		{"TNF- α <2.5pg/mL", "TNF-α<2.5pg/mL"},
		{"预防⼉童肝脏", "预防儿童肝脏"}, // Kangxi radical ⼉ (U+2F09)
		// Blanks between Latin or digit tokens may be words: kept, one.
		{"费城染色体阳性(Ph+  CML)", "费城染色体阳性(Ph+ CML)"},
		{"AFP≥400 ng/mL", "AFP≥400 ng/mL"},
		{"限：  1. 12岁及以上患者", "限：1. 12岁及以上患者"},
		{"HMG-CoA\nreductase", "HMG-CoA reductase"},
		{" a \u3000b ", "a b"},
		{"\u200b", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := cleanPDFText(tt.in); got != tt.want {
			t.Errorf("cleanPDFText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStructureRestriction(t *testing.T) {
	type cr = knowledge.CatalogueRestriction
	tests := []struct {
		text  string
		want  cr
		notes bool // a recognised phrase was left as text
	}{
		// Children.
		{text: "限儿童。", want: cr{ChildOnly: true}},
		{text: "限头孢菌素耐药或重症感染儿童患者。", want: cr{ChildOnly: true, DiagnosisRestricted: true}},
		{text: "限2岁至11岁儿童慢性便秘。", want: cr{ChildOnly: true, DiagnosisRestricted: true}},
		{text: "限：1.1岁至14岁儿童哮喘的预防和长期治疗；2.2岁至14岁儿童季节性过敏性鼻炎和常年性过敏性鼻炎。",
			want: cr{ChildOnly: true, DiagnosisRestricted: true}},
		{text: "限：1.预防⼉童肝脏或肾脏移植术后的移植物排斥反应；2.治疗⼉童肝脏或肾脏移植术后应用其他免疫抑制药物无法控制的移植物排斥反应。",
			want: cr{ChildOnly: true, DiagnosisRestricted: true}},
		// Adults are paid too: not children only.
		{text: "限儿童甲(A)型血友病；成人甲(A)型血友病限出血时使用。", want: cr{DiagnosisRestricted: true}, notes: true},
		{text: "限成人、青少年和≥2岁儿童的遗传性血管性水肿(HAE)急性发作。", want: cr{DiagnosisRestricted: true}, notes: true},
		{text: "限：1.成人术前镇静/抗焦虑；2.2-6周岁儿童全麻手术前的镇静/抗焦虑。", want: cr{DiagnosisRestricted: true}, notes: true},
		{text: "限6-17岁儿童和青少年的注意缺陷多动障碍(ADHD)。", want: cr{DiagnosisRestricted: true}, notes: true},
		{text: "限儿童，新生儿除外。", want: cr{DiagnosisRestricted: true}, notes: true},
		// The second sentence names children without limiting payment.
		{text: "限法布雷病(α-半乳糖苷酶A缺乏症)患者的长期酶替代治疗，适用于成人、儿童和青少年。尚未确定本品在0-6岁儿童中的安全性和有效性。",
			want: cr{DiagnosisRestricted: true}, notes: true},

		// Encounters.
		{text: "限急诊或住院患者。", want: cr{EmergencyOrInpatient: true}},
		{text: "限急诊和住院患者使用。", want: cr{EmergencyOrInpatient: true}},
		{text: "限住院患者。", want: cr{InpatientOnly: true}},
		{text: "限门诊和住院患者使用。", want: cr{}},
		{text: "限缺血性心脑血管疾病急性期住院患者，支付不超过14天。", want: cr{InpatientOnly: true, CourseDays: 14, DiagnosisRestricted: true}},
		{text: "需经营养风险筛查，明确具有营养风险，且不能经饮食或“肠内营养剂”补充足够营养的住院患者方予支付。",
			want: cr{InpatientOnly: true, DiagnosisRestricted: true}},
		// The second alternative is not limited to inpatients; the course
		// sentence applies to both.
		{text: "限缺血性心脑血管疾病急性期住院患者；限耳部血流及神经障碍患者。支付不超过14天。",
			want: cr{CourseDays: 14, DiagnosisRestricted: true}, notes: true},
		// "单次住院" bounds the course of a stay; it does not forbid outpatient use.
		{text: "限二级及以上医疗机构脑梗死恢复期患者，单次住院最多支付14天。", want: cr{MinLevel: 2, CourseDays: 14, DiagnosisRestricted: true}},

		// Hospital level.
		{text: "限二级及以上医疗机构。", want: cr{MinLevel: 2}},
		{text: "限三级医疗机构。", want: cr{MinLevel: 3}},
		{text: "限二级及以上医疗机构用于规范治疗效果不佳的急性失代偿性心力衰竭短期治疗，单次住院支付不超过3天。",
			want: cr{MinLevel: 2, CourseDays: 3, DiagnosisRestricted: true}},
		// Only the first prescription needs the level.
		{text: "限二甲双胍等口服降糖药或胰岛素控制效果不佳的BMI≥25的患者，首次处方时需由二级及以上医疗机构专科医师开具处方。",
			want: cr{DiagnosisRestricted: true}, notes: true},
		// All conditions apply; the prescriber's hospital is level 3, or a
		// level 2 eye hospital: at least level 2.
		{text: "限：1.50岁以上的湿性年龄相关性黄斑变性(AMD)；2.糖尿病性黄斑水肿(DME)引起的视力损害。应同时符合以下条件：1.需三级综合医院眼科或二级及以上眼科专科医院医师处方；2.首次处方时病眼基线矫正视力0.05-0.5；3.事前审查后方可用，初次申请需有血管造影或OCT(全身情况不允许的患者可以提供OCT血管成像)证据；4.每眼累计最多支付9支，第1年度最多支付5支。阿柏西普、雷珠单抗、康柏西普、法瑞西单抗的药品支数合并计算。",
			want: cr{MinLevel: 2, DiagnosisRestricted: true}},

		// Course.
		{text: "支付不超过10天。", want: cr{CourseDays: 10}},
		{text: "限急性期患者，支付不超过2周。", want: cr{CourseDays: 14, DiagnosisRestricted: true}},
		{text: "限以下情况方可支付，且支付不超过12个月：1.HER2阳性的局部晚期、炎性或早期乳腺癌患者的新辅助治疗；2.具有高复发风险HER2阳性早期乳腺癌患者的辅助治疗。",
			want: cr{CourseDays: 360, DiagnosisRestricted: true}},
		{text: "限：1.HER2阳性的早期乳腺癌患者的辅助和新辅助治疗，支付不超过12个月；2.HER2阳性的转移性乳腺癌。",
			want: cr{DiagnosisRestricted: true}, notes: true},
		{text: "限丙肝、慢性活动性乙肝，连续使用6个月无效时停药，连续使用不超过12个月。", want: cr{DiagnosisRestricted: true}},
		{text: "支付不超过14天。支付不超过三周。", want: cr{CourseDays: 14}, notes: true},

		// Second line.
		{text: "限二线用药。", want: cr{SecondLine: true}},
		{text: "限有十二指肠溃疡、反流性食管炎诊断患者的二线用药。", want: cr{SecondLine: true, DiagnosisRestricted: true}},
		{text: "限：1.肝细胞癌二线治疗；2.转移性结直肠癌三线治疗；3.胃肠道间质瘤三线治疗。", want: cr{SecondLine: true, DiagnosisRestricted: true}},
		{text: "限：1.全身型幼年特发性关节炎的二线治疗；2.限诊断明确的类风湿关节炎经传统DMARDs治疗3-6个月疾病活动度下降低于50%者。",
			want: cr{DiagnosisRestricted: true}, notes: true},
		{text: "限一线治疗失败后的二线治疗。", want: cr{SecondLine: true, DiagnosisRestricted: true}},
		// Prior therapy of the patient, not this drug's line.
		{text: "限既往经过二线及以上化疗的伴有胚系BRCA(gBRCA)突变的复发性晚期卵巢癌、输卵管癌或原发性腹膜癌患者。",
			want: cr{DiagnosisRestricted: true}},
		{text: "限：1.至少经过二线系统化疗的复发或难治性经典型霍奇金淋巴瘤的治疗；2.复发或转移性鼻咽癌的一线治疗。",
			want: cr{DiagnosisRestricted: true}},
		{text: "限已接受二线治疗的患者。", want: cr{DiagnosisRestricted: true}, notes: true},

		// Insurance.
		{text: "限工伤保险。", want: cr{Insurance: "工伤"}},
		{text: "限生育保险。", want: cr{Insurance: "生育"}},
		{text: "限子宫肌瘤患者或生育保险。", want: cr{DiagnosisRestricted: true}, notes: true},

		// ICD-10 codes, rare in the catalogue.
		{text: "限非小细胞肺癌(ICD-10: C34)患者。", want: cr{ICDPrefixes: []string{"C34"}}},
		{text: "限(ICD-10：C34、C78.0)转移性肺癌。", want: cr{ICDPrefixes: []string{"C34", "C78.0"}}},
		{text: "限肺癌(ICD-10：C34)；限儿童。", want: cr{DiagnosisRestricted: true}, notes: true},

		// Conditions in words only, and texts without any limit.
		{text: "限：1.反流性食管炎；2.十二指肠溃疡。", want: cr{DiagnosisRestricted: true}},
		{text: "既往接受含铂化疗治疗失败的复发或转移性宫颈癌患者的治疗。", want: cr{DiagnosisRestricted: true}},
		{text: "限：1.联合内分泌治疗用于早期乳腺癌成人患者的辅助治疗。2.局部晚期或转移性乳腺癌：与芳香化酶抑制剂联合使用。",
			want: cr{DiagnosisRestricted: true}},
		{text: "◇", want: cr{}},
		{text: "益气养血，润肠通便。用于功能性便秘证属虚秘者。", want: cr{}},
		{text: "", want: cr{}},
	}
	for _, tt := range tests {
		got, notes := structureRestriction(tt.text)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("structureRestriction(%q)\n got %+v\nwant %+v", tt.text, got, tt.want)
		}
		if (len(notes) > 0) != tt.notes {
			t.Errorf("structureRestriction(%q): notes %q, want notes: %v", tt.text, notes, tt.notes)
		}
	}
}

func TestListMarker(t *testing.T) {
	s := "限:1.50岁以上;2.0.05-0.5;3.X。应同时符合以下条件:1.Y;10.Z"
	at, end := listMarker(s, 0, 1)
	if at < 0 || !strings.HasPrefix(s[end:], "50岁") {
		t.Fatalf("marker 1 at %d", at)
	}
	at2, end2 := listMarker(s, end, 2)
	if at2 < 0 || !strings.HasPrefix(s[end2:], "0.05") {
		t.Fatalf("marker 2 at %d", at2)
	}
	if at, _ := listMarker(s, end2, 1); at < 0 || !strings.HasPrefix(s[at:], "1.Y") {
		t.Fatalf("second list's marker 1 at %d", at)
	}
	if at, _ := listMarker(s, 0, 0); at >= 0 {
		t.Fatalf("marker 0 at %d", at)
	}
}

func FuzzRestrictionText(f *testing.F) {
	for _, s := range []string{
		// Real remarks as published (more in testdata/fuzz/FuzzRestrictionText).
		"限：  1.预防重症患者应激性溃疡出\n血；  2.消化性溃疡出血。",
		"限二级及以上医疗机构脑梗死恢复期患者，  单次住院最多支付14天。",
		"限缺血性心脑血管疾病急性期住院患者；  限耳部血流及神经障碍患者 。  支付不超过14天。",
		"限以下情况方可支付，  且支付不超过12个月：  1.HER2阳性的局部晚期、  炎性或早期乳腺癌患者的新辅助治疗；  2.具有高复发风险HER2阳性早期乳腺癌患者的辅助治疗。",
		"需经营养风险筛查，  明确具有营养风险，  且不能经饮食或“肠内营养剂”补充足够营养的住院患者方予支付。",
		"限急诊或住院患者。",
		"限儿童甲(A)型血友病；  成人甲(A)型血友病限出血时使用。",
		"限：  1.肝细胞癌二线治疗；  2.转移性结直肠癌三线治疗；  3.胃肠道间质瘤三线治疗。",
		"限工伤保险。",
		"◇",
		"益气养血，  润肠通便 。  用于功能性便\n秘证属虚秘者。",
		// Odd ones.
		"限：1.1.1.；2.",
		"限肺癌(ICD-10:C34、、C78.0/或D1)",
		"支付不超过99999999年",
		"限；；。。1、2、",
		"限儿童\n急诊或住院，需三级医院或二级医院",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, notes := structureRestriction(text)
		r2, notes2 := structureRestriction(text)
		if !reflect.DeepEqual(r, r2) || !slices.Equal(notes, notes2) {
			t.Fatalf("not deterministic: %+v %q / %+v %q", r, notes, r2, notes2)
		}
		// The cleaned text structures the same: cleaning is what the
		// importer does before structuring.
		if r3, _ := structureRestriction(cleanPDFText(text)); !reflect.DeepEqual(r, r3) {
			t.Fatalf("raw %+v, cleaned %+v", r, r3)
		}
		if r.CourseDays < 0 || r.CourseDays > maxCount {
			t.Fatalf("course %d", r.CourseDays)
		}
		if r.MinLevel != 0 && r.MinLevel != 2 && r.MinLevel != 3 {
			t.Fatalf("level %d", r.MinLevel)
		}
		if r.Insurance != "" && r.Insurance != "工伤" && r.Insurance != "生育" {
			t.Fatalf("insurance %q", r.Insurance)
		}
		if r.InpatientOnly && r.EmergencyOrInpatient {
			t.Fatal("both inpatient only and emergency or inpatient")
		}
		if len(r.ICDPrefixes) > 0 && r.DiagnosisRestricted {
			t.Fatal("ICD prefixes and a text-only diagnosis restriction")
		}
		for _, c := range r.ICDPrefixes {
			if !icdCodeRe.MatchString(c) || len(icdCodeRe.FindString(c)) != len(c) {
				t.Fatalf("ICD prefix %q", c)
			}
		}
		if structured(r) && strings.TrimFunc(text, isSpace) == "" {
			t.Fatalf("blank text structured: %+v", r)
		}

		// Cleaning is idempotent and leaves no line break or double blank.
		c := cleanPDFText(text)
		if cleanPDFText(c) != c || strings.ContainsAny(c, "\n\r\u3000") || strings.Contains(c, "  ") || strings.TrimFunc(c, isSpace) != c {
			t.Fatalf("cleanPDFText(%q) = %q", text, c)
		}
	})
}
