#!/usr/bin/env bash
# Tear the demo down: destroy the dev stack's resources (guests, golden archive), remove the
# stack from the local backend, take the machine-specific keys the demo wrote back out of
# stacks/Pulumi.dev.yaml (the fleet stays), and stop the simulator. Run by `make demo-down`. The simulator's state directory is kept for reuse.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$REPO/.felhom"
SIM_PID="$STATE/sim.pid"
STACK=dev

say() { printf '\n==> %s\n' "$*"; }

sim_running() { [ -f "$SIM_PID" ] && kill -0 "$(cat "$SIM_PID")" 2>/dev/null; }

if [ -f "$STATE/env" ]; then
  # shellcheck source=/dev/null
  source "$STATE/env"
  if pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
    if sim_running; then
      # Protected guests (felhom:protect) would block destroy; the demo means to remove them.
      pulumi state unprotect --all --yes --non-interactive >/dev/null 2>&1 || true
      say "pulumi destroy --yes"
      pulumi destroy --yes --non-interactive
      # The fleet in the stack file stays; what the demo added for this machine goes: the
      # simulator's endpoint, the encrypted token and (after the stack is gone) its salt.
      pulumi config rm-all felhom:pve felhom:pveTokenSecret felhom:nodeShell \
        felhom:guestSshPort --non-interactive
      pulumi stack rm "$STACK" --yes --preserve-config --non-interactive
      sed -i '/^encryptionsalt: /d' "$REPO/stacks/Pulumi.$STACK.yaml"
    else
      echo "demo-down: the simulator is not running; start it with 'make demo' to destroy" >&2
      echo "the stack's resources, or remove .felhom/ to forget both" >&2
    fi
  else
    say "no demo stack to destroy"
  fi
else
  say "no demo environment (.felhom/env): nothing to destroy"
fi

if sim_running; then
  pid="$(cat "$SIM_PID")"
  say "stopping the PVE simulator (pid $pid)"
  kill "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid"; fi
fi
rm -f "$SIM_PID"
