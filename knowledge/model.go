// Package knowledge holds the model of the insurance bureau's knowledge and
// rule base (两库) as rxguard stores it: typed records grouped in classes,
// bundled into immutable, versioned releases.
package knowledge

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rxguard/rxguard/internal/yield"
)

// RuleType names a built-in rule type (docs/rules.md). Values are the
// contract strings that appear in Finding.rule_type.
type RuleType string

const (
	RuleDrugGender          RuleType = "DRUG_GENDER"
	RuleItemGender          RuleType = "ITEM_GENDER"
	RuleDrugAge             RuleType = "DRUG_AGE"
	RuleItemAge             RuleType = "ITEM_AGE"
	RuleInsuranceType       RuleType = "INSURANCE_TYPE"
	RuleEncounterType       RuleType = "ENCOUNTER_TYPE"
	RuleHospitalLevel       RuleType = "HOSPITAL_LEVEL"
	RulePaymentCourse       RuleType = "PAYMENT_COURSE"
	RuleItemFrequency       RuleType = "ITEM_FREQUENCY"
	RuleItemPeriodFrequency RuleType = "ITEM_PERIOD_FREQUENCY"
	RuleItemCourse          RuleType = "ITEM_COURSE"
	RuleDuplicateCharge     RuleType = "DUPLICATE_CHARGE"
	RuleSurgeryGroup        RuleType = "SURGERY_GROUP"

	// Catalogue, policy and clinical rule types: bound to drug records,
	// interaction pairs and diagnoses rather than to batch restrictions.
	RuleUnknownItem      RuleType = "UNKNOWN_ITEM"
	RuleNotCovered       RuleType = "NOT_COVERED"
	RuleDrugIndication   RuleType = "DRUG_INDICATION"
	RuleSecondLine       RuleType = "SECOND_LINE"
	RuleQuantityLimit    RuleType = "QUANTITY_LIMIT"
	RuleDrugInteraction  RuleType = "DRUG_INTERACTION"
	RuleDuplicateTherapy RuleType = "DUPLICATE_THERAPY"
	RuleDiagnosisGender  RuleType = "DIAGNOSIS_GENDER"

	RulePhysicianQualification RuleType = "PHYSICIAN_QUALIFICATION"

	// Encounter-level rules and repeat examinations (RULES.md).
	RuleReadmission          RuleType = "READMISSION"
	RuleLowStandardAdmission RuleType = "LOW_STANDARD_ADMISSION"
	RuleRepeatExam           RuleType = "REPEAT_EXAM"
)

// Gender restriction of a drug or item.
type Gender string

const (
	GenderMale   Gender = "男"
	GenderFemale Gender = "女"
)

// AgeBand is a 年龄对象 of the batches.
type AgeBand string

const (
	AgeChild      AgeBand = "儿童"     // under 18 years
	AgeInfant     AgeBand = "婴幼儿"    // under 3 years
	AgeNewborn    AgeBand = "新生儿"    // 28 days old or younger
	AgeWorkingAge AgeBand = "法定就业年龄" // 16 up to 60
)

// Window is the 频度 of a duplicate-charge pair: the span in which the
// 从项 may not be charged beside the 主项.
type Window string

const (
	WindowSameDay       Window = "单日"
	WindowSameEncounter Window = "单次就诊"
	WindowSixHours      Window = "6小时"
	WindowSameHour      Window = "同一小时"
)

// Source says where a record came from, down to the row, so a physician or
// hospital IT can find it in the published file.
type Source struct {
	Batch string `json:"batch"`           // e.g. "第一批"
	File  string `json:"file"`            // file name as published
	Sheet string `json:"sheet,omitempty"` // sheet name
	Row   int    `json:"row,omitempty"`   // 1-based spreadsheet row
}

func (s Source) String() string {
	var b strings.Builder
	b.Grow(s.TextLen())
	s.WriteText(&b)
	return b.String()
}

// WriteText writes the text String returns to b: "第一批 file.xlsx [Sheet1]
// 第12行", each part only when set.
func (s Source) WriteText(b *strings.Builder) {
	b.WriteString(s.Batch)
	if s.File != "" {
		b.WriteString(" ")
		b.WriteString(s.File)
	}
	if s.Sheet != "" {
		b.WriteString(" [")
		b.WriteString(s.Sheet)
		b.WriteString("]")
	}
	if s.Row > 0 {
		var num [20]byte
		b.WriteString(" 第")
		b.Write(strconv.AppendInt(num[:0], int64(s.Row), 10))
		b.WriteString("行")
	}
}

