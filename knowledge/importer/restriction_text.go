package importer

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/rxguard/rxguard/knowledge"
)

// The drug catalogue was published as a PDF and reached us extracted to
// xlsx: its cells carry the PDF's line breaks inside words ("精蛋\n白锌"),
// runs of blanks after Chinese punctuation ("限：  1.预防"), a blank before
// a Roman numeral ("补液盐 Ⅰ") and, here and there, a Kangxi radical where
// the PDF's font had one ("⼉童" for "儿童"). cleanPDFText removes these;
// what it keeps reads as published.

// kangxiRadicals holds the ideograph each Kangxi radical (U+2F00–U+2FD5) is
// compatible with (its NFKC form), in block order.
const kangxiRadicals = "一丨丶丿乙亅二亠人儿入八冂冖冫几凵刀力勹匕匚匸十卜卩厂厶又口囗土士夂夊夕大女子宀寸小尢尸屮山巛工己巾干幺广廴廾弋弓彐彡彳心戈戶手支攴文斗斤方无日曰月木欠止歹殳毋比毛氏气水火爪父爻爿片牙牛犬玄玉瓜瓦甘生用田疋疒癶白皮皿目矛矢石示禸禾穴立竹米糸缶网羊羽老而耒耳聿肉臣自至臼舌舛舟艮色艸虍虫血行衣襾見角言谷豆豕豸貝赤走足身車辛辰辵邑酉釆里金長門阜隶隹雨靑非面革韋韭音頁風飛食首香馬骨高髟鬥鬯鬲鬼魚鳥鹵鹿麥麻黃黍黑黹黽鼎鼓鼠鼻齊齒龍龜龠"

var kangxiTable = []rune(kangxiRadicals)

// foldKangxi replaces Kangxi radicals by the ideographs they stand for.
func foldKangxi(r rune) rune {
	if r >= 0x2F00 && int(r-0x2F00) < len(kangxiTable) {
		return kangxiTable[r-0x2F00]
	}
	return r
}

func isRoman(r rune) bool { return r >= 0x2160 && r <= 0x217F } // Ⅰ Ⅱ … ⅰ ⅱ …

func isASCIILetter(r rune) bool { return r < 0x80 && unicode.IsLetter(r) }

func isOpener(r rune) bool { return strings.ContainsRune("([{（［【〔《", r) }

func isCloser(r rune) bool { return strings.ContainsRune(")]}）］】〕》", r) }

// artefactGap reports whether blanks between a and b are a PDF artefact: a
// Chinese character or full-width punctuation on either side (Chinese has
// no spaces between words), a Roman numeral, or a bracket or punctuation
// mark the blank separates from its neighbour ("TNF- α", "γ ≥7.0"). Between
// two Latin or digit tokens ("Ph+ CML", "400 ng/mL", "1. 12岁") the blank
// may be a word boundary and stays.
func artefactGap(a, b rune) bool {
	return wide(a) || wide(b) || isRoman(a) || isRoman(b) || isOpener(a) || isOpener(b) || isCloser(b) ||
		strings.ContainsRune(",.;:!?", b) || a == '-' ||
		strings.ContainsRune("<>=≤≥·∶", a) || strings.ContainsRune("<>=≤≥·∶", b)
}

