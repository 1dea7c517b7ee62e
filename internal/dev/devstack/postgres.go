// Package devstack finds or starts the services referflow needs on a laptop or
// a CI machine: a PostgreSQL server and the pinned Temporal CLI's dev server.
// `referflow dev` and the test harness both use it, so what a developer runs is
// what the tests run.
package devstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPostgresPort is the port of the private cluster. It is not 5432 so
// that it never collides with a system PostgreSQL the developer may install
// later.
const DefaultPostgresPort = 54329

// DefaultDatabase is used when PostgresOptions.Database is empty.
const DefaultDatabase = "referflow"

// localProbeBudget bounds the whole search for a local server, so that a
// machine with nothing running falls through to the private cluster at once.
const localProbeBudget = 2 * time.Second

// PostgresOptions says where to look for PostgreSQL and what to start when
// none is found.
type PostgresOptions struct {
	// DatabaseURL is DATABASE_URL. When set it is used as it is and nothing
	// is discovered or started.
	DatabaseURL string
	// Database is the database to use (created when absent) on a discovered
	// local server or a private cluster, e.g. "referflow" or "referflow_test".
	Database string
	// DataDir holds the private cluster (DataDir/postgres) when one is needed.
	DataDir string
	// Port of the private cluster; 0 means the default.
	Port int
	// Install allows `apt-get install postgresql` when no binaries are found.
	Install bool
	// SkipLocalServer skips looking for an already running local server and
	// goes straight to the private cluster. Tests use it to exercise the
	// private cluster on machines that also run a system PostgreSQL.
	SkipLocalServer bool
	// Logger receives progress (what was found, initdb, start); nil discards.
	Logger *slog.Logger
}

// Postgres is a reachable PostgreSQL database.
type Postgres struct {
	// URL connects to Database.
	URL string
	// Source tells a person where the database came from.
	Source string
	stop   func(context.Context) error
}

// EnsurePostgres returns a reachable database: DATABASE_URL when set, else a
// local server that answers, else a private cluster started from the local
// PostgreSQL binaries under DataDir.
//
// The order means a developer who already runs PostgreSQL gets it used, and one
// who runs nothing still gets a working database without Docker.
func EnsurePostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DatabaseURL != "" {
		return &Postgres{URL: opts.DatabaseURL, Source: "DATABASE_URL"}, nil
	}
	if opts.Database == "" {
		opts.Database = DefaultDatabase
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if !opts.SkipLocalServer {
		p, err := useLocalServer(ctx, opts, defaultLocalTargets())
		if err != nil || p != nil {
			return p, err
		}
		opts.Logger.Info("no local PostgreSQL server answered; using a private cluster", "data_dir", opts.DataDir)
	}
	return startPrivateCluster(ctx, opts)
}

// Stop stops a private cluster that EnsurePostgres started; otherwise it does nothing.
func (p *Postgres) Stop(ctx context.Context) error {
	if p.stop == nil {
		return nil
	}
	return p.stop(ctx)
}

// FindRepoRoot walks up from dir to the directory whose go.mod declares the
// referflow module. `referflow dev` and the tests use it to find the git-ignored
// bin/ and .data/ folders wherever they are started from inside the checkout.
func FindRepoRoot(dir string) (string, error) {
	const modulePath = "github.com/referflow/referflow"
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("devstack: find repository root: %w", err)
	}
	for d := abs; ; {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && goModModule(data) == modulePath {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("devstack: no go.mod declaring module %s in %s or any parent; run this from inside the referflow checkout", modulePath, abs)
		}
		d = parent
	}
}

// goModModule returns the module path declared in a go.mod file.
func goModModule(data []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		rest, ok := strings.CutPrefix(line, "module")
		if !ok || (rest != "" && rest[0] != ' ' && rest[0] != '\t') {
			continue
		}
		return strings.Trim(strings.TrimSpace(rest), `"`+"`")
	}
	return ""
}

// pgTarget is one way to reach a server: a TCP host or a unix socket directory.
type pgTarget struct {
	Host string // IP address, or an absolute unix socket directory
	Port int
	User string
}

func (t pgTarget) isSocket() bool { return strings.HasPrefix(t.Host, "/") }

// where names the server for people, e.g. "127.0.0.1:5432" or "/var/run/postgresql".
func (t pgTarget) where() string {
	if t.isSocket() {
		if t.Port == 5432 {
			return t.Host
		}
		return fmt.Sprintf("%s (port %d)", t.Host, t.Port)
	}
	return net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
}

