#!/usr/bin/env bash
# Installs what `make test` and `make dev` need and a fresh machine lacks:
# the pinned sqlc and Temporal CLI into bin/ (built from source through the
# Go module proxy, once; reused while the pinned version is there), and the
# PostgreSQL server binaries when no database is configured or running and
# none are installed. With --browser (`make browser`) also Debian's chromium
# and firefox-esr,
# which the browser suite (e2e/browser) drives headless, and npm, with which
# the suite installs axe-core. Safe to run again: it only does what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

WITH_BROWSER=
for arg in "$@"; do
	case "$arg" in
	--browser) WITH_BROWSER=1 ;;
	*)
		echo "install-tools: unknown argument '$arg' (known: --browser)" >&2
		exit 2
		;;
	esac
done

SQLC_VERSION="${SQLC_VERSION:-v1.31.1}"
# Newer Temporal CLIs cannot be built with `go install` (their go.mod has a
# replace directive); v1.5.1 embeds Temporal Server 1.29.1 and Web UI 2.42.1.
TEMPORAL_CLI_VERSION="${TEMPORAL_CLI_VERSION:-v1.5.1}"
BIN="$PWD/bin"
mkdir -p "$BIN"

# built_version prints the module version stamped into a Go binary, so a
# go-installed tool (whose --version may say 0.0.0-DEV) is checked exactly.
built_version() {
	go version -m "$1" 2>/dev/null | awk -v mod="$2" '$1 == "mod" && $2 == mod { print $3 }'
}

install_go_tool() { # name module/cmd/path module version
	local name=$1 pkg=$2 mod=$3 version=$4
	if [ -x "$BIN/$name" ] && [ "$(built_version "$BIN/$name" "$mod")" = "$version" ]; then
		return
	fi
	echo "install-tools: building $name $version into bin/ (once; a few minutes)" >&2
	GOBIN="$BIN" go install "$pkg@$version"
	local got
	got=$(built_version "$BIN/$name" "$mod")
	if [ "$got" != "$version" ]; then
		echo "install-tools: bin/$name reports version '$got', want $version" >&2
		exit 1
	fi
}

install_go_tool sqlc github.com/sqlc-dev/sqlc/cmd/sqlc github.com/sqlc-dev/sqlc "$SQLC_VERSION"
install_go_tool temporal github.com/temporalio/cli/cmd/temporal github.com/temporalio/cli "$TEMPORAL_CLI_VERSION"

# PostgreSQL: the tests use DATABASE_URL, else a local server that answers,
# else a private cluster started from the local binaries. Only the last case
# needs binaries installed here.
have_pg_binaries() {
	command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && return 0
	compgen -G "/usr/lib/postgresql/*/bin/pg_ctl" >/dev/null
}
local_pg_answers() {
	command -v pg_isready >/dev/null 2>&1 || return 1
	pg_isready -q -h /var/run/postgresql -t 2 || pg_isready -q -h 127.0.0.1 -p 5432 -t 2
}
if [ -z "${DATABASE_URL:-}" ] && ! have_pg_binaries && ! local_pg_answers; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-tools: PostgreSQL is not installed and no DATABASE_URL is set." >&2
		echo "install-tools: run: sudo apt-get install -y postgresql   (or set DATABASE_URL)" >&2
		exit 1
	fi
	echo "install-tools: installing PostgreSQL with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq postgresql >/dev/null
fi

# Chromium, for the browser suite only: Debian's package, never a browser
# build downloaded by a library (e2e/browser finds it on PATH or at
# /usr/bin/chromium).
have_chromium() {
	command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1
}
if [ -n "$WITH_BROWSER" ] && ! have_chromium; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-tools: Chromium is not installed; the browser suite needs it." >&2
		echo "install-tools: run: sudo apt-get install -y chromium" >&2
		exit 1
	fi
	echo "install-tools: installing Chromium with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq chromium >/dev/null
fi

# Firefox, for the browser suite only: Debian's firefox-esr, which the suite
# drives headless over WebDriver BiDi (internal/dev/browser/firefox.go) to
# check that the admin UI works in Firefox as in Chromium.
if [ -n "$WITH_BROWSER" ] && ! command -v firefox-esr >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-tools: Firefox is not installed; the browser suite needs it." >&2
		echo "install-tools: run: sudo apt-get install -y firefox-esr" >&2
		exit 1
	fi
	echo "install-tools: installing Firefox (firefox-esr) with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq firefox-esr >/dev/null
fi

# npm, for the browser suite only: it installs axe-core (the accessibility
# engine injected into each page) with npm once, into the user's cache
# folder (internal/dev/browser/axe.go).
if [ -n "$WITH_BROWSER" ] && ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-tools: npm is not installed; the browser suite's accessibility check needs it." >&2
		echo "install-tools: run: sudo apt-get install -y npm" >&2
		exit 1
	fi
	echo "install-tools: installing npm with apt-get" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq npm >/dev/null
fi
