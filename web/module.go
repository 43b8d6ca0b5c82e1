package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strconv"
	"time"
)

// The browser client's paths: the module and its types, at the root so
// that pages anywhere import it as "https://hub.example.com/ssehub.js".
const (
	modulePath      = "/ssehub.js"
	moduleTypesPath = "/ssehub.d.ts"
)

// moduleMaxAge is how long a browser uses its copy of the module without
// asking; after that the ETag makes the question cheap.
const moduleMaxAge = time.Hour

// file is an embedded file served with a strong ETag of its content.
type file struct {
	name, contentType, etag string
	body                    []byte
}

func readFile(static fs.FS, name, contentType string) (file, error) {
	b, err := fs.ReadFile(static, name)
	if err != nil {
		return file{}, err
	}
	sum := sha256.Sum256(b)
	return file{name: name, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:12]) + `"`, body: b}, nil
}

// serve answers with the file, or 304 to a request that has it. Any origin
// may load it: it is public, and a module script on another origin is
// fetched with CORS.
func (f file) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(moduleMaxAge/time.Second)))
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