// url returns a pgx/libpq URL to database db.
func (t pgTarget) url(db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(t.User), Path: "/" + db}
	q := url.Values{}
	if t.isSocket() {
		q.Set("host", t.Host)
		q.Set("port", strconv.Itoa(t.Port))
	} else {
		u.Host = net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	}
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String()
}

// connect opens a connection to database db. pgx still reads PGPASSWORD and
// ~/.pgpass, which a developer's own server may need.
func (t pgTarget) connect(ctx context.Context, db string, timeout time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(t.url(db))
	if err != nil {
		return nil, err
	}
	cfg.ConnectTimeout = timeout
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return pgx.ConnectConfig(cctx, cfg)
}

// defaultLocalTargets lists where a developer's own server usually listens,
// as the conventional superuser and as the current OS user (Homebrew, and
// Debian users who ran `createuser -s $USER`).
func defaultLocalTargets() []pgTarget {
	users := []string{"postgres"}
	if u := currentUserName(); u != "" && u != "postgres" {
		users = append(users, u)
	}
	var targets []pgTarget
	for _, host := range []string{"/var/run/postgresql", "/tmp", "127.0.0.1"} {
		for _, u := range users {
			targets = append(targets, pgTarget{Host: host, Port: 5432, User: u})
		}
	}
	return targets
}

func currentUserName() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}

