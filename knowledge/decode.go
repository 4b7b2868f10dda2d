package knowledge

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Fast decoding of record values.
//
// A cold start decodes every record of the active release (767,000 at the
// seeds' scale); encoding/json spends most of that time in reflection. The
// record values are written by Content.Records with json.Marshal, so their
// shape is known exactly: no whitespace, the struct tags' field names in
// declaration order, json.Marshal's escapes. recordDecoder reads that shape
// by hand, one function per record type, without reflection.
//
// It must be exactly equivalent to json.Unmarshal, so it is strict rather
// than clever: whatever it does not fully handle — any whitespace, null, an
// unknown or differently-cased key (encoding/json matches keys
// case-insensitively), a duplicate key, an empty array, a surrogate or
// other unusual escape, invalid UTF-8 (encoding/json replaces it with
// U+FFFD), a number not in json.Marshal's form or out of range, trailing
// data — makes it give up on that one record, and json.Unmarshal decodes it
// into a zeroed value instead. Results and errors are therefore those of
// json.Unmarshal by construction; FuzzDecodeRecord checks that the fast path
// never accepts an input json.Unmarshal would decode differently or reject.

// recordDecoder decodes the records of one ContentFromRecords call. Its
// intern table gives strings that repeat across records (sources, generic
// names, classes, restriction texts, departments, ...) one copy each, so
// the compiled index, which keeps many of them, does too.
type recordDecoder struct {
	intern map[string]string
	buf    []byte // unescaped string bytes, reused
	// sc is the scanner of the record being decoded: kept here because
	// the fast functions are called through a func value, so a local
	// scanner would escape — one allocation per record.
	sc scanner
	// fallbacks counts the records json.Unmarshal decoded (tests assert
	// that our own encoder's output never needs it).
	fallbacks int
}

func newRecordDecoder() *recordDecoder {
	return &recordDecoder{intern: make(map[string]string, 1<<12)}
}

// decode decodes v into *p with fast, falling back to json.Unmarshal into
// a zeroed *p when fast gives up.
func decode[T any](d *recordDecoder, v []byte, p *T, fast func(*recordDecoder, *scanner, *T)) error {
	s := &d.sc
	*s = scanner{b: v}
	fast(d, s, p)
	if !s.bad && s.i == len(s.b) {
		return nil
	}
	d.fallbacks++
	var zero T
	*p = zero
	return json.Unmarshal(v, p)
}

// scanner reads json.Marshal's output. Any method that meets something
// else sets bad; callers check bad once per field.
type scanner struct {
	b   []byte
	i   int
	bad bool
}

func (s *scanner) fail() { s.bad = true }

// objectStart consumes '{' and reports whether the object has members.
func (s *scanner) objectStart() bool {
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '{' {
		s.fail()
		return false
	}
	s.i++
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return false
	}
	return true
}

// next consumes the ',' before another member (true) or the closing '}'.
func (s *scanner) next() bool {
	if s.bad || s.i >= len(s.b) {
		s.fail()
		return false
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return true
	case '}':
		s.i++
		return false
	}
	s.fail()
	return false
}

// key reads a member name and its ':'. Names are only what our struct tags
// use (lower-case ASCII and '_'); anything else gives up.
func (s *scanner) key() []byte {
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.fail()
		return nil
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		if c == '"' {
			if j+1 >= len(s.b) || s.b[j+1] != ':' {
				break
			}
			s.i = j + 2
			return s.b[start:j]
		}
		if (c < 'a' || c > 'z') && c != '_' {
			break
		}
	}
	s.fail()
	return nil
}

// seen marks member n as read; a second one gives up (encoding/json keeps
// the last, but a duplicate is never ours).
func (s *scanner) seen(mask *uint32, n uint) {
	if *mask&(1<<n) != 0 {
		s.fail()
	}
	*mask |= 1 << n
}

