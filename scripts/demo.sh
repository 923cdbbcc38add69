#!/usr/bin/env bash
# The demo: a golden image and three customer guests, with the real Pulumi CLI, against the
# in-repo PVE simulator. Run by `make demo` (after `make setup`); safe to run again: the
# simulator's state and the stack live under the git-ignored .felhom/ and are reused, so a
# second run reports no changes.
#
#   .felhom/sim/        simulator state (endpoint.json, CTs, archives), .felhom/sim.log
#   .felhom/backend/    the Pulumi file backend;  .felhom/pulumi-home/  PULUMI_HOME
#   .felhom/env         `source .felhom/env` to run any further pulumi command on the stack
#
# Environment: FELHOM_DEMO_TIME_SCALE (default 0.5: task durations of a real node, halved);
# FELHOM_BACKEND_URL (default the file backend; e.g. postgres://..., docs/state-backend.md).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
STATE="$REPO/.felhom"
SIM_DIR="$STATE/sim"
SIM_PID="$STATE/sim.pid"
STACK=dev
TIME_SCALE="${FELHOM_DEMO_TIME_SCALE:-0.5}"
PY="$REPO/.venv/bin/python"

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

[ -x "$PY" ] || die "no .venv: run 'make setup' first"
[ -f "$REPO/.venv/pulumi-bin" ] || die "no Pulumi CLI recorded: run 'make setup' first"
PULUMI_BIN="$(cat "$REPO/.venv/pulumi-bin")"
[ -x "$PULUMI_BIN/pulumi" ] || die "pulumi not found in $PULUMI_BIN: run 'make setup'"
mkdir -p "$SIM_DIR" "$STATE/backend" "$STATE/pulumi-home"
chmod 700 "$STATE"

# The passphrase only protects this local demo stack's secrets; it is made once, kept private.
if [ ! -s "$STATE/passphrase" ]; then
  (umask 077 && "$PY" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$STATE/passphrase")
fi

cat > "$STATE/env" <<EOF
# Source this file to run pulumi against the demo stack: source .felhom/env; pulumi preview
export PATH="$PULUMI_BIN:$REPO/.venv/bin:\$PATH"
export PULUMI_BACKEND_URL="${FELHOM_BACKEND_URL:-file://$STATE/backend}"
export PULUMI_HOME="$STATE/pulumi-home"
export PULUMI_CONFIG_PASSPHRASE_FILE="$STATE/passphrase"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_DISABLE_REGISTRY_RESOLVE=true
export PULUMI_CREDENTIAL_STORE=plaintext
export PULUMI_SKIP_CONFIRMATIONS=true
export GRPC_ENABLE_FORK_SUPPORT=false
cd "$REPO"
EOF
# shellcheck source=/dev/null
source "$STATE/env"

sim_running() { [ -f "$SIM_PID" ] && kill -0 "$(cat "$SIM_PID")" 2>/dev/null; }

if sim_running; then
  say "PVE simulator already running (pid $(cat "$SIM_PID"))"
else
  say "starting the PVE simulator (time scale $TIME_SCALE, state in .felhom/sim)"
  # A stale endpoint.json would point at a dead port: wait for the fresh one.
  rm -f "$SIM_DIR/endpoint.json"
  nohup "$PY" -m felhom_provider.sim serve --state-dir "$SIM_DIR" --api-port 0 \
    --time-scale "$TIME_SCALE" >> "$STATE/sim.log" 2>&1 &
  echo $! > "$SIM_PID"
  for _ in $(seq 1 300); do
    [ -s "$SIM_DIR/endpoint.json" ] && break
    sim_running || die "the simulator exited; see .felhom/sim.log"
    sleep 0.1
  done
  [ -s "$SIM_DIR/endpoint.json" ] || die "the simulator wrote no endpoint.json; see .felhom/sim.log"
fi

say "selecting stack '$STACK' (${PULUMI_BACKEND_URL%%://*} backend)"
if ! pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  # A fresh backend: a salt or secret left in the stack file belongs to another passphrase.
  "$PY" - "$REPO/stacks/Pulumi.$STACK.yaml" <<'EOF'
import re, sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
text = re.sub(r"^encryptionsalt:.*\n", "", text, flags=re.M)
text = re.sub(r"^  felhom:pveTokenSecret:\n    secure: .*\n", "", text, flags=re.M)
open(path, "w", encoding="utf-8").write(text)
EOF
  pulumi stack init "$STACK" --non-interactive
fi

say "writing the simulator's endpoint into the stack config"
# Values come from endpoint.json; the token secret goes in with --secret and never to stdout.
mapfile -t PLAIN < <("$PY" - "$SIM_DIR/endpoint.json" <<'EOF'
import json, sys
ep = json.load(open(sys.argv[1], encoding="utf-8"))
shell = ep.get("node_shell") or {}
pairs = [
    ("felhom:pve.endpoint", ep["api_url"]),
    ("felhom:pve.node", ep["node"]),
    ("felhom:pve.tokenId", ep["tokens"]["agent"]["id"]),
    ("felhom:pve.tlsFingerprint", ep["tls_fingerprint_sha256"]),
]
if shell:
    pairs += [
        ("felhom:nodeShell.host", shell["host"]),
        ("felhom:nodeShell.port", shell["port"]),
        ("felhom:nodeShell.user", shell["user"]),
        ("felhom:nodeShell.hostKey", shell["host_public_key"]),
        ("felhom:nodeShell.privateKeyPath", shell["client_private_key_path"]),
    ]
if ep.get("guest_ssh_port"):
    pairs.append(("felhom:guestSshPort", ep["guest_ssh_port"]))
for key, value in pairs:
    print(f"{key}={value}")
EOF
)
ARGS=()
for kv in "${PLAIN[@]}"; do ARGS+=(--plaintext "$kv"); done
pulumi config set-all --path "${ARGS[@]}" --non-interactive
"$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"]["agent"]["secret"], end="")' \
  "$SIM_DIR/endpoint.json" | pulumi config set --secret felhom:pveTokenSecret --non-interactive

say "pulumi up --yes (golden image + 3 guests)"
pulumi up --yes --non-interactive

say "stack outputs (pulumi stack output --json)"
pulumi stack output --json

cat <<EOF

Done. To run further pulumi commands against the demo stack:
  source .felhom/env
  pulumi preview            # no changes
  pulumi refresh --yes      # reads the guests back from the simulator
  pulumi stack output --json
Tear down with: make demo-down
EOF