// TextLen bounds the length of String's text from above (exactly, but for
// the row's digits, counted as 20).
func (s Source) TextLen() int {
	n := len(s.Batch) + len(" ") + len(s.File) + len(" []") + len(s.Sheet)
	if s.Row > 0 {
		n += len(" 第行") + 20
	}
	return n
}

// Restriction is one piece of rule knowledge bound to one national code: a
// row of a batch (or one product code of a batch's Sheet2 joined with its
// Sheet1 description). Only the parameter fields of its Type are set.
type Restriction struct {
	Type        RuleType `json:"type"`
	Code        string   `json:"code"`                  // national code the rule is indexed on
	Name        string   `json:"name"`                  // 药品通用名 / 项目名称
	Description string   `json:"description,omitempty"` // 药品说明 / 项目说明 / 备注, as published (trimmed)
	Source      Source   `json:"source"`

	Gender         Gender   `json:"gender,omitempty"`          // *_GENDER: the only gender paid for
	AgeBand        AgeBand  `json:"age_band,omitempty"`        // *_AGE
	Insurance      string   `json:"insurance,omitempty"`       // INSURANCE_TYPE: 工伤 or 生育
	AllowEmergency bool     `json:"allow_emergency,omitempty"` // ENCOUNTER_TYPE: description names 急诊
	MinLevel       int      `json:"min_level,omitempty"`       // HOSPITAL_LEVEL: 2 or 3
	CourseDays     int      `json:"course_days,omitempty"`     // PAYMENT_COURSE, ITEM_COURSE: payable days
	IntervalDays   int      `json:"interval_days,omitempty"`   // ITEM_COURSE: minimum days between two
	DailyLimit     float64  `json:"daily_limit,omitempty"`     // ITEM_FREQUENCY: quantity per calendar day
	Unit           string   `json:"unit,omitempty"`            // ITEM_FREQUENCY: 数量单位 as published
	PeriodCount    int      `json:"period_count,omitempty"`    // ITEM_PERIOD_FREQUENCY: 频次上限
	PeriodDays     int      `json:"period_days,omitempty"`     // ITEM_PERIOD_FREQUENCY: 疗程周期
	Groups         []string `json:"groups,omitempty"`          // SURGERY_GROUP: 手术组 (the batch lists some items in several)

	// DUPLICATE_CHARGE: Code/Name are the 从项 (the finding lands on it);
	// the 主项 that already includes it is here.
	PrimaryCode string `json:"primary_code,omitempty"`
	PrimaryName string `json:"primary_name,omitempty"`
	Window      Window `json:"window,omitempty"`

	// Text is what the batch says only in words and rxguard could not
	// structure; it is shown to the physician, never guessed from.
	Text string `json:"text,omitempty"`
}

// Key identifies the restriction within its class; a release holds one
// restriction per key.
func (r *Restriction) Key() string {
	if r.Type == RuleDuplicateCharge {
		return string(r.Type) + "/" + r.Code + "/" + r.PrimaryCode + "/" + string(r.Window)
	}
	return string(r.Type) + "/" + r.Code
}

// Drug is a drug known to the release (national catalogue or demo table).
type Drug struct {
	Code            string   `json:"code"`
	GenericName     string   `json:"generic_name"`
	DosageForm      string   `json:"dosage_form,omitempty"`
	Class           string   `json:"class,omitempty"` // 甲 / 乙; empty = not in the catalogue
	RestrictionText string   `json:"restriction_text,omitempty"`
	IndicationICD   []string `json:"indication_icd,omitempty"` // ICD-10 prefixes
	SecondLine      bool     `json:"second_line,omitempty"`
	Source          Source   `json:"source"`
}