// rawString reads a string and returns its decoded bytes: a sub-slice of
// the input when it has no escapes, else d.buf.
func (s *scanner) rawString(d *recordDecoder) []byte {
	if s.bad || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.fail()
		return nil
	}
	start := s.i + 1
	j := start
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			return s.b[start:j]
		case c == '\\':
			return s.escapedString(d, start, j)
		case c < 0x20:
			s.fail()
			return nil
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(s.b[j:])
			if r == utf8.RuneError && size == 1 {
				s.fail()
				return nil
			}
			j += size
		}
	}
	s.fail()
	return nil
}

// escapedString continues rawString from the first backslash at j.
func (s *scanner) escapedString(d *recordDecoder, start, j int) []byte {
	out := append(d.buf[:0], s.b[start:j]...)
	for j < len(s.b) {
		c := s.b[j]
		switch {
		case c == '"':
			s.i = j + 1
			d.buf = out
			return out
		case c == '\\':
			if j+1 >= len(s.b) {
				s.fail()
				return nil
			}
			switch e := s.b[j+1]; e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if j+6 > len(s.b) {
					s.fail()
					return nil
				}
				var r rune
				for _, h := range s.b[j+2 : j+6] {
					switch {
					case '0' <= h && h <= '9':
						h -= '0'
					case 'a' <= h && h <= 'f':
						h -= 'a' - 10
					case 'A' <= h && h <= 'F':
						h -= 'A' - 10
					default:
						s.fail()
						return nil
					}
					r = r<<4 | rune(h)
				}
				// Surrogates (pairs or lone, which encoding/json turns
				// into U+FFFD) are left to encoding/json.
				if r >= 0xD800 && r < 0xE000 {
					s.fail()
					return nil
				}
				out = utf8.AppendRune(out, r)
				j += 6
				continue
			default:
				s.fail()
				return nil
			}
			j += 2
		case c < 0x20:
			s.fail()
			return nil
		case c < utf8.RuneSelf:
			out = append(out, c)
			j++
		default:
			r, size := utf8.DecodeRune(s.b[j:])
			if r == utf8.RuneError && size == 1 {
				s.fail()
				return nil
			}
			out = append(out, s.b[j:j+size]...)
			j += size
		}
	}
	s.fail()
	return nil
}

// str reads a string that is rarely repeated across records.
func (s *scanner) str(d *recordDecoder) string {
	b := s.rawString(d)
	if s.bad {
		return ""
	}
	return string(b)
}

// shared reads a string that repeats across records: one copy per value.
func (s *scanner) shared(d *recordDecoder) string {
	b := s.rawString(d)
	if s.bad {
		return ""
	}
	if v, ok := d.intern[string(b)]; ok {
		return v
	}
	v := string(b)
	d.intern[v] = v
	return v
}

// sharedList reads a non-empty array of repeating strings. An empty array
// gives up: encoding/json makes it a non-nil empty slice, and
// json.Marshal's omitempty never writes one.
func (s *scanner) sharedList(d *recordDecoder) []string {
	if s.bad || s.i+1 >= len(s.b) || s.b[s.i] != '[' || s.b[s.i+1] == ']' {
		s.fail()
		return nil
	}
	s.i++
	var out []string
	for {
		out = append(out, s.shared(d))
		if s.bad || s.i >= len(s.b) {
			s.fail()
			return nil
		}
		c := s.b[s.i]
		s.i++
		if c == ']' {
			return out
		}
		if c != ',' {
			s.fail()
			return nil
		}
	}
}

// integer reads json.Marshal's form of an integer: 0 or -?[1-9][0-9]*, at
// most 18 digits (so it cannot overflow int64; longer ones give up), not
// followed by a fraction or exponent.
func (s *scanner) integer() int64 {
	if s.bad || s.i >= len(s.b) {
		s.fail()
		return 0
	}
	neg := false
	if s.b[s.i] == '-' {
		neg = true
		s.i++
	}
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	switch {
	case digits == 0 || digits > 18:
		s.fail()
	case s.b[start] == '0' && (digits > 1 || neg):
		s.fail()
	case s.i < len(s.b) && (s.b[s.i] == '.' || s.b[s.i] == 'e' || s.b[s.i] == 'E'):
		s.fail()
	}
	if neg {
		n = -n
	}
	return n
}

