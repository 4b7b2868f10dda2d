package nhsa

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// encodeStd is how the handler wrote replies before appendReply.
func encodeStd(t *testing.T, rep *reply) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(rep); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sameBytesAsStd(t *testing.T, rep *reply) {
	t.Helper()
	want := encodeStd(t, rep)
	got := appendReply(nil, rep)
	if !bytes.Equal(got, want) {
		t.Fatalf("appendReply\n got %s\nwant %s", got, want)
	}
}

// fullReply sets every field of a reply from s and n, so a field
// appendReply forgets, or writes differently, shows up.
func fullReply(s string, n int) *reply {
	rec := n
	d := detail{JrdID: s + "-1", PatnID: s, MdtrtID: s, RxID: s, VolaItemType: "1", VolaAmt: money(n)}
	return &reply{Infcode: n, ErrMsg: s, InfRefmsgid: s, RefmsgTime: s, RespondTime: s,
		Output: &output{
			Result: []result{
				{JrID: s, RuleID: s, RuleName: s, VolaCont: s, PatnID: s, MdtrtID: s, VolaAmt: money(n), VolaAmtStas: s, SevDeg: s,
					VolaEvid: s, VolaBhvrType: s, TaskID: s, Details: []detail{d, d}, Suggestion: s, Overridable: n%2 == 0},
				{JrID: s, Details: []detail{}},
				{Overridable: true},
			},
			Decisions:      []decisionRef{{PatnID: s, MdtrtID: s, DecisionID: s, Verdict: s, KnowledgeVersion: s}, {}},
			Ignored:        []Note{{Path: s, Reason: s}, {}},
			IgnoredOmitted: n,
			Recorded:       &rec,
		},
		Violations: []Note{{Path: s, Reason: s}},
	}
}

// Every field appendReply writes must be one reply's JSON tags name: a
// field added to the structs and not to appendReply fails here.
func TestAppendReplyCoversEveryField(t *testing.T) {
	for _, typ := range []reflect.Type{reflect.TypeFor[reply](), reflect.TypeFor[output](), reflect.TypeFor[result](),
		reflect.TypeFor[detail](), reflect.TypeFor[decisionRef](), reflect.TypeFor[Note]()} {
		got := string(appendReply(nil, fullReply("v", 1)))
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if !strings.Contains(got, `"`+name+`":`) {
				t.Errorf("%s.%s (%q) is not written", typ.Name(), typ.Field(i).Name, name)
			}
		}
	}
}

func TestAppendReplyMatchesEncodingJSON(t *testing.T) {
	for _, rep := range []*reply{
		{},
		{Infcode: -1, ErrMsg: "body: JSON不完整或为空 (empty or truncated JSON)", RefmsgTime: "2026-11-22 10:00:00"},
		{Output: &output{}},
		{Output: &output{Result: []result{}}},
		{Output: &output{Result: []result{{}}}},
		{Output: &output{Result: []result{{Details: []detail{{VolaAmt: 5}}, VolaAmt: 123456}}, Ignored: []Note{}, Decisions: []decisionRef{}}},
		{Violations: []Note{}},
		fullReply("", 0),
		fullReply("plain", 7),
		fullReply(`"quoted" \back\ <b>&amp; 中文 腹痛`, 1999),
		fullReply("ctl \x00\x01\b\f\n\r\t\x1f\x7f end", 100),
		fullReply("bad utf-8 \xff\xfe \xe4\xb8 end", 1),
		fullReply("sep \u2028 \u2029 \u2027 \u202a 😀", 99),
		fullReply(strings.Repeat("长", 600), 123456789012),
	} {
		sameBytesAsStd(t, rep)
	}
}

func TestMoneyAppend(t *testing.T) {
	for _, c := range []struct {
		cents money
		want  string
	}{{0, "0.00"}, {5, "0.05"}, {50, "0.50"}, {1230, "12.30"}, {100001, "1000.01"}, {-150, "-1.50"}, {-5, "-0.05"}} {
		if got := string(c.cents.append(nil)); got != c.want {
			t.Errorf("%d cents: %s, want %s", c.cents, got, c.want)
		}
	}
}

// FuzzAppendReply: any text in any field, any amount ≥ 0, writes the
// bytes encoding/json writes.
func FuzzAppendReply(f *testing.F) {
	f.Add("", 0)
	f.Add("中文 \"x\" \\ \n \u2028 <>&", 1230)
	f.Add("\xff\xe2\x80", 99)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 {
			n = -(n + 1)
		}
		sameBytesAsStd(t, fullReply(s, n))
	})
}

// readBody reads everything, in small reads and past the buffer's
// capacity, keeps what the buffer held, and passes a read error on.
func TestReadBody(t *testing.T) {
	big := strings.Repeat("长x", 10000)
	for _, c := range []struct {
		name   string
		r      io.Reader
		prefix string
		want   string
		err    error
	}{
		{"empty", strings.NewReader(""), "", "", nil},
		{"one byte reads", iotest.OneByteReader(strings.NewReader(big)), "", big, nil},
		{"appends", strings.NewReader("tail"), "head", "headtail", nil},
		{"grows past capacity", strings.NewReader(big), "", big, nil},
		{"read error", io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(errBoom)), "", "abc", errBoom},
	} {
		b := make([]byte, 0, 8)
		b = append(b, c.prefix...)
		got, err := readBody(c.r, b)
		if string(got) != c.want || !errors.Is(err, c.err) {
			t.Errorf("%s: %d bytes, %v; want %d bytes, %v", c.name, len(got), err, len(c.want), c.err)
		}
	}
}

var errBoom = errors.New("boom")
