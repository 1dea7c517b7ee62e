package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/referflow/referflow/internal/config"
	"github.com/referflow/referflow/internal/personaldata"
)

const codecServerUsage = `Usage: referflow codec-server [--listen 127.0.0.1:8089] [--allow-origin http://localhost:8233]

Serves the personal-data codec to the Temporal Web UI: referflow seals each
person's email, name and HubSpot values in workflow histories with that
person's own key, so the Web UI shows them as {"$personal":...} until it is
pointed at this server (Web UI: Settings → Codec Server → this URL; or
temporal server start-dev --ui-codec-endpoint; or temporal workflow show
--codec-endpoint). Values of erased people stay unreadable. Anyone who
reaches this server reads every other person's data: it listens on loopback,
run it on the operator's machine or behind your own authentication.
Needs DATABASE_URL and REFERFLOW_ENCRYPTION_KEY. --allow-origin may be
repeated or comma-separated.
`

func runCodecServer(ctx context.Context, out streams, fs *flag.FlagSet, args []string) error {
	listen := fs.String("listen", "127.0.0.1:8089", "address to listen on")
	var origins []string
	fs.Func("allow-origin", "an origin (scheme://host:port) of the Temporal Web UI allowed to call this server (default http://localhost:8233)", func(s string) error {
		for o := range strings.SplitSeq(s, ",") {
			if o = strings.TrimSpace(o); o != "" {
				origins = append(origins, strings.TrimSuffix(o, "/"))
			}
		}
		return nil
	})
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if len(origins) == 0 {
		origins = []string{"http://localhost:8233", "http://127.0.0.1:8233"}
	}
	cfg, err := config.Load(config.Requirement{DatabaseURL: true, EncryptionKey: true})
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := requireMigrated(ctx, pool); err != nil {
		return err
	}
	keys, err := newKeyring(cfg, pool)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	logger := newLogger(cfg, out.stderr)
	srv := &http.Server{Handler: personaldata.CodecServer(&personaldata.Codec{Keys: keys}, origins), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	logger.Info("codec server listening", "url", "http://"+ln.Addr().String(), "allowed_origins", strings.Join(origins, ","))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