// int reads an integer into an int field (which is 32 bits on some
// platforms: a value that does not fit gives up).
func (s *scanner) int() int {
	n := s.integer()
	if int64(int(n)) != n {
		s.fail()
	}
	return int(n)
}

// float reads a JSON number exactly as encoding/json does for a float64
// (strconv.ParseFloat of the literal); an out-of-range value gives up.
func (s *scanner) float() float64 {
	if s.bad {
		return 0
	}
	start := s.i
	j := s.i
	digits := func() int {
		k := j
		for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(s.b) && s.b[j] == '-' {
		j++
	}
	intStart := j
	if n := digits(); n == 0 || (n > 1 && s.b[intStart] == '0') {
		s.fail()
		return 0
	}
	if j < len(s.b) && s.b[j] == '.' {
		j++
		if digits() == 0 {
			s.fail()
			return 0
		}
	}
	if j < len(s.b) && (s.b[j] == 'e' || s.b[j] == 'E') {
		j++
		if j < len(s.b) && (s.b[j] == '+' || s.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			s.fail()
			return 0
		}
	}
	f, err := strconv.ParseFloat(string(s.b[start:j]), 64)
	if err != nil {
		s.fail()
		return 0
	}
	s.i = j
	return f
}

func (s *scanner) bool() bool {
	if s.bad {
		return false
	}
	rest := s.b[s.i:]
	switch {
	case len(rest) >= 4 && string(rest[:4]) == "true":
		s.i += 4
		return true
	case len(rest) >= 5 && string(rest[:5]) == "false":
		s.i += 5
		return false
	}
	s.fail()
	return false
}

// source reads a nested Source.
func (s *scanner) source(d *recordDecoder, src *Source) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "batch":
			s.seen(&m, 0)
			src.Batch = s.shared(d)
		case "file":
			s.seen(&m, 1)
			src.File = s.shared(d)
		case "sheet":
			s.seen(&m, 2)
			src.Sheet = s.shared(d)
		case "row":
			s.seen(&m, 3)
			src.Row = s.int()
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastRestriction(d *recordDecoder, s *scanner, r *Restriction) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "type":
			s.seen(&m, 0)
			r.Type = RuleType(s.shared(d))
		case "code":
			s.seen(&m, 1)
			r.Code = s.str(d)
		case "name":
			s.seen(&m, 2)
			r.Name = s.shared(d)
		case "description":
			s.seen(&m, 3)
			r.Description = s.shared(d)
		case "source":
			s.seen(&m, 4)
			s.source(d, &r.Source)
		case "gender":
			s.seen(&m, 5)
			r.Gender = Gender(s.shared(d))
		case "age_band":
			s.seen(&m, 6)
			r.AgeBand = AgeBand(s.shared(d))
		case "insurance":
			s.seen(&m, 7)
			r.Insurance = s.shared(d)
		case "allow_emergency":
			s.seen(&m, 8)
			r.AllowEmergency = s.bool()
		case "min_level":
			s.seen(&m, 9)
			r.MinLevel = s.int()
		case "course_days":
			s.seen(&m, 10)
			r.CourseDays = s.int()
		case "interval_days":
			s.seen(&m, 11)
			r.IntervalDays = s.int()
		case "daily_limit":
			s.seen(&m, 12)
			r.DailyLimit = s.float()
		case "unit":
			s.seen(&m, 13)
			r.Unit = s.shared(d)
		case "period_count":
			s.seen(&m, 14)
			r.PeriodCount = s.int()
		case "period_days":
			s.seen(&m, 15)
			r.PeriodDays = s.int()
		case "groups":
			s.seen(&m, 16)
			r.Groups = s.sharedList(d)
		case "primary_code":
			s.seen(&m, 17)
			r.PrimaryCode = s.shared(d)
		case "primary_name":
			s.seen(&m, 18)
			r.PrimaryName = s.shared(d)
		case "window":
			s.seen(&m, 19)
			r.Window = Window(s.shared(d))
		case "text":
			s.seen(&m, 20)
			r.Text = s.shared(d)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastDrug(d *recordDecoder, s *scanner, r *Drug) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "code":
			s.seen(&m, 0)
			r.Code = s.str(d)
		case "generic_name":
			s.seen(&m, 1)
			r.GenericName = s.shared(d)
		case "dosage_form":
			s.seen(&m, 2)
			r.DosageForm = s.shared(d)
		case "class":
			s.seen(&m, 3)
			r.Class = s.shared(d)
		case "restriction_text":
			s.seen(&m, 4)
			r.RestrictionText = s.shared(d)
		case "indication_icd":
			s.seen(&m, 5)
			r.IndicationICD = s.sharedList(d)
		case "second_line":
			s.seen(&m, 6)
			r.SecondLine = s.bool()
		case "source":
			s.seen(&m, 7)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastCatalogueRestriction(d *recordDecoder, s *scanner, r *CatalogueRestriction) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "child_only":
			s.seen(&m, 0)
			r.ChildOnly = s.bool()
		case "inpatient_only":
			s.seen(&m, 1)
			r.InpatientOnly = s.bool()
		case "emergency_or_inpatient":
			s.seen(&m, 2)
			r.EmergencyOrInpatient = s.bool()
		case "min_level":
			s.seen(&m, 3)
			r.MinLevel = s.int()
		case "course_days":
			s.seen(&m, 4)
			r.CourseDays = s.int()
		case "second_line":
			s.seen(&m, 5)
			r.SecondLine = s.bool()
		case "insurance":
			s.seen(&m, 6)
			r.Insurance = s.shared(d)
		case "icd_prefixes":
			s.seen(&m, 7)
			r.ICDPrefixes = s.sharedList(d)
		case "diagnosis_restricted":
			s.seen(&m, 8)
			r.DiagnosisRestricted = s.bool()
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastCatalogueDrug(d *recordDecoder, s *scanner, r *CatalogueDrug) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "sheet":
			s.seen(&m, 0)
			r.Sheet = s.shared(d)
		case "category":
			s.seen(&m, 1)
			r.Category = s.shared(d)
		case "category_name":
			s.seen(&m, 2)
			r.CategoryName = s.shared(d)
		case "class":
			s.seen(&m, 3)
			r.Class = s.shared(d)
		case "number":
			s.seen(&m, 4)
			r.Number = s.str(d)
		case "repeat_of":
			s.seen(&m, 5)
			r.RepeatOf = s.str(d)
		case "name":
			s.seen(&m, 6)
			r.Name = s.str(d)
		case "dosage_form":
			s.seen(&m, 7)
			r.DosageForm = s.shared(d)
		case "remark":
			s.seen(&m, 8)
			r.Remark = s.shared(d)
		case "raw_remark":
			s.seen(&m, 9)
			r.RawRemark = s.shared(d)
		case "payment_standard":
			s.seen(&m, 10)
			r.PaymentStandard = s.shared(d)
		case "valid_period":
			s.seen(&m, 11)
			r.ValidPeriod = s.shared(d)
		case "structured":
			s.seen(&m, 12)
			fastCatalogueRestriction(d, s, &r.Structured)
		case "source":
			s.seen(&m, 13)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastInteraction(d *recordDecoder, s *scanner, r *Interaction) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "drug_a":
			s.seen(&m, 0)
			r.DrugA = s.shared(d)
		case "drug_b":
			s.seen(&m, 1)
			r.DrugB = s.shared(d)
		case "severity":
			s.seen(&m, 2)
			r.Severity = s.shared(d)
		case "reason":
			s.seen(&m, 3)
			r.Reason = s.shared(d)
		case "source":
			s.seen(&m, 4)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastRecognitionItem(d *recordDecoder, s *scanner, r *RecognitionItem) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "code":
			s.seen(&m, 0)
			r.Code = s.str(d)
		case "name":
			s.seen(&m, 1)
			r.Name = s.shared(d)
		case "window_days":
			s.seen(&m, 2)
			r.WindowDays = s.int()
		case "scope":
			s.seen(&m, 3)
			r.Scope = s.shared(d)
		case "source":
			s.seen(&m, 4)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

// prefixName reads the {prefix, name, source} shape of OutpatientCondition
// and ChronicDiagnosis, and the {code, name, source} of DiagnosisCategory
// (firstKey names the first field).
func prefixName(d *recordDecoder, s *scanner, firstKey string, first, name *string, src *Source) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch k := s.key(); string(k) {
		case "name":
			s.seen(&m, 1)
			*name = s.str(d)
		case "source":
			s.seen(&m, 2)
			s.source(d, src)
		default:
			if string(k) != firstKey {
				s.fail()
				return
			}
			s.seen(&m, 0)
			*first = s.str(d)
		}
		if s.bad {
			return
		}
	}
}

