#!/usr/bin/env bash
# Refreshes internal/fraud/disposable_domains.txt from its upstream list
# (disposable-email-domains, CC0 1.0): run where the internet is reachable,
# review the diff, run `go test ./internal/fraud/ ./activities/`, and commit.
# Without the internet, edit the file by hand: one lowercase domain a line.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=disposable-email-domains/disposable-email-domains
ref=${1:-main}
out=internal/fraud/disposable_domains.txt
list=$(curl -fsSL "https://raw.githubusercontent.com/$repo/$ref/disposable_email_blocklist.conf")
commit=$(curl -fsSL -H 'Accept: application/vnd.github.sha' "https://api.github.com/repos/$repo/commits/$ref" || echo "$ref")
{
	echo "# Disposable (throwaway) email domains: a lead at one of these, or a subdomain of one, is the disposable_email fraud signal."
	echo "# Source: github.com/$repo, disposable_email_blocklist.conf at commit ${commit:0:12} ($(date -u +%Y-%m-%d)), CC0 1.0 (public domain)."
	echo "# Refresh: scripts/refresh-disposable-domains.sh (or replace the lines below by hand: one lowercase domain a line; # starts a comment)."
	printf '%s\n' "$list" | tr 'A-Z' 'a-z' | sed 's/[[:space:]]*$//' | grep -v '^$' | grep -v '^#' | LC_ALL=C sort -u
} >"$out.new"
mv "$out.new" "$out"
echo "$out: $(grep -vc '^#' "$out") domains"
