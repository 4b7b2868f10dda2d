package strictconf

import (
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Error is one problem at one key of the configuration.
type Error struct {
	// Path names the key: "engine.rules.DRUG_GENDER.action",
	// "plugins[1].timeout"; empty for the document as a whole.
	Path string
	// Line is the 1-based line of the key in the file; 0 when unknown (a
	// value set by a flag, or a key the file does not have).
	Line int
	// Msg says what is wrong and what is allowed.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are all the problems found, in file order.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(len(es)))
	b.WriteString(" errors:")
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

func (es Errors) sort() {
	slices.SortStableFunc(es, func(a, b *Error) int {
		if a.Line != b.Line {
			// Errors without a line (validation of defaults) come last.
			switch {
			case a.Line == 0:
				return 1
			case b.Line == 0:
				return -1
			}
			return a.Line - b.Line
		}
		return strings.Compare(a.Path, b.Path)
	})
}

// Validator is a configuration section that checks its own values. Its
// errors name keys relative to the section: either *Error (or Errors) with
// a relative Path, or plain errors whose text starts with the relative path
// and ": " ("timeout: want …", "rules.DRUG_GENDR: unknown rule type; …",
// "[1].sha256: …" for a list section); errors.Join them to report several.
// A package that owns a section needs no import of this one.
type Validator interface{ Validate() error }

// relPath recognises a plain error's leading relative key path.
var relPath = regexp.MustCompile(`^((?:\[[0-9]+\]|[A-Za-z0-9_-]+)(?:\.[A-Za-z0-9_-]+|\[[0-9]+\])*): `)

// Within flattens err (errors.Join trees, Errors) into Errors whose paths
// are below prefix. A plain error that does not start with a key path is
// reported at prefix itself.
func Within(prefix string, err error) Errors {
	var out Errors
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case Errors:
			for _, e := range e {
				walk(e)
			}
		case *Error:
			c := *e
			c.Path = under(prefix, e.Path)
			out = append(out, &c)
		case interface{ Unwrap() []error }:
			for _, err := range e.Unwrap() {
				walk(err)
			}
		default:
			msg := err.Error()
			if m := relPath.FindStringSubmatch(msg); m != nil {
				out = append(out, &Error{Path: under(prefix, m[1]), Msg: msg[len(m[0]):]})
				return
			}
			out = append(out, &Error{Path: prefix, Msg: msg})
		}
	}
	walk(err)
	return out
}

func under(prefix, rel string) string {
	switch {
	case rel == "":
		return prefix
	case prefix == "" || strings.HasPrefix(rel, "["):
		return prefix + rel
	case rel == prefix || strings.HasPrefix(rel, prefix+".") || strings.HasPrefix(rel, prefix+"["):
		// A section whose errors already name their full path (a package
		// that also validates outside this file, e.g. nhsa.Config).
		return rel
	}
	return prefix + "." + rel
}

// ValidateSections calls Validate on every field of the struct v (a
// pointer to it, so pointer-receiver Validate methods count too) that is a Validator, nil pointers left out,
// and reports their errors under the fields' keys. A section added to the
// configuration struct is validated by adding its field.
func ValidateSections(v any) Errors {
	rv := reflect.Indirect(reflect.ValueOf(v))
	var out Errors
	fields := Fields(rv.Type())
	for _, name := range sortedNames(fields) {
		f := rv.FieldByIndex(fields[name].Index)
		if f.Kind() == reflect.Pointer && f.IsNil() {
			continue
		}
		if f.Kind() != reflect.Pointer && f.CanAddr() {
			f = f.Addr() // a Validate with a pointer receiver counts too
		}
		if val, ok := f.Interface().(Validator); ok {
			out = append(out, Within(name, val.Validate())...)
		}
	}
	return out
}