// useLocalServer returns a database on the first target that accepts a
// connection, or nil, nil when none does within localProbeBudget.
func useLocalServer(ctx context.Context, opts PostgresOptions, targets []pgTarget) (*Postgres, error) {
	pctx, cancel := context.WithTimeout(ctx, localProbeBudget)
	defer cancel()
	for _, t := range targets {
		if t.isSocket() {
			// A missing socket file means no server there; skip without a dial.
			if _, err := os.Stat(filepath.Join(t.Host, fmt.Sprintf(".s.PGSQL.%d", t.Port))); err != nil {
				continue
			}
		}
		remaining := time.Until(deadlineOf(pctx))
		if remaining <= 0 {
			break
		}
		conn, err := t.connect(pctx, "postgres", min(remaining, time.Second))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			opts.Logger.Debug("no usable PostgreSQL here", "at", t.where(), "user", t.User, "err", err)
			continue
		}
		err = ensureDatabase(ctx, conn, opts.Database)
		conn.Close(context.WithoutCancel(ctx))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42501" { // insufficient_privilege
			opts.Logger.Warn("local PostgreSQL answers but this user may not create databases; trying the next option",
				"at", t.where(), "user", t.User, "database", opts.Database)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("devstack: local PostgreSQL server at %s (user %s): %w", t.where(), t.User, err)
		}
		src := "local server at " + t.where()
		opts.Logger.Info("using PostgreSQL", "source", src, "database", opts.Database)
		return &Postgres{URL: t.url(opts.Database), Source: src}, nil
	}
	return nil, nil
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// ensureDatabase creates database name unless it exists. Two processes (say
// `referflow dev` and a test run) may race to create it; the loser gets
// 42P04 duplicate_database (or a unique violation on pg_database), which
// means the database is there, as wanted.
func ensureDatabase(ctx context.Context, conn *pgx.Conn, name string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	_, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// pgBins are the server binaries a private cluster needs.
type pgBins struct {
	initdb, pgCtl string
}

// findPostgresBins looks for initdb and pg_ctl: first the major version that
// created an existing data folder (wantMajor, may be empty), then
// `pg_config --bindir`, then the newest /usr/lib/postgresql/*/bin (Debian
// installs server binaries there, off PATH), then PATH.
func findPostgresBins(wantMajor string) (pgBins, bool) {
	var dirs []string
	if wantMajor != "" {
		dirs = append(dirs, filepath.Join("/usr/lib/postgresql", wantMajor, "bin"))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	dirs = append(dirs, debianBinDirs()...)
	for _, d := range dirs {
		b := pgBins{initdb: filepath.Join(d, "initdb"), pgCtl: filepath.Join(d, "pg_ctl")}
		if isExecutable(b.initdb) && isExecutable(b.pgCtl) && isExecutable(filepath.Join(d, "postgres")) {
			return b, true
		}
	}
	initdb, err1 := exec.LookPath("initdb")
	pgCtl, err2 := exec.LookPath("pg_ctl")
	if err1 == nil && err2 == nil {
		return pgBins{initdb: initdb, pgCtl: pgCtl}, true
	}
	return pgBins{}, false
}

// debianBinDirs returns /usr/lib/postgresql/*/bin, newest version first.
func debianBinDirs() []string {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(p string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(p)), 64)
		return v
	}
	sort.SliceStable(matches, func(i, j int) bool { return version(matches[i]) > version(matches[j]) })
	return matches
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// installPostgres installs the Debian package. Only root may do it; everyone
// else is told the command to run, because a tool that silently asks for sudo
// is worse than one that explains.
func installPostgres(ctx context.Context, logger *slog.Logger) error {
	const hint = "install PostgreSQL with `sudo apt-get install -y postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS), or set DATABASE_URL to a server you already have"
	if os.Geteuid() != 0 {
		return fmt.Errorf("devstack: no PostgreSQL server binaries found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH) and not running as root: %s", hint)
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return fmt.Errorf("devstack: no PostgreSQL server binaries found and apt-get is not available: %s", hint)
	}
	for _, args := range [][]string{{"update"}, {"install", "-y", "postgresql"}} {
		logger.Info("installing PostgreSQL", "command", "apt-get "+strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("devstack: apt-get %s failed: %w\n%s\nfix the problem above, or %s", strings.Join(args, " "), err, lastLines(string(out), 20), hint)
		}
	}
	return nil
}

// cluster is a private PostgreSQL cluster under DataDir.
type cluster struct {
	dataDir string // the user's DataDir
	pgData  string // DataDir/postgres
	sockDir string
	logFile string // DataDir/postgres.log
	port    int
	bins    pgBins
	asRoot  bool // run the binaries through runuser as the postgres OS user
	logger  *slog.Logger
}

// startPrivateCluster initialises (once) and starts a cluster under
// opts.DataDir, or reuses it when it is already running.
func startPrivateCluster(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.DataDir == "" {
		return nil, errors.New("devstack: no local PostgreSQL server answered and PostgresOptions.DataDir is empty, so no private cluster can be created; set DATABASE_URL or a data folder")
	}
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	dataDir := c.dataDir
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("devstack: create data folder: %w", err)
	}
	// Two processes on one folder (`referflow dev` and `go test`) must not
	// both run initdb or pg_ctl start.
	unlock, err := lockFile(ctx, filepath.Join(dataDir, "postgres.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	major := readTrim(filepath.Join(c.pgData, "PG_VERSION"))
	bins, ok := findPostgresBins(major)
	if !ok {
		if !opts.Install {
			return nil, errors.New("devstack: no local PostgreSQL server answered and no PostgreSQL server binaries were found (looked at pg_config --bindir, /usr/lib/postgresql/*/bin and PATH); install them with `sudo apt-get install -y postgresql` (Debian/Ubuntu) or `brew install postgresql` (macOS), or set DATABASE_URL")
		}
		if err := installPostgres(ctx, opts.Logger); err != nil {
			return nil, err
		}
		if bins, ok = findPostgresBins(major); !ok {
			return nil, errors.New("devstack: apt-get install postgresql succeeded but initdb and pg_ctl are still not found under /usr/lib/postgresql/*/bin or on PATH")
		}
	}
	c.bins = bins
	if err := c.prepareDirs(ctx); err != nil {
		return nil, err
	}

	if running, port := c.running(ctx); running {
		t := pgTarget{Host: "127.0.0.1", Port: port, User: "postgres"}
		if err := c.createDatabase(ctx, t, opts.Database); err != nil {
			return nil, err
		}
		src := fmt.Sprintf("private cluster in %s on %s (already running; left running)", c.pgData, t.where())
		opts.Logger.Info("using PostgreSQL", "source", src, "database", opts.Database)
		return &Postgres{URL: t.url(opts.Database), Source: src}, nil
	}

	t := pgTarget{Host: "127.0.0.1", Port: c.port, User: "postgres"}
	if conn, err := t.connect(ctx, "postgres", time.Second); err == nil {
		conn.Close(ctx)
		return nil, fmt.Errorf("devstack: port %d already has a PostgreSQL server that is not the private cluster in %s; stop it, or choose another port for the private cluster", c.port, c.pgData)
	}

	start := time.Now()
	if major == "" {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	if err := c.createDatabase(ctx, t, opts.Database); err != nil {
		_ = c.stop(context.WithoutCancel(ctx))
		return nil, err
	}
	src := fmt.Sprintf("private cluster in %s on %s", c.pgData, t.where())
	opts.Logger.Info("started PostgreSQL", "source", src, "database", opts.Database, "took", time.Since(start).Round(time.Millisecond))
	return &Postgres{URL: t.url(opts.Database), Source: src, stop: onceStop(c.stop)}, nil
}

// newCluster describes the private cluster under opts.DataDir.
func newCluster(opts PostgresOptions) (*cluster, error) {
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("devstack: data folder: %w", err)
	}
	c := &cluster{
		dataDir: dataDir,
		pgData:  filepath.Join(dataDir, "postgres"),
		logFile: filepath.Join(dataDir, "postgres.log"),
		port:    opts.Port,
		asRoot:  os.Geteuid() == 0,
		logger:  opts.Logger,
	}
	if c.port == 0 {
		c.port = DefaultPostgresPort
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.sockDir = socketDir(dataDir, c.port)
	return c, nil
}

// removePrivateCluster stops the private cluster under opts.DataDir when it
// runs and deletes it with its socket folder, log and lock file.
func removePrivateCluster(ctx context.Context, opts PostgresOptions) ([]string, error) {
	c, err := newCluster(opts)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(c.pgData); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	unlock, err := lockFile(ctx, filepath.Join(c.dataDir, "postgres.lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if bins, ok := findPostgresBins(readTrim(filepath.Join(c.pgData, "PG_VERSION"))); ok {
		c.bins = bins
		if running, _ := c.running(ctx); running {
			if err := c.stop(ctx); err != nil {
				return nil, err
			}
		}
	} else if readTrim(filepath.Join(c.pgData, "postmaster.pid")) != "" {
		return nil, fmt.Errorf("devstack: the private cluster in %s may be running and pg_ctl is not found to stop it; stop it, then delete the folder", c.pgData)
	}
	var removed []string
	for _, p := range []string{c.pgData, c.sockDir, c.logFile, filepath.Join(c.dataDir, "postgres.lock")} {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := os.RemoveAll(p); err != nil {
			return removed, fmt.Errorf("devstack: remove %s: %w", p, err)
		}
		removed = append(removed, p)
	}
	return removed, nil
}

// socketDir is the unix socket folder inside dataDir, or a short one under
// the temp folder when dataDir is too deep for a socket path (108 bytes).
func socketDir(dataDir string, port int) string {
	d := filepath.Join(dataDir, "postgres-run")
	if len(d)+len(fmt.Sprintf("/.s.PGSQL.%d.lock", port)) < 100 {
		return d
	}
	h := fnv32(dataDir)
	return filepath.Join(os.TempDir(), fmt.Sprintf("referflow-pg-%08x", h))
}

func fnv32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// prepareDirs creates the cluster's folders. As root the server runs as the
// postgres OS user (PostgreSQL refuses to run as root), which needs to own
// them and to traverse every parent folder.
func (c *cluster) prepareDirs(ctx context.Context) error {
	for _, d := range []string{c.pgData, c.sockDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("devstack: create %s: %w", d, err)
		}
	}
	// The server's log is appended by the server (pg_ctl -l), so it must be
	// writable by it.
	f, err := os.OpenFile(c.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("devstack: create %s: %w", c.logFile, err)
	}
	f.Close()
	if !c.asRoot {
		return nil
	}
	uid, gid, err := ensurePostgresUser(ctx)
	if err != nil {
		return err
	}
	for _, p := range []string{c.pgData, c.sockDir, c.logFile} {
		if err := chownR(p, uid, gid); err != nil {
			return fmt.Errorf("devstack: give %s to the postgres OS user: %w", p, err)
		}
	}
	for _, p := range []string{c.dataDir, c.sockDir} {
		if err := makeTraversable(p, c.logger); err != nil {
			return err
		}
	}
	return nil
}

// ensurePostgresUser returns the postgres OS user's ids, creating a system
// user when it is missing (a machine with no PostgreSQL package installed).
func ensurePostgresUser(ctx context.Context) (int, int, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		out, err := exec.CommandContext(ctx, "useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
		if err != nil {
			return 0, 0, fmt.Errorf("devstack: PostgreSQL refuses to run as root and creating the postgres OS user failed (useradd --system postgres): %w: %s", err, strings.TrimSpace(string(out)))
		}
		if u, err = user.Lookup("postgres"); err != nil {
			return 0, 0, fmt.Errorf("devstack: look up the postgres OS user after creating it: %w", err)
		}
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("devstack: postgres OS user has non-numeric ids %q/%q", u.Uid, u.Gid)
	}
	return uid, gid, nil
}

func chownR(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// makeTraversable adds the "others may traverse" bit (o+x, not o+r) to p and
// each parent that lacks it, so the postgres OS user can reach its folder.
func makeTraversable(p string, logger *slog.Logger) error {
	for d := p; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("devstack: %w", err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			logger.Info("letting the postgres OS user traverse a folder (chmod o+x)", "folder", d)
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("devstack: PostgreSQL runs as the postgres OS user and cannot reach %s; chmod o+x %s failed: %w", p, d, err)
			}
		}
		if parent := filepath.Dir(d); parent == d {
			return nil
		}
	}
}

// command runs a PostgreSQL binary, through `runuser -u postgres` as root.
func (c *cluster) command(ctx context.Context, bin string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if c.asRoot {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	// A folder the postgres OS user can enter; root's working folder may not be.
	cmd.Dir = c.dataDir
	// The server started by pg_ctl must not keep our pipes open.
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

func (c *cluster) initdb(ctx context.Context) error {
	if entries, _ := os.ReadDir(c.pgData); len(entries) > 0 {
		return fmt.Errorf("devstack: %s is not empty but has no PG_VERSION (an interrupted initdb?); remove it and run again", c.pgData)
	}
	c.logger.Info("creating a private PostgreSQL cluster (initdb)", "folder", c.pgData)
	out, err := c.command(ctx, c.bins.initdb, "-D", c.pgData, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C").CombinedOutput()
	if err != nil {
		return fmt.Errorf("devstack: initdb %s failed: %w\n%s\nremove %s and run again; if it fails again, set DATABASE_URL to a server you have", c.pgData, err, lastLines(string(out), 20), c.pgData)
	}
	return nil
}

func (c *cluster) start(ctx context.Context) error {
	logStart := fileSize(c.logFile)
	serverOpts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", c.port, shellQuote(c.sockDir))
	out, err := c.command(ctx, c.bins.pgCtl, "-D", c.pgData, "-w", "-t", "60", "-l", c.logFile, "-o", serverOpts, "start").CombinedOutput()
	if err != nil {
		return fmt.Errorf("devstack: starting the private PostgreSQL cluster in %s on port %d failed: %w\n%s\nlast lines of %s:\n%s\nif the port is in use, stop what uses it or choose another port",
			c.pgData, c.port, err, strings.TrimSpace(string(out)), c.logFile, tailFile(c.logFile, logStart, 20))
	}
	return nil
}

func (c *cluster) stop(ctx context.Context) error {
	out, err := c.command(ctx, c.bins.pgCtl, "-D", c.pgData, "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("devstack: stopping the private PostgreSQL cluster in %s failed: %w: %s (see %s)", c.pgData, err, strings.TrimSpace(string(out)), c.logFile)
	}
	c.logger.Info("stopped PostgreSQL", "folder", c.pgData)
	return nil
}

// running reports whether the cluster already runs (started by an earlier or
// a concurrent process) and on which port it listens.
func (c *cluster) running(ctx context.Context) (bool, int) {
	if err := c.command(ctx, c.bins.pgCtl, "-D", c.pgData, "status").Run(); err != nil {
		return false, 0 // exit 3: not running; 4: no data folder
	}
	port := c.port
	// postmaster.pid: line 4 is the port the running server listens on.
	if lines := strings.Split(readTrim(filepath.Join(c.pgData, "postmaster.pid")), "\n"); len(lines) >= 4 {
		if p, err := strconv.Atoi(strings.TrimSpace(lines[3])); err == nil {
			port = p
		}
	}
	conn, err := pgTarget{Host: "127.0.0.1", Port: port, User: "postgres"}.connect(ctx, "postgres", 2*time.Second)
	if err != nil {
		return false, 0
	}
	conn.Close(ctx)
	return true, port
}

func (c *cluster) createDatabase(ctx context.Context, t pgTarget, db string) error {
	conn, err := t.connect(ctx, "postgres", 5*time.Second)
	if err != nil {
		return fmt.Errorf("devstack: connect to the private PostgreSQL cluster on %s: %w (see %s)", t.where(), err, c.logFile)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := ensureDatabase(ctx, conn, db); err != nil {
		return fmt.Errorf("devstack: private PostgreSQL cluster on %s: %w", t.where(), err)
	}
	return nil
}

// lockFile takes an exclusive flock on path, waiting while ctx allows.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devstack: open lock file: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("devstack: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("devstack: waiting for another process to finish setting up %s: %w", filepath.Dir(path), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// onceStop makes Stop safe to call more than once, from any goroutine.
func onceStop(stop func(context.Context) error) func(context.Context) error {
	var (
		mu   sync.Mutex
		done bool
		err  error
	)
	return func(ctx context.Context) error {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			done = true
			err = stop(ctx)
		}
		return err
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// tailFile returns the last n lines written to path after offset from.
func tailFile(path string, from int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	defer f.Close()
	const maxRead = 64 << 10
	size := fileSize(path)
	if size-from > maxRead {
		from = size - maxRead
	}
	if from < 0 || from > size {
		from = 0
	}
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return "(" + err.Error() + ")"
	}
	b, _ := io.ReadAll(io.LimitReader(f, maxRead))
	s := lastLines(string(b), n)
	if s == "" {
		return "(empty)"
	}
	return s
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
