#!/usr/bin/env bash
# Mutation testing (mutmut) of the engine, the classifier, task waits, the guest shell and the
# resources' input checks against the unit tests; prints the survival rate and the survivors.
# Scope and test command: [tool.mutmut] in pyproject.toml. Usage: scripts/mutate.sh [-j N]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
if [[ "${1:-}" == "-j" ]]; then jobs="$2"; fi
mutmut=.venv/bin/mutmut
rm -rf mutants
# mutmut's own exit status says nothing about the mutants; the report below does.
"$mutmut" run --max-children "$jobs" > mutants.log 2>&1 || true
"$mutmut" results --all true > mutants.results 2>/dev/null || true
awk -F': ' '
  NF >= 2 { status[$NF]++; total++; if ($NF == "survived") survivors[++n] = $1 }
  END {
    if (total == 0) { print "no mutants were run: see mutants.log"; exit 1 }
    for (s in status) printf "%-12s %d\n", s, status[s]
    tested = total - status["no tests"] - status["skipped"]
    rate = tested ? 100 * status["survived"] / tested : 0
    printf "survival rate: %.1f%% (%d survived of %d mutants with tests)\n", rate, status["survived"], tested
    if (n) print "survivors (mutmut show <name> prints the change):"
    for (i = 1; i <= n; i++) print "  " survivors[i]
  }' mutants.results
