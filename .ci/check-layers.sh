#!/usr/bin/env bash
# The layering of lib.rs ("Layers"), checked by grep. The rules say what a layer may
# use, by directory, so new files inside a directory fall under its rule:
#
#  1. The pure formats (src/pec, src/mail) use nothing of the crate but crate::pec and
#     crate::mail, and do no I/O: no tokio, no std::fs, no std::net. Other std items
#     and external crates are theirs to use.
#  2. The sans-IO sessions (src/smtp/session*, src/smtp/command*, src/smtp/reply*,
#     src/imap/session*) leave the sockets, the clock and the tasks to their async
#     shells: of tokio they use only the channels (tokio::sync), and no std::fs or
#     std::net.
#  3. The management plane (src/manage) is a domain layer: the front ends call it, it
#     calls none of them (no crate::admin, web, cli, smtp or imap).
#  4. The notify mailer (src/notify) is a worker beside the relay: of the front ends it
#     uses only the SMTP client (crate::smtp::client), and it calls neither the
#     management plane nor the operator commands.
#
# Crude on purpose: the house style writes one path per `use` line, comment lines are
# skipped, and test-only files named tests.rs may read fixtures from disk.
set -euo pipefail
shopt -s nullglob
cd "$(dirname "$0")/.."

status=0

# Reports the code lines of "$@" (files or directories) that match the Perl regex $1,
# under the rule named $2.
forbid() {
  local pattern=$1 rule=$2
  shift 2
  local found
  found=$(grep -rnP --include='*.rs' --exclude=tests.rs "$pattern" "$@" \
    | grep -vP '^[^:]+:\d+:\s*//' || true)
  if [[ -n $found ]]; then
    printf '%s\n' "$found"
    echo "layer violation: $rule" >&2
    status=1
  fi
}

no_io='\btokio\b|\bstd::(fs|net)\b|\bstd::\{[^}]*\b(fs|net)\b'
forbid "$no_io|\bcrate::(?!(pec|mail)\b)" \
  'src/pec and src/mail use only crate::{pec,mail}, std and external crates, and do no I/O' \
  src/pec src/mail

forbid '\btokio\b(?!::sync\b)|\bstd::(fs|net)\b|\bstd::\{[^}]*\b(fs|net)\b' \
  'the sans-IO sessions use no tokio but its channels (tokio::sync), no std::fs or std::net' \
  src/smtp/session* src/smtp/command* src/smtp/reply* src/imap/session*

forbid '\bcrate::(admin|web|cli|smtp|imap)\b|\bcrate::\{[^}]*\b(admin|web|cli|smtp|imap)\b' \
  'src/manage is a domain layer: it uses no front end (admin, web, cli, smtp, imap)' \
  src/manage

forbid '\bcrate::(admin|web|cli|imap|manage|control)\b|\bcrate::smtp::(?!client\b)|\bcrate::\{[^}]*\b(admin|web|cli|imap|manage|control|smtp)\b' \
  'src/notify uses of the front ends only the SMTP client (crate::smtp::client), and no manage' \
  src/notify

exit $status
