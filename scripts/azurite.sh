#!/usr/bin/env bash
# Runs a command with Azurite (the Azure Storage emulator, from npm) listening on loopback:
#
#   bash scripts/azurite.sh cargo test --test it sink::
#
# It installs Azurite into .azurite/ (once), starts its blob service on a free port with
# in-memory storage, creates the container the tests use, exports
#   AZURITE_BLOB_STORAGE_URL     (read by object_store's Azure builder in emulator mode)
#   REFUEL_TEST_AZURE_CONTAINER  (the container)
# runs the command, and stops Azurite when the command ends (or the script is interrupted).
# Any failure to install or start Azurite is an error, never a skip.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

AZURITE_VERSION="3.35.0" # the last release that runs on Node 20
prefix="$PWD/.azurite"
bin="$prefix/node_modules/.bin/azurite-blob"

if [ "$#" -eq 0 ]; then
  echo "usage: bash scripts/azurite.sh COMMAND [ARGS...]" >&2
  exit 2
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "azurite.sh: node and npm are needed to run Azurite (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -x "$bin" ] || ! grep -q "\"version\": \"$AZURITE_VERSION\"" "$prefix/node_modules/azurite/package.json" 2>/dev/null; then
  echo "==> installing azurite@$AZURITE_VERSION into .azurite/"
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >&2
fi

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
workdir="$(mktemp -d)"
log="$workdir/azurite.log"
"$bin" --blobHost 127.0.0.1 --blobPort "$port" --inMemoryPersistence --silent \
  --skipApiVersionCheck >"$log" 2>&1 &
pid=$!
stop() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$workdir"
}
trap stop EXIT INT TERM

for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "azurite.sh: Azurite exited at start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done

export AZURITE_BLOB_STORAGE_URL="http://127.0.0.1:$port"
export REFUEL_TEST_AZURE_CONTAINER="refuel-sink-tests"

# Create the container with a Shared Key request (Azurite's well-known dev account).
node - "$AZURITE_BLOB_STORAGE_URL" "$REFUEL_TEST_AZURE_CONTAINER" <<'JS'
const crypto = require("crypto");
const http = require("http");
const [base, container] = process.argv.slice(2);
const account = "devstoreaccount1";
const key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const date = new Date().toUTCString();
const version = "2021-08-06";
const toSign = ["PUT", "", "", "", "", "", "", "", "", "", "", "",
  `x-ms-date:${date}`, `x-ms-version:${version}`,
  `/${account}/${account}/${container}`, "restype:container"].join("\n");
const sig = crypto.createHmac("sha256", Buffer.from(key, "base64")).update(toSign, "utf8").digest("base64");
const req = http.request(`${base}/${account}/${container}?restype=container`, {
  method: "PUT",
  headers: { "x-ms-date": date, "x-ms-version": version, "Content-Length": 0,
             Authorization: `SharedKey ${account}:${sig}` },
}, (res) => {
  let body = "";
  res.on("data", (c) => (body += c));
  res.on("end", () => {
    if (res.statusCode === 201 || res.statusCode === 409) process.exit(0);
    console.error(`azurite.sh: creating container ${container} failed: ${res.statusCode} ${body}`);
    process.exit(1);
  });
});
req.on("error", (e) => { console.error(`azurite.sh: ${e}`); process.exit(1); });
req.end();
JS

echo "==> Azurite blob service on $AZURITE_BLOB_STORAGE_URL (container $REFUEL_TEST_AZURE_CONTAINER)"
"$@"