func fastOutpatientCondition(d *recordDecoder, s *scanner, r *OutpatientCondition) {
	prefixName(d, s, "prefix", &r.Prefix, &r.Name, &r.Source)
}

func fastChronicDiagnosis(d *recordDecoder, s *scanner, r *ChronicDiagnosis) {
	prefixName(d, s, "prefix", &r.Prefix, &r.Name, &r.Source)
}

func fastDiagnosisCategory(d *recordDecoder, s *scanner, r *DiagnosisCategory) {
	prefixName(d, s, "code", &r.Code, &r.Name, &r.Source)
}

func fastDiagnosisBlock(d *recordDecoder, s *scanner, r *DiagnosisBlock) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "lower":
			s.seen(&m, 0)
			r.Lower = s.str(d)
		case "upper":
			s.seen(&m, 1)
			r.Upper = s.str(d)
		case "level":
			s.seen(&m, 2)
			r.Level = s.int()
		case "name":
			s.seen(&m, 3)
			r.Name = s.str(d)
		case "source":
			s.seen(&m, 4)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastPhysician(d *recordDecoder, s *scanner, r *PhysicianRecord) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "code":
			s.seen(&m, 0)
			r.Code = s.str(d)
		case "name":
			s.seen(&m, 1)
			r.Name = s.shared(d)
		case "title":
			s.seen(&m, 2)
			r.Title = s.shared(d)
		case "department_code":
			s.seen(&m, 3)
			r.DepartmentCode = s.shared(d)
		case "source":
			s.seen(&m, 4)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastPhysicianEvent(d *recordDecoder, s *scanner, r *PhysicianEvent) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "seq":
			s.seen(&m, 0)
			r.Seq = s.integer()
		case "physician_code":
			s.seen(&m, 1)
			r.PhysicianCode = s.shared(d)
		case "type":
			s.seen(&m, 2)
			r.Type = s.shared(d)
		case "date":
			s.seen(&m, 3)
			r.Date = s.shared(d)
		case "points":
			s.seen(&m, 4)
			r.Points = s.int()
		case "until":
			s.seen(&m, 5)
			r.Until = s.shared(d)
		case "reason":
			s.seen(&m, 6)
			r.Reason = s.shared(d)
		case "source":
			s.seen(&m, 7)
			s.source(d, &r.Source)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}

func fastWarning(d *recordDecoder, s *scanner, r *ImportWarning) {
	var m uint32
	for more := s.objectStart(); more; more = s.next() {
		switch string(s.key()) {
		case "source":
			s.seen(&m, 0)
			s.source(d, &r.Source)
		case "message":
			s.seen(&m, 1)
			r.Message = s.shared(d)
		default:
			s.fail()
		}
		if s.bad {
			return
		}
	}
}