// CatalogueDrug is one drug entry of the national basic medical insurance
// drug catalogue (国家医保药品目录, 2024) as published: the catalogue lists
// categories (药品分类代码 such as XJ01MA), not product codes, so an entry
// is bound to order lines through its category and generic name.
type CatalogueDrug struct {
	Sheet        string `json:"sheet"`               // 西药部分, 中成药部分, 协议西药, 协议中成药, 竞价药品部分
	Category     string `json:"category"`            // deepest 药品分类代码 above the row, e.g. XJ01MA
	CategoryName string `json:"category_name"`       // its 药品分类
	Class        string `json:"class"`               // 甲 / 乙 (empty if the row has none: not covered)
	Number       string `json:"number"`              // 编号 as published ("119", "★(165)")
	RepeatOf     string `json:"repeat_of,omitempty"` // for ★(n) rows: n, the entry this is another form of
	Name         string `json:"name"`                // 药品名称, artefacts removed
	DosageForm   string `json:"dosage_form,omitempty"`
	// Remark is the 备注 (限定支付范围) with PDF-extraction artefacts removed;
	// RawRemark is the cell as published.
	Remark          string `json:"remark,omitempty"`
	RawRemark       string `json:"raw_remark,omitempty"`
	PaymentStandard string `json:"payment_standard,omitempty"` // 医保支付标准 (negotiated/bid sheets)
	ValidPeriod     string `json:"valid_period,omitempty"`     // 协议有效期 / 支付标准有效期
	// Structured is what rxguard could read out of Remark; whatever it
	// could not stays in Remark and is shown, never guessed from.
	Structured CatalogueRestriction `json:"structured,omitempty"`
	Source     Source               `json:"source"`
}

// CatalogueRestriction is the structured part of a 限定支付范围 text.
type CatalogueRestriction struct {
	ChildOnly            bool     `json:"child_only,omitempty"`             // 限儿童
	InpatientOnly        bool     `json:"inpatient_only,omitempty"`         // 限住院
	EmergencyOrInpatient bool     `json:"emergency_or_inpatient,omitempty"` // 限急诊或住院
	MinLevel             int      `json:"min_level,omitempty"`              // 限二级及以上医疗机构 → 2, 三级 → 3
	CourseDays           int      `json:"course_days,omitempty"`            // 支付不超过N天
	SecondLine           bool     `json:"second_line,omitempty"`            // 二线
	Insurance            string   `json:"insurance,omitempty"`              // 工伤 / 生育
	ICDPrefixes          []string `json:"icd_prefixes,omitempty"`           // diagnosis restriction with ICD-10 prefixes
	// DiagnosisRestricted: the text limits payment to diagnoses/conditions
	// (限…患者, 限…的治疗) but names no ICD code: kept as text.
	DiagnosisRestricted bool `json:"diagnosis_restricted,omitempty"`
}

// Key identifies a catalogue entry: sheet, category, name and dosage form
// (the same name recurs across forms and sheets).
func (d *CatalogueDrug) Key() string {
	return d.Sheet + "/" + d.Category + "/" + d.Name + "/" + d.DosageForm
}

// Interaction is a 配伍禁忌 pair by generic name.
type Interaction struct {
	DrugA    string `json:"drug_a"`
	DrugB    string `json:"drug_b"`
	Severity string `json:"severity"` // 禁忌 or 慎用
	Reason   string `json:"reason"`
	Source   Source `json:"source"`
}

// RecognitionItem is one examination or test on the mutual-recognition
// list (检查检验结果互认): a result of the same item within WindowDays is
// to be viewed and recognised rather than repeated (REPEAT_EXAM).
type RecognitionItem struct {
	Code       string `json:"code"` // national service-item code
	Name       string `json:"name"`
	WindowDays int    `json:"window_days"`
	Scope      string `json:"scope"` // e.g. 医联体内互认, 市内互认, 省内互认
	Source     Source `json:"source"`
}

// OutpatientCondition is an ICD-10 prefix of a condition normally treated
// as an outpatient (LOW_STANDARD_ADMISSION).
type OutpatientCondition struct {
	Prefix string `json:"prefix"`
	Name   string `json:"name"`
	Source Source `json:"source"`
}

// ChronicDiagnosis is an ICD-10 prefix treated as chronic for the outpatient
// 30-day supply limit.
type ChronicDiagnosis struct {
	Prefix string `json:"prefix"`
	Name   string `json:"name"`
	Source Source `json:"source"`
}

// DiagnosisCategory is a three-character ICD-10 category.
type DiagnosisCategory struct {
	Code   string `json:"code"`
	Name   string `json:"name"`
	Source Source `json:"source"`
}

// DiagnosisBlock is an ICD-10 chapter (level 1) or block (level 2) range.
type DiagnosisBlock struct {
	Lower  string `json:"lower"`
	Upper  string `json:"upper"`
	Level  int    `json:"level"`
	Name   string `json:"name"`
	Source Source `json:"source"`
}

