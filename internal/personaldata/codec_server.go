package personaldata

import (
	"net/http"
	"slices"

	"go.temporal.io/sdk/converter"
)

// CodecServer is the HTTP codec server the Temporal Web UI (and `temporal
// workflow show --codec-endpoint`) calls to show sealed values: POST
// /decode and /encode with Temporal's remote-codec protocol, run by
// `referflow codec-server`. It answers CORS only to the allowed origins
// (the Web UI's); whoever can reach it reads every person's data that is
// not erased, so it listens on loopback unless an operator decides
// otherwise.
func CodecServer(codec *Codec, allowedOrigins []string) http.Handler {
	inner := converter.NewPayloadCodecHTTPHandler(codec)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" {
			if !slices.Contains(allowedOrigins, origin) {
				http.Error(w, "origin not allowed: start referflow codec-server with --allow-origin "+origin, http.StatusForbidden)
				return
			}
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "POST")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", "POST")
			http.Error(w, "POST /decode or /encode", http.StatusMethodNotAllowed)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 16<<20)
		inner.ServeHTTP(w, r)
	})
}