// cleanPDFText trims a catalogue cell and removes the PDF-extraction
// artefacts: line breaks disappear (a wrapped line continues the word it
// broke) unless both sides are Latin letters, where they become a space;
// blanks disappear where artefactGap says so, elsewhere a run becomes one
// space; Kangxi radicals become the ideographs they stand for. Everything
// else, full-width punctuation included, is kept as published.
func cleanPDFText(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s))
	var prev rune = -1
	inRun, runBreak, runVisible := false, false, false
	for _, r := range s {
		if isSpace(r) {
			inRun = true
			runBreak = runBreak || isLineBreak(r)
			runVisible = runVisible || !isZeroWidth(r)
			continue
		}
		r = foldKangxi(r)
		if inRun && prev >= 0 && runVisible {
			switch {
			case runBreak:
				if isASCIILetter(prev) && isASCIILetter(r) {
					b.WriteByte(' ')
				}
			case !artefactGap(prev, r):
				b.WriteByte(' ')
			}
		}
		inRun, runBreak, runVisible = false, false, false
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// normalizeRestriction is the form a 限定支付范围 text is matched in:
// cleaned, full-width ASCII folded (so "；" is ";" and "１４" is "14"),
// upper case and without any blank.
func normalizeRestriction(s string) string {
	return strings.ToUpper(toHalfWidth(stripSpace(cleanPDFText(s))))
}

// How a 限定支付范围 text is read. It is a conjunction of sentences (split
// at "。"). A sentence is either plain — alternatives separated by ";"
// ("限儿童甲(A)型血友病；成人甲(A)型血友病限出血时使用") — or a numbered list
// "限：1.…；2.…" whose items are alternatives, unless its preamble says they
// all apply ("应同时符合以下条件：1.…；2.…"). A fact is structured only when
// it holds for the whole text: stated in a sentence that applies
// throughout, or in every alternative. "限：1.早期乳腺癌…，支付不超过12个月；
// 2.转移性乳腺癌" limits the course of one alternative only, so it stays
// text: a course limit checked on a patient of the second kind would refuse
// what the catalogue pays.

const (
	// A course limit: "支付不超过14天", "单次住院最多支付14天", "支付不超过12个月".
	reCourse = `(?:支付不超过|支付不得超过|最多支付|支付最长不超过|累计支付不超过|支付时间不超过)(` + cnNum + `)(天|日|周|星期|个月|月|年)`
	// A level of care institution: "二级及以上医疗机构", "三级综合医院", "二级及以上眼科专科医院".
	reLevel = `([二三])级(?:及以上|以上)?[^,;:。]{0,8}?(?:医疗机构|医院)`
)

var (
	courseRe    = regexp.MustCompile(reCourse)
	levelRe     = regexp.MustCompile(reLevel)
	levelHeadRe = regexp.MustCompile(`^(?:仅)?(?:限|需)(?:在|由|于)?` + reLevel)
	secondRe    = regexp.MustCompile(`[二三]线(?:用药|治疗)`)
	emergencyRe = regexp.MustCompile(`急诊(?:或|和|及|与|、|/)住院|住院(?:或|和|及|与|、|/)急诊`)
	inpatientRe = regexp.MustCompile(`住院患者|限住院|住院期间使用|住院使用`)
	insuranceRe = regexp.MustCompile(`^(?:仅)?限?(?:于)?(工伤|生育)保险(?:参保人员|参保人|患者|支付|使用)?$`)
	icdMarkRe   = regexp.MustCompile(`ICD(?:-?10)?(?:编码|代码)?[:]?`)
	icdCodeRe   = regexp.MustCompile(`^[A-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?`)
	icdSepRe    = regexp.MustCompile(`^(?:[、,/]|或|和|及)`)
	// A clause that limits payment although it does not start with 限.
	limitTailRe = regexp.MustCompile(`(?:方予支付|方可支付|予以支付|患者的治疗)$`)
	// What is left of a 限 clause once the structured facts are taken out
	// is a condition when Chinese text remains after these fillers.
	residueRe = regexp.MustCompile(`[0-9.]+(?:周岁|岁|月龄|日龄)|儿童|成人|成年|青少年|患者|住院|急诊|门诊|使用|用药|支付|方予|方可|予以|参保人员|以上|以下|的|和|或|及|时|限|仅|需`)
	// Words that name a population besides children, or qualify them, so
	// that 儿童 in the text is not the only population paid for.
	childExclusions = []string{"成人", "成年", "青少年", "老年", "除外", "慎用", "禁用", "安全性", "有效性", "非儿童"}
)

// clauseEnd trims what separates a clause from its neighbours.
func clauseEnd(s string) string { return strings.Trim(s, ":;,.。、") }

// limitClause reports a clause that limits payment by itself: "限…",
// "需…", "…的患者方予支付", "…患者的治疗".
func limitClause(c string) bool {
	return strings.HasPrefix(c, "限") || strings.HasPrefix(c, "仅限") || strings.HasPrefix(c, "需") || limitTailRe.MatchString(c)
}

// facts is what one clause, or a combination of clauses, states.
type facts struct {
	child, inpatient, emergency, second bool
	level, course                       int
	insurance                           string
	icd                                 []string
	condition                           bool
}

// mentions records phrases rxguard recognised anywhere in the text, so that
// a phrase it recognised but could not apply to the whole text is noted.
type mentions struct {
	child, inpatient, emergency, level, course, second, insurance, icd string
}

func firstOf(cur, s string) string {
	if cur != "" {
		return cur
	}
	return s
}

// clauseFacts reads one clause. limit says whether the clause limits
// payment (it starts with 限, or belongs to a 限 list): only then are its
// population, setting and conditions facts.
func clauseFacts(c string, limit bool, m *mentions) facts {
	c = clauseEnd(c)
	var f facts
	if c == "" {
		return f
	}
	limit = limit || limitClause(c)

	// Course limits are payment rules wherever they stand.
	if mm := courseRe.FindStringSubmatch(c); mm != nil {
		m.course = firstOf(m.course, mm[0])
		if d, ok := clauseDays(mm[1], mm[2]); ok {
			f.course = d
		}
		for _, other := range courseRe.FindAllStringSubmatch(c, -1)[1:] {
			if d, ok := clauseDays(other[1], other[2]); !ok || d != f.course {
				f.course = -1 // two different limits in one clause: which applies is for a reader
			}
		}
	}
	if s := levelRe.FindString(c); s != "" {
		m.level = firstOf(m.level, s)
	}
	if s := secondRe.FindString(c); s != "" {
		m.second = firstOf(m.second, s)
	}
	if strings.Contains(c, "工伤保险") || strings.Contains(c, "生育保险") {
		m.insurance = firstOf(m.insurance, c)
	}
	if strings.Contains(c, "ICD") {
		m.icd = firstOf(m.icd, c)
	}
	if !limit {
		return f
	}

	if strings.Contains(c, "儿童") {
		f.child = true
		m.child = firstOf(m.child, "儿童")
	}
	// "门诊和住院", "非住院", "出院后" admit other encounters.
	otherEncounters := strings.Contains(c, "门诊") || strings.Contains(c, "非住院") || strings.Contains(c, "出院")
	if s := emergencyRe.FindString(c); s != "" && !otherEncounters {
		f.emergency = true
		m.emergency = firstOf(m.emergency, s)
	} else if s := inpatientRe.FindString(c); s != "" && !otherEncounters {
		f.inpatient = true
		m.inpatient = firstOf(m.inpatient, s)
	}
	// A level counts when a part of the clause opens with it ("限二级及以上
	// 医疗机构…", "需三级综合医院眼科或二级及以上眼科专科医院医师处方"); its
	// alternatives there give the lowest level admitted. A level for the
	// first prescription only ("首次处方时需由二级…") limits nothing after.
	for _, part := range strings.Split(c, ",") {
		if !levelHeadRe.MatchString(part) || strings.Contains(part, "首次") || strings.Contains(part, "初次") {
			continue
		}
		for _, lm := range levelRe.FindAllStringSubmatch(part, -1) {
			l := 2
			if lm[1] == "三" {
				l = 3
			}
			if f.level == 0 || l < f.level {
				f.level = l
			}
		}
	}
	for _, loc := range secondRe.FindAllStringIndex(c, -1) {
		// "经过二线治疗", "接受二线治疗" describe therapy the patient had,
		// not this drug's line; "失败后的二线治疗" is this drug's.
		before := []rune(c[:loc[0]])
		if len(before) == 0 || !strings.ContainsRune("过经受少", before[len(before)-1]) {
			f.second = true
		}
	}
	if mm := insuranceRe.FindStringSubmatch(c); mm != nil {
		f.insurance = mm[1]
	}
	f.icd = icdCodes(c)

	residue := strings.TrimPrefix(strings.TrimPrefix(c, "仅限"), "限")
	for _, re := range []*regexp.Regexp{emergencyRe, courseRe, levelRe, secondRe} {
		residue = re.ReplaceAllString(residue, "")
	}
	residue = strings.NewReplacer("工伤保险", "", "生育保险", "").Replace(residue)
	residue = residueRe.ReplaceAllString(residue, "")
	f.condition = strings.ContainsFunc(residue, func(r rune) bool { return unicode.Is(unicode.Han, r) })
	return f
}

// icdCodes returns the ICD-10 codes written after an "ICD" marker in c:
// "(ICD-10:C34、C78.0)" gives C34, C78.0.
func icdCodes(c string) []string {
	var codes []string
	for _, loc := range icdMarkRe.FindAllStringIndex(c, -1) {
		rest := c[loc[1]:]
		for {
			code := icdCodeRe.FindString(rest)
			if code == "" {
				break
			}
			if !slices.Contains(codes, code) {
				codes = append(codes, code)
			}
			rest = rest[len(code):]
			sep := icdSepRe.FindString(rest)
			if sep == "" {
				break
			}
			rest = rest[len(sep):]
		}
	}
	return codes
}

// anyOf combines alternatives: a fact holds when every alternative states
// it; a level or course is the most permissive of them.
func anyOf(alts []facts) facts {
	if len(alts) == 0 {
		return facts{}
	}
	if len(alts) == 1 {
		return alts[0]
	}
	r := facts{child: true, inpatient: true, emergency: true, second: true}
	r.insurance = alts[0].insurance
	icdAll := true
	for _, a := range alts {
		r.child = r.child && a.child
		r.inpatient = r.inpatient && a.inpatient
		r.emergency = r.emergency && (a.emergency || a.inpatient)
		r.second = r.second && a.second
		if a.insurance != r.insurance {
			r.insurance = ""
		}
		icdAll = icdAll && len(a.icd) > 0
		r.condition = r.condition || a.condition
	}
	r.emergency = r.emergency && !r.inpatient
	r.level = alts[0].level
	r.course = alts[0].course
	for _, a := range alts[1:] {
		if a.level == 0 || r.level == 0 {
			r.level = 0
		} else {
			r.level = min(r.level, a.level)
		}
		if a.course == 0 || r.course == 0 || a.course < 0 || r.course < 0 {
			r.course = min(0, r.course, a.course) // unknown stays unknown; -1 stays a conflict
		} else {
			r.course = max(r.course, a.course)
		}
	}
	if icdAll {
		for _, a := range alts {
			for _, c := range a.icd {
				if !slices.Contains(r.icd, c) {
					r.icd = append(r.icd, c)
				}
			}
		}
	}
	return r
}

// allOf combines statements that all apply: a fact holds when one of them
// states it; of two levels the higher, of two courses the shorter applies.
// Two different insurances or two ICD lists cannot both be met or read
// safely, so they are left as text (noted).
func allOf(a, b facts, notes *[]string) facts {
	r := facts{
		child: a.child || b.child, inpatient: a.inpatient || b.inpatient, emergency: a.emergency || b.emergency,
		second: a.second || b.second, condition: a.condition || b.condition,
		level: max(a.level, b.level),
	}
	switch {
	case a.course < 0 || b.course < 0:
		r.course = -1
	case a.course == 0 || b.course == 0:
		r.course = max(a.course, b.course)
	case a.course != b.course:
		*notes = append(*notes, fmt.Sprintf("two course limits (%d and %d days) both apply; the shorter is kept", a.course, b.course))
		r.course = min(a.course, b.course)
	default:
		r.course = a.course
	}
	switch {
	case a.insurance == "" || a.insurance == b.insurance:
		r.insurance = b.insurance
	case b.insurance == "":
		r.insurance = a.insurance
	default:
		*notes = append(*notes, "both 工伤 and 生育 insurance named; kept as text")
	}
	switch {
	case len(a.icd) == 0:
		r.icd = b.icd
	case len(b.icd) == 0:
		r.icd = a.icd
	default:
		*notes = append(*notes, "ICD-10 codes in several sentences; kept as text")
	}
	return r
}

// alternatives reads a run of clauses separated by ";" as alternatives.
func alternatives(s string, limit bool, m *mentions) facts {
	var alts []facts
	for _, c := range strings.Split(s, ";") {
		if clauseEnd(c) != "" {
			alts = append(alts, clauseFacts(c, limit, m))
		}
	}
	return anyOf(alts)
}

// listMarker finds item marker n ("1." or "1、") at or after from, where it
// starts the text or follows ":", ";" or "。"; -1 if none. Markers are
// matched by value so "1.50岁以上" is item 1 ("50岁以上") and "0.05-0.5" no
// marker at all.
func listMarker(s string, from, n int) (at, end int) {
	num := fmt.Sprint(n)
	for i := from; i < len(s); {
		j := strings.Index(s[i:], num)
		if j < 0 {
			return -1, -1
		}
		p := i + j
		q := p + len(num)
		boundary := p == 0 || strings.HasSuffix(s[:p], ":") || strings.HasSuffix(s[:p], ";") || strings.HasSuffix(s[:p], "。")
		if boundary && q < len(s) && (s[q] == '.' || strings.HasPrefix(s[q:], "、")) {
			if s[q] == '.' {
				return p, q + 1
			}
			return p, q + len("、")
		}
		i = p + 1
	}
	return -1, -1
}

// andPreamble says a list's items all apply.
func andPreamble(s string) bool {
	for _, w := range []string{"同时符合", "同时满足", "均需", "均应", "全部满足"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// structureRestriction reads the facts rxguard can check out of a 限定支付
// 范围 text: children only, inpatient (or emergency) encounters only, a
// minimum hospital level, a payable course, second-line use, an insurance
// type, ICD-10 codes, or — stated only in words — a limit to diagnoses or
// conditions. A fact is set only when it holds for the whole text (see
// above); anything else stays text. notes name phrases rxguard recognised
// but did not structure, for a reader to check.
func structureRestriction(text string) (knowledge.CatalogueRestriction, []string) {
	s := normalizeRestriction(text)
	var notes []string
	var m mentions
	total := facts{}
	plain := func(p string) {
		for _, sentence := range strings.Split(p, "。") {
			total = allOf(total, alternatives(sentence, false, &m), &notes)
		}
	}
	for pos := 0; pos < len(s); {
		at, end := listMarker(s, pos, 1)
		if at < 0 {
			plain(s[pos:])
			break
		}
		start := pos
		if k := strings.LastIndex(s[pos:at], "。"); k >= 0 {
			plain(s[pos : pos+k])
			start = pos + k + len("。")
		}
		preamble := s[start:at]
		and := andPreamble(preamble)
		limit := and || limitClause(clauseEnd(preamble))
		var items []facts
		n := 2
		for {
			nextAt, nextEnd := listMarker(s, end, n)
			restart, _ := listMarker(s, end, 1)
			if nextAt >= 0 && (restart < 0 || nextAt < restart) {
				items = append(items, alternatives(s[end:nextAt], limit, &m))
				end = nextEnd
				n++
				continue
			}
			// The last item runs to the end of its sentence or to where
			// a new list starts.
			stop := len(s)
			if k := strings.Index(s[end:], "。"); k >= 0 {
				stop = end + k
			}
			if restart >= 0 && restart < stop {
				stop = restart
			}
			items = append(items, alternatives(s[end:stop], limit, &m))
			pos = stop
			if strings.HasPrefix(s[stop:], "。") {
				pos += len("。")
			}
			break
		}
		list := clauseFacts(preamble, false, &m)
		if and {
			for _, it := range items {
				list = allOf(list, it, &notes)
			}
		} else {
			list = allOf(list, anyOf(items), &notes)
		}
		total = allOf(total, list, &notes)
	}

	if total.child {
		for _, w := range childExclusions {
			if strings.Contains(s, w) {
				total.child = false
				break
			}
		}
	}
	if total.inpatient {
		total.emergency = false
	}
	r := knowledge.CatalogueRestriction{
		ChildOnly:            total.child,
		InpatientOnly:        total.inpatient,
		EmergencyOrInpatient: total.emergency,
		MinLevel:             total.level,
		CourseDays:           max(total.course, 0),
		SecondLine:           total.second,
		Insurance:            total.insurance,
		ICDPrefixes:          total.icd,
		DiagnosisRestricted:  total.condition && len(total.icd) == 0,
	}

	unapplied := func(phrase string, set bool, what string) {
		if phrase != "" && !set {
			notes = append(notes, fmt.Sprintf("%q not structured: %s", truncate(phrase, 30), what))
		}
	}
	unapplied(m.course, r.CourseDays > 0, "the course limit does not apply to the whole text")
	unapplied(m.level, r.MinLevel > 0, "the hospital level is not a requirement of the whole text")
	unapplied(m.second, r.SecondLine, "second-line use is not required by the whole text")
	unapplied(m.insurance, r.Insurance != "", "the insurance is one alternative, not the only one paid")
	unapplied(m.inpatient, r.InpatientOnly || r.EmergencyOrInpatient, "the inpatient limit does not apply to the whole text")
	unapplied(m.emergency, r.EmergencyOrInpatient || r.InpatientOnly, "the encounter limit does not apply to the whole text")
	unapplied(m.child, r.ChildOnly, "children are not the only population paid for")
	unapplied(m.icd, len(r.ICDPrefixes) > 0, "ICD-10 codes not readable for the whole text")
	return r, notes
}

// structured reports whether any fact was read.
func structured(r knowledge.CatalogueRestriction) bool {
	return r.ChildOnly || r.InpatientOnly || r.EmergencyOrInpatient || r.MinLevel > 0 || r.CourseDays > 0 ||
		r.SecondLine || r.Insurance != "" || len(r.ICDPrefixes) > 0 || r.DiagnosisRestricted
}