// PhysicianRecord is one 医保医师 of the registry.
type PhysicianRecord struct {
	Code           string `json:"code"`
	Name           string `json:"name"`
	Title          string `json:"title"` // TITLE_* enum name
	DepartmentCode string `json:"department_code"`
	Source         Source `json:"source"`
}

// PhysicianEvent is one entry of the bureau's qualification event feed.
type PhysicianEvent struct {
	Seq           int64  `json:"seq"`
	PhysicianCode string `json:"physician_code"`
	Type          string `json:"type"` // POINTS_ADDED, POINTS_REDUCED, SUSPENDED, TERMINATED, RESTORED
	Date          string `json:"date"` // YYYY-MM-DD
	Points        int    `json:"points,omitempty"`
	Until         string `json:"until,omitempty"` // YYYY-MM-DD
	Reason        string `json:"reason,omitempty"`
	Source        Source `json:"source"`
}

// ImportWarning records a row the importer kept but could not fully
// structure (or had to normalise); nothing is dropped silently.
type ImportWarning struct {
	Source  Source `json:"source"`
	Message string `json:"message"`
}

// Content is everything a release holds. Importers fill it; the store
// persists it as records; the engine compiles an index from it.
type Content struct {
	Restrictions         []Restriction         `json:"restrictions,omitempty"`
	Drugs                []Drug                `json:"drugs,omitempty"`
	Catalogue            []CatalogueDrug       `json:"catalogue,omitempty"`
	Interactions         []Interaction         `json:"interactions,omitempty"`
	ChronicDiagnoses     []ChronicDiagnosis    `json:"chronic_diagnoses,omitempty"`
	DiagnosisCategories  []DiagnosisCategory   `json:"diagnosis_categories,omitempty"`
	DiagnosisBlocks      []DiagnosisBlock      `json:"diagnosis_blocks,omitempty"`
	Physicians           []PhysicianRecord     `json:"physicians,omitempty"`
	PhysicianEvents      []PhysicianEvent      `json:"physician_events,omitempty"`
	Recognition          []RecognitionItem     `json:"recognition,omitempty"`
	OutpatientConditions []OutpatientCondition `json:"outpatient_conditions,omitempty"`
	Warnings             []ImportWarning       `json:"warnings,omitempty"`
}

// Class names a kind of record in the store.
type Class string

const (
	ClassRestriction         Class = "restriction"
	ClassDrug                Class = "drug"
	ClassCatalogueDrug       Class = "catalogue_drug"
	ClassInteraction         Class = "interaction"
	ClassChronicDiagnosis    Class = "chronic_diagnosis"
	ClassDiagnosisCategory   Class = "diagnosis_category"
	ClassDiagnosisBlock      Class = "diagnosis_block"
	ClassPhysician           Class = "physician"
	ClassPhysicianEvent      Class = "physician_event"
	ClassWarning             Class = "import_warning"
	ClassRecognitionItem     Class = "recognition_item"
	ClassOutpatientCondition Class = "outpatient_condition"
)

// Record is the unit the store persists: a class, a key unique in the
// class, and the JSON encoding of the typed value.
type Record struct {
	Class Class
	Key   string
	Value []byte
}

