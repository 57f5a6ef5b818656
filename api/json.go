package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// maxBodyBytes bounds every request body.
const maxBodyBytes = 64 << 10

var (
	errUnsupportedMediaType = &Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Detail: "Content-Type must be application/json."}
	errBodyTooLarge         = &Error{Status: http.StatusRequestEntityTooLarge, Code: "request_too_large", Detail: "The request body is larger than 64 KiB."}
)

func malformed(detail string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: "malformed_json", Detail: detail}
}

// decodeJSON reads r's body into dst, a pointer to a struct, by the
// conventions of API.md: application/json only, at most 64 KiB, valid UTF-8
// without a byte-order mark, one JSON object with no duplicate keys and
// nothing after it. Field names match exactly: a key that differs from a
// field's name only in case is an unknown field, and unknown fields are
// ignored. A value of the wrong type is a field error.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
		return errUnsupportedMediaType
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return errUnsupportedMediaType
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errBodyTooLarge
		}
		return malformed("The request body could not be read.")
	}
	return decodeBytes(body, dst)
}

func decodeBytes(body []byte, dst any) error {
	if bytes.HasPrefix(body, []byte("\xef\xbb\xbf")) {
		return malformed("The request body must not start with a byte-order mark.")
	}
	if !utf8.Valid(body) {
		return malformed("The request body is not valid UTF-8.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return malformed("The request body is empty; a JSON object is required.")
	}
	if err := checkJSON(body); err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		return malformed("The request body must be a JSON object.")
	}
	// encoding/json matches names case-insensitively; the contract says
	// exactly. Drop every key that is not exactly a field's name.
	names := jsonNames(reflect.TypeOf(dst).Elem())
	for k := range obj {
		if !names[k] {
			delete(obj, k)
		}
	}
	exact, _ := json.Marshal(obj)
	if err := json.Unmarshal(exact, dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return fieldError(typeErr.Field, "Expected "+jsonKind(typeErr.Type)+".")
		}
		var fe *Error
		if errors.As(err, &fe) {
			return fe
		}
		return malformed("The request body is not valid JSON for this endpoint.")
	}
	return nil
}

// checkJSON walks the whole document once: it must be one well-formed value
// with no key repeated in any object and nothing after it.
func checkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walkValue(dec); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return malformed("Unexpected data after the JSON object.")
	}
	return nil
}

func walkValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return malformed("Malformed JSON.")
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	switch delim {
	case '{':
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return malformed("Malformed JSON.")
			}
			key, _ := kt.(string)
			if seen[key] {
				return malformed(fmt.Sprintf("Duplicate key %q in JSON object.", key))
			}
			seen[key] = true
			if err := walkValue(dec); err != nil {
				return err
			}
		}
	case '[':
		for dec.More() {
			if err := walkValue(dec); err != nil {
				return err
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return malformed("Malformed JSON.")
	}
	return nil
}

// jsonNames is the set of exact JSON member names of struct type t.
func jsonNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("json"); ok {
			if tag == "-" {
				continue
			}
			if n, _, _ := strings.Cut(tag, ","); n != "" {
				name = n
			}
		}
		names[name] = true
	}
	return names
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another type"
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		buf.WriteString(`{"detail":"Internal server error","code":"internal"}` + "\n")
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
