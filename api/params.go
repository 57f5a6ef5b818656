package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
)

// encodeCursor makes an opaque keyset cursor from the last id of a page.
func encodeCursor(lastID int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("k" + strconv.FormatInt(lastID, 10)))
}

// decodeCursor reads the cursor parameter; absent is 0 (the first page).
func decodeCursor(r *http.Request) (int64, error) {
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err == nil && len(b) > 1 && b[0] == 'k' {
		if id, err := strconv.ParseInt(string(b[1:]), 10, 64); err == nil && id >= 0 {
			return id, nil
		}
	}
	return 0, fieldError("cursor", "Invalid cursor; use next_cursor from a previous page.")
}
