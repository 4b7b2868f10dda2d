package nhsa

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/rxguard/rxguard/server/validate"
)

// FieldError is bad input at one national field path
// ("input.data.patient_dtos[0].fsi_encounter_dtos[1].fsi_order_dtos[2].cnt").
// The handler answers it with HTTP 400 and infcode -1; err_msg is
// Error().
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Reason }

func fieldErr(path, format string, args ...any) *FieldError {
	return &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)}
}

// Note is something the adapter did not judge or changed on the way in: a
// local diagnosis code dropped, a code/name pair swapped back, a date it
// could not read. Notes travel in output.ignored, never in err_msg (HIS
// callers treat a non-empty err_msg as failure).
type Note struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// maxNotes bounds output.ignored: an untidy payload of 200 lines must not
// answer with a reply larger than its request.
const maxNotes = 100

type notes struct {
	list    []Note
	omitted int
}

func (n *notes) add(path, format string, args ...any) {
	if len(n.list) >= maxNotes {
		n.omitted++
		return
	}
	n.list = append(n.list, Note{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// parseTree decodes a JSON body into a generic tree (objects, arrays,
// json.Number, strings, bools, nil). A generic tree rather than structs,
// because real HIS payloads put numbers where strings are usual and the
// reverse, and because every error must name its path with indices, which
// encoding/json's struct errors do not. scanTree (scan.go) builds it.
func parseTree(body []byte) (map[string]any, error) {
	if !utf8.Valid(body) {
		return nil, fieldErr("body", "请求体须为UTF-8编码的JSON (body is not valid UTF-8; send UTF-8, not GBK)")
	}
	v, err := scanTree(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr("body", "请求体须为JSON对象 (body must be a JSON object, got %s)", kindOf(v))
	}
	return m, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// object reads m[key] as an object: absent or null is nil.
func object(m map[string]any, key, path string) (map[string]any, error) {
	switch v := m[key].(type) {
	case nil:
		return nil, nil
	case map[string]any:
		return v, nil
	default:
		return nil, fieldErr(join(path, key), "应为对象 (must be an object, got %s)", kindOf(v))
	}
}

// array reads m[key] as an array of objects: absent or null is empty, and
// a lone object is taken as a list of one (some HIS serialise one-element
// lists that way). Null elements are skipped.
func array(m map[string]any, key, path string) ([]map[string]any, []string, error) {
	p := join(path, key)
	var list []any
	switch v := m[key].(type) {
	case nil:
		return nil, nil, nil
	case map[string]any:
		return []map[string]any{v}, []string{index(p, 0)}, nil
	case []any:
		list = v
	default:
		return nil, nil, fieldErr(p, "应为数组 (must be an array, got %s)", kindOf(v))
	}
	out := make([]map[string]any, 0, len(list))
	paths := make([]string, 0, len(list))
	for i, e := range list {
		switch o := e.(type) {
		case nil:
		case map[string]any:
			out = append(out, o)
			paths = append(paths, index(p, i))
		default:
			return nil, nil, fieldErr(index(p, i), "应为对象 (must be an object, got %s)", kindOf(e))
		}
	}
	return out, paths, nil
}

// str reads m[key] as text: absent or null is "", a number is its literal
// text (a code sent as a number), a boolean "1" or "0". Surrounding white
// space (fixed-width columns) is trimmed.
func str(m map[string]any, key, path string) (string, error) {
	switch v := m[key].(type) {
	case nil:
		return "", nil
	case string:
		return strings.TrimSpace(v), nil
	case json.Number:
		return v.String(), nil
	case bool:
		if v {
			return "1", nil
		}
		return "0", nil
	default:
		return "", fieldErr(join(path, key), "应为字符串或数字 (must be a string or number, got %s)", kindOf(v))
	}
}

// num reads m[key] as a number: a JSON number or a numeric string; absent,
// null and "" are absent (ok false). Anything else is an error: a quantity
// the adapter cannot read must not be judged as 0.
func num(m map[string]any, key, path string) (v float64, ok bool, err error) {
	var s string
	switch x := m[key].(type) {
	case nil:
		return 0, false, nil
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
		if s == "" {
			return 0, false, nil
		}
	default:
		return 0, false, fieldErr(join(path, key), "应为数字 (must be a number, got %s)", kindOf(x))
	}
	f, perr := strconv.ParseFloat(s, 64)
	if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fieldErr(join(path, key), "应为数字 (must be a number): got %q", validate.Clip(s))
	}
	return f, true, nil
}
