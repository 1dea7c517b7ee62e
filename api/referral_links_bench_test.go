package api

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/referflow/referflow/activities"
	"github.com/referflow/referflow/internal/dev/testenv"
)

// benchLinkMembers is how many members' links the benchmark follows, in turn.
const benchLinkMembers = 1000

// benchLinkClients is how many clients follow links at once.
const benchLinkClients = 32

// BenchmarkReferralLinkRedirect follows referral links over real loopback
// HTTP through the whole server (routing, logging, metrics, the member and
// campaign lookup, the click buffered and written in batches, the cookie,
// the redirect), benchLinkClients clients at once with keep-alive, against
// local Postgres, the server with its production settings. It reports
// redirects per second and the p50 and p99 of one redirect as the clients
// saw it: "saturated" sends the next request as soon as a client has its
// answer (the most the machine does, its latency mostly queueing);
// "paced-5000" starts requests at 5,000 a second and measures each from the
// moment it was due, so a server falling behind shows in the p99.
func BenchmarkReferralLinkRedirect(b *testing.B) {
	b.Run("saturated", func(b *testing.B) { benchReferralLinks(b, 0) })
	b.Run("paced-5000", func(b *testing.B) { benchReferralLinks(b, 5000) })
}

func benchReferralLinks(b *testing.B, rate int) {
	d := testenv.NewDatabase(b)
	ctx := context.Background()
	fx := d.SeedReferral(b)
	if _, err := d.Pool.Exec(ctx, `
		INSERT INTO members (workspace_id, campaign_id, referral_code, email, source)
		SELECT $1, $2, 'BENCH-' || g, 'member' || g || '@example.com', 'api'
		FROM generate_series(1, $3::int) g`, fx.Workspace.ID, fx.Campaign.ID, benchLinkMembers); err != nil {
		b.Fatal(err)
	}
	s, err := activities.CampaignSettings(fx.Campaign)
	if err != nil {
		b.Fatal(err)
	}
	s.Public.LandingURL = "https://shop.example/welcome?utm_source=referral#top"
	d.SetCampaignSettings(b, fx.Campaign, s)
	if _, err := d.Pool.Exec(ctx, `ANALYZE members`); err != nil {
		b.Fatal(err)
	}

	public, _ := url.Parse("https://refer.acme.test")
	srv := New(Deps{Pool: d.Pool, Logger: slog.New(slog.DiscardHandler), PublicURL: public, EncryptionKey: testEncryptionKey})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	serveCtx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln, 5*time.Second) }()
	base := "http://" + ln.Addr().String() + "/r/BENCH-"
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: benchLinkClients, DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	follow := func(i int) error {
		resp, err := client.Get(base + fmt.Sprint(1+i%benchLinkMembers))
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound {
			return fmt.Errorf("referral link = %d", resp.StatusCode)
		}
		return nil
	}
	// Warm the connections, the prepared statements and the lookups: every
	// link once.
	for i := range benchLinkMembers {
		if err := follow(i); err != nil {
			b.Fatal(err)
		}
	}
	srv.clicks.flush()
	var before int64
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM clicks`).Scan(&before); err != nil {
		b.Fatal(err)
	}

	latencies := make([][]time.Duration, benchLinkClients)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range benchLinkClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				t0 := time.Now()
				if rate > 0 {
					t0 = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					time.Sleep(time.Until(t0))
				}
				if err := follow(i); err != nil {
					failed.Store(err)
					return
				}
				latencies[c] = append(latencies[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "redirects/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")

	stop()
	if err := <-served; err != nil {
		b.Fatal(err)
	}
	var after int64
	if err := d.Pool.QueryRow(ctx, `SELECT count(*) FROM clicks`).Scan(&after); err != nil {
		b.Fatal(err)
	}
	if after-before != int64(b.N) {
		b.Errorf("%d clicks written for %d redirects", after-before, b.N)
	}
}
