#!/usr/bin/env bash
# Pure modules (lib.rs, "Layers") must stay free of I/O: no tokio, no std::fs/std::net,
# no reaching up into effectful modules. Crude on purpose: one path per `use` line;
# comment lines and test-only files (tests.rs) are ignored.
set -euo pipefail
cd "$(dirname "$0")/.."
if grep -rnE 'tokio|std::(fs|net)|crate::(store|provider|net|crypto|config|cli)' --exclude=tests.rs src/pec src/mail \
  | grep -vE '^[^:]+:[0-9]+:\s*//'; then
  echo "layer violation: a pure module (src/pec, src/mail) does I/O or reaches up" >&2
  exit 1
fi
