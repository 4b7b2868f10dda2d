package nhsa

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseTreeStd is the encoding/json decode parseTree used before scanTree:
// the reference the scanner must match.
func parseTreeStd(body []byte) (any, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("not UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// sameAsStd fails unless scanTree accepts exactly what encoding/json
// accepts, builds an equal tree, and refuses with a body FieldError.
func sameAsStd(t *testing.T, body []byte) {
	t.Helper()
	want, werr := parseTreeStd(body)
	if werr != nil && strings.Contains(werr.Error(), "not UTF-8") {
		return // parseTree refuses it before scanning
	}
	got, gerr := scanTree(body)
	switch {
	case werr != nil && gerr == nil:
		t.Fatalf("%q: encoding/json refuses (%v), scanTree accepts %#v", body, werr, got)
	case werr == nil && gerr != nil:
		t.Fatalf("%q: encoding/json accepts %#v, scanTree refuses: %v", body, want, gerr)
	case gerr != nil:
		if gerr.Path != "body" || gerr.Reason == "" {
			t.Fatalf("%q: refusal %#v does not name the body", body, gerr)
		}
	case !reflect.DeepEqual(got, want):
		t.Fatalf("%q: tree\n got %#v\nwant %#v", body, got, want)
	}
}

var scanCases = []string{
	`{}`, ` {"a" : 1 } `, "\t{\"a\":[1,-0,0.5,-1.25e+10,3E-2,1e400]}\r\n",
	`{"a":"x","a":"y"}`, `{"a":null,"b":true,"c":false,"d":[null,{}],"e":[]}`,
	`{"s":"\"\\\/\b\f\n\r\t\u00e9\u4e2d\ud83d\ude00"}`, `{"s":"\ud83d"}`, `{"s":"\ud83d\u0041"}`,
	`{"s":"\ude00\ud83d"}`, `{"s":"\ud83d\ud83d\ude00"}`, `{"s":"\ud83d\u00zz"}`, `{"中文":"腹痛 "}`,
	`[1,2]`, `"x"`, `12`, `null`, `true`,
	``, ` `, `{`, `{"a"`, `{"a":`, `{"a":1`, `{"a":1,`, `{"a":1,}`, `[1,]`, `[,1]`, `{,}`, `{"a" 1}`,
	`{"a":1}x`, `{"a":1}{}`, `{} []`, `1x`, `-`, `-a`, `01`, `1.`, `1.e2`, `1e`, `1e+`, `.5`, `+1`,
	`{"a":tru}`, `{"a":nul}`, `{"a":falsey}`, `{"a":True}`, `{a:1}`, `{'a':1}`, `{"a":"x` + "\n" + `"}`,
	`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12G4"}`, `{"a":"\`, `{"a":"\u`, `{"a":"abc`, "{\"a\":\"\x7f\"}",
	"\ufeff{}", `{"a":[[[[[[[[[[1]]]]]]]]]]}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	`{"a":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
}

func TestScanTreeMatchesEncodingJSON(t *testing.T) {
	for _, c := range scanCases {
		sameAsStd(t, []byte(c))
	}
}

// The refusals parseTree answers: a body FieldError for each, the
// malformed ones with the byte.
func TestParseTreeRefusals(t *testing.T) {
	for _, c := range []struct{ body, reason string }{
		{``, "empty or truncated"},
		{`{"a":1`, "empty or truncated"},
		{`{"a":1}{}`, "trailing data"},
		{`[1]`, "must be a JSON object, got an array"},
		{`"x"`, "got a string"},
		{`{"a":tru}`, "malformed JSON at byte 9"},
		{`{"a":1,}`, "malformed JSON at byte 8"},
		{"{\"a\":\"\xb2\xe2\"}", "not valid UTF-8"},
		{`{"a":` + strings.Repeat("[", 10001), "exceeded max depth"},
	} {
		_, err := parseTree([]byte(c.body))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != "body" || !strings.Contains(fe.Error(), c.reason) {
			t.Errorf("%.40q: %v, want a body error with %q", c.body, err, c.reason)
		}
	}
}

// FuzzScanMatchesEncodingJSON: on any bytes, scanTree accepts and refuses
// exactly like encoding/json and builds the same tree.
func FuzzScanMatchesEncodingJSON(f *testing.F) {
	seedFiles(f, "3101-outpatient.json", "3101-inpatient-discharge.json", "3101-admission.json", "3102-settlement.json")
	for _, c := range scanCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) { sameAsStd(t, body) })
}
