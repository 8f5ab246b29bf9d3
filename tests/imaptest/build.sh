#!/usr/bin/env bash
# Builds Dovecot's imaptest (its IMAP conformance and stress tool) from the source kept in
# ../shared/tools/imaptest, once per source commit, into the CI cache outside the clone,
# and prints the folder holding `imaptest` and its scripted tests (`tests/`).
#
# The recipe is the one in ../shared/tools/imaptest/README.md: Debian's Dovecot 2.3
# headers and library (dovecot-dev, dovecot-core), autotools, and `, NULL` added to the
# three `imap_parser_create` calls for bookworm's libdovecot.
#
# Usage: build.sh SHARED_DIR. Exit 2, with the reason on stderr, when the source is absent.
set -euo pipefail

shared=${1:?usage: build.sh SHARED_DIR}
source_dir="$shared/tools/imaptest"
tarball="$source_dir/imaptest-release-2.3.tar.gz"
if [ ! -f "$tarball" ]; then
  echo "imaptest source not found at $tarball" >&2
  exit 2
fi
commit=$(tr -dc '0-9a-f' < "$source_dir/commit.txt")
cache="${PECD_CI_CACHE:-$HOME/.cache/pecd-ci}/imaptest"
built="$cache/$commit"
if [ -x "$built/imaptest" ] && [ -f "$built/tests/select" ]; then
  echo "$built"
  exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar xzf "$tarball" -C "$work"
(
  cd "$work/imaptest"
  sed -i 's/imap_parser_create(\(.*\), (size_t)-1)/imap_parser_create(\1, (size_t)-1, NULL)/' \
    src/commands.c src/imap-client.c src/test-parser.c
  ./autogen.sh
  ./configure --with-dovecot=/usr/lib/dovecot
  make LDFLAGS="-Wl,-rpath,/usr/lib/dovecot"
) > "$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  echo "imaptest did not build (log above)" >&2
  exit 1
}
mkdir -p "$work/out"
cp "$work/imaptest/src/imaptest" "$work/out/imaptest"
cp -r "$work/imaptest/src/tests" "$work/out/tests"
rm -rf "$built"
mv "$work/out" "$built"
echo "$built"
