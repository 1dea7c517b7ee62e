package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/referflow/referflow/internal/dev/mailcatcher"
	"github.com/referflow/referflow/internal/email"
)

// devMailFrom is the sender of emails in `dev`.
const devMailFrom = "Referral program <referrals@referflow.localhost>"

// devMailCatcher is the mail catcher `dev` runs when no SMTP server is
// configured: its SMTP server on loopback, and its page.
type devMailCatcher struct {
	catcher *mailcatcher.Catcher
	page    *http.Server
	pageURL string
	// server is REFERFLOW_SMTP_URL as if set to the catcher.
	server *email.Server
}

// startDevMailCatcher starts the catcher's SMTP server on 127.0.0.1:port and
// its page on localhost:uiPort.
func startDevMailCatcher(port, uiPort int, logger *slog.Logger) (*devMailCatcher, error) {
	c, err := mailcatcher.Start(net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("%w (--mail-catcher-port, or set REFERFLOW_SMTP_URL)", err)
	}
	server, err := email.ParseServerURL(c.SMTPURL(devMailFrom))
	if err != nil {
		c.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(uiPort)))
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("mail catcher page: listen on port %d (--mail-catcher-ui-port): %w", uiPort, err)
	}
	d := &devMailCatcher{catcher: c, server: server, pageURL: "http://localhost:" + strconv.Itoa(uiPort),
		page: &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := d.page.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("mail catcher page stopped", "error", err.Error())
		}
	}()
	logger.Info("mail catcher started", "smtp", c.Addr(), "page", d.pageURL)
	return d, nil
}

func (d *devMailCatcher) stop(ctx context.Context) error {
	d.catcher.Close()
	return d.page.Shutdown(ctx)
}