// Records flattens content into records sorted by (class, key). Two records
// with the same class and key are an error: a release holds one value per key.
func (c *Content) Records() ([]Record, error) {
	var out []Record
	add := func(class Class, key string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode %s %s: %w", class, key, err)
		}
		out = append(out, Record{Class: class, Key: key, Value: b})
		return nil
	}
	for i := range c.Restrictions {
		if err := add(ClassRestriction, c.Restrictions[i].Key(), &c.Restrictions[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.Drugs {
		if err := add(ClassDrug, c.Drugs[i].Code, &c.Drugs[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.Catalogue {
		if err := add(ClassCatalogueDrug, c.Catalogue[i].Key(), &c.Catalogue[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.Interactions {
		it := &c.Interactions[i]
		if err := add(ClassInteraction, pairKey(it.DrugA, it.DrugB), it); err != nil {
			return nil, err
		}
	}
	for i := range c.ChronicDiagnoses {
		if err := add(ClassChronicDiagnosis, c.ChronicDiagnoses[i].Prefix, &c.ChronicDiagnoses[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.DiagnosisCategories {
		if err := add(ClassDiagnosisCategory, c.DiagnosisCategories[i].Code, &c.DiagnosisCategories[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.DiagnosisBlocks {
		b := &c.DiagnosisBlocks[i]
		if err := add(ClassDiagnosisBlock, fmt.Sprintf("%d/%s-%s", b.Level, b.Lower, b.Upper), b); err != nil {
			return nil, err
		}
	}
	for i := range c.Physicians {
		if err := add(ClassPhysician, c.Physicians[i].Code, &c.Physicians[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.PhysicianEvents {
		if err := add(ClassPhysicianEvent, fmt.Sprintf("%012d", c.PhysicianEvents[i].Seq), &c.PhysicianEvents[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.Recognition {
		if err := add(ClassRecognitionItem, c.Recognition[i].Code, &c.Recognition[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.OutpatientConditions {
		if err := add(ClassOutpatientCondition, c.OutpatientConditions[i].Prefix, &c.OutpatientConditions[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.Warnings {
		if err := add(ClassWarning, fmt.Sprintf("%06d", i), &c.Warnings[i]); err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Key < out[j].Key
	})
	for i := 1; i < len(out); i++ {
		if out[i].Class == out[i-1].Class && out[i].Key == out[i-1].Key {
			return nil, fmt.Errorf("duplicate %s record %q", out[i].Class, out[i].Key)
		}
	}
	return out, nil
}

func pairKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + "+" + b
}

// ContentFromRecords decodes records (any order) back into content. Each
// value is decoded exactly as json.Unmarshal would (decode.go: a hand-written
// fast path for our own encoding, json.Unmarshal for anything else); the
// slices are sized from a first count so none grows, and repeated strings
// share one copy.
func ContentFromRecords(records []Record) (*Content, error) {
	c, _, err := decodeContent(records, false)
	return c, err
}

// ContentFromOwnedRecords is ContentFromRecords for records the caller
// hands over (it must not use them afterwards): each record is cleared
// once decoded, so the values it read from the store (177 MB for the
// seeds' 767,000 records) become garbage while the content grows, instead
// of both being live at once — what keeps a sidecar's start under its
// GOMEMLIMIT.
func ContentFromOwnedRecords(records []Record) (*Content, error) {
	c, _, err := decodeContent(records, true)
	return c, err
}

// decodeContent is ContentFromRecords; it also returns how many records
// needed json.Unmarshal (for tests: none of our own encoder's).
func decodeContent(records []Record, consume bool) (*Content, int, error) {
	var n [classCount]int
	for i := range records {
		if k := classIndex(records[i].Class); k >= 0 {
			n[k]++
		}
	}
	c := &Content{
		Restrictions:         sized[Restriction](n[kRestriction]),
		Drugs:                sized[Drug](n[kDrug]),
		Catalogue:            sized[CatalogueDrug](n[kCatalogueDrug]),
		Interactions:         sized[Interaction](n[kInteraction]),
		ChronicDiagnoses:     sized[ChronicDiagnosis](n[kChronicDiagnosis]),
		DiagnosisCategories:  sized[DiagnosisCategory](n[kDiagnosisCategory]),
		DiagnosisBlocks:      sized[DiagnosisBlock](n[kDiagnosisBlock]),
		Physicians:           sized[PhysicianRecord](n[kPhysician]),
		PhysicianEvents:      sized[PhysicianEvent](n[kPhysicianEvent]),
		Recognition:          sized[RecognitionItem](n[kRecognitionItem]),
		OutpatientConditions: sized[OutpatientCondition](n[kOutpatientCondition]),
		Warnings:             sized[ImportWarning](n[kWarning]),
	}
	d := newRecordDecoder()
	for i := range records {
		yield.Sometimes(i)
		r := &records[i]
		var err error
		switch r.Class {
		case ClassRestriction:
			err = decode(d, r.Value, grow(&c.Restrictions), fastRestriction)
		case ClassDrug:
			err = decode(d, r.Value, grow(&c.Drugs), fastDrug)
		case ClassCatalogueDrug:
			err = decode(d, r.Value, grow(&c.Catalogue), fastCatalogueDrug)
		case ClassInteraction:
			err = decode(d, r.Value, grow(&c.Interactions), fastInteraction)
		case ClassChronicDiagnosis:
			err = decode(d, r.Value, grow(&c.ChronicDiagnoses), fastChronicDiagnosis)
		case ClassDiagnosisCategory:
			err = decode(d, r.Value, grow(&c.DiagnosisCategories), fastDiagnosisCategory)
		case ClassDiagnosisBlock:
			err = decode(d, r.Value, grow(&c.DiagnosisBlocks), fastDiagnosisBlock)
		case ClassPhysician:
			err = decode(d, r.Value, grow(&c.Physicians), fastPhysician)
		case ClassPhysicianEvent:
			err = decode(d, r.Value, grow(&c.PhysicianEvents), fastPhysicianEvent)
		case ClassRecognitionItem:
			err = decode(d, r.Value, grow(&c.Recognition), fastRecognitionItem)
		case ClassOutpatientCondition:
			err = decode(d, r.Value, grow(&c.OutpatientConditions), fastOutpatientCondition)
		case ClassWarning:
			err = decode(d, r.Value, grow(&c.Warnings), fastWarning)
		default:
			return nil, d.fallbacks, fmt.Errorf("unknown record class %q (key %q): release written by a newer rxguard?", r.Class, r.Key)
		}
		if err != nil {
			return nil, d.fallbacks, fmt.Errorf("decode %s record %q: %w", r.Class, r.Key, err)
		}
		if consume {
			*r = Record{}
		}
	}
	return c, d.fallbacks, nil
}

// Indexes of the classes for ContentFromRecords' count.
const (
	kRestriction = iota
	kDrug
	kCatalogueDrug
	kInteraction
	kChronicDiagnosis
	kDiagnosisCategory
	kDiagnosisBlock
	kPhysician
	kPhysicianEvent
	kRecognitionItem
	kOutpatientCondition
	kWarning
	classCount
)

func classIndex(c Class) int {
	switch c {
	case ClassRestriction:
		return kRestriction
	case ClassDrug:
		return kDrug
	case ClassCatalogueDrug:
		return kCatalogueDrug
	case ClassInteraction:
		return kInteraction
	case ClassChronicDiagnosis:
		return kChronicDiagnosis
	case ClassDiagnosisCategory:
		return kDiagnosisCategory
	case ClassDiagnosisBlock:
		return kDiagnosisBlock
	case ClassPhysician:
		return kPhysician
	case ClassPhysicianEvent:
		return kPhysicianEvent
	case ClassRecognitionItem:
		return kRecognitionItem
	case ClassOutpatientCondition:
		return kOutpatientCondition
	case ClassWarning:
		return kWarning
	}
	return -1
}

// sized is an empty slice with room for n, or nil for none (as appending
// to a nil slice left it, so callers see the same Content as before).
func sized[T any](n int) []T {
	if n == 0 {
		return nil
	}
	return make([]T, 0, n)
}

// grow appends a zero element (within capacity) and returns it.
func grow[T any](s *[]T) *T {
	var zero T
	*s = append(*s, zero)
	return &(*s)[len(*s)-1]
}

// Manifest describes a release. It is stored beside the records; its
// SHA-256 covers the records exactly, so a reader can prove a release is
// complete and unaltered.
type Manifest struct {
	Version       string        `json:"version"`
	Parent        string        `json:"parent,omitempty"`
	Created       time.Time     `json:"created"`
	Publisher     string        `json:"publisher,omitempty"`
	Description   string        `json:"description,omitempty"`
	Counts        map[Class]int `json:"counts"`
	RecordCount   int           `json:"record_count"`
	ContentSHA256 string        `json:"content_sha256"`
	Signature     string        `json:"signature,omitempty"` // ed25519 over the manifest without it (bureau sync)
}

// HashRecords returns the SHA-256 over records in (class, key) order. Each
// record contributes its class, key and value, length-prefixed so that no
// two different record sets hash alike. Callers pass sorted records.
func HashRecords(records []Record) string {
	h := sha256.New()
	var lenBuf [8]byte
	write := func(b []byte) {
		n := uint64(len(b))
		for i := 0; i < 8; i++ {
			lenBuf[i] = byte(n >> (8 * i))
		}
		h.Write(lenBuf[:])
		h.Write(b)
	}
	for _, r := range records {
		write([]byte(r.Class))
		write([]byte(r.Key))
		write(r.Value)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// NewManifest describes sorted records as a release with the given version.
func NewManifest(version, parent string, created time.Time, records []Record) Manifest {
	counts := map[Class]int{}
	for _, r := range records {
		counts[r.Class]++
	}
	return Manifest{
		Version:       version,
		Parent:        parent,
		Created:       created.UTC(),
		Counts:        counts,
		RecordCount:   len(records),
		ContentSHA256: HashRecords(records),
	}
}
