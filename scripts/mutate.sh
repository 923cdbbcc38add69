#!/usr/bin/env bash
# Mutation testing (mutmut) of the engine, the classifier, task waits, the guest shell and the
# resources' input checks against the unit tests; prints the survival rate and the survivors.
# Scope and test command: [tool.mutmut] in pyproject.toml; what is left unmutated and why:
# docs/mutation.md.
#
# Usage: scripts/mutate.sh [-j N] [MODULE ...]
#   MODULE is a dotted path under felhom_provider (reconcile.apply, pve.retry, guest); without
#   one every module in scope is run (tens of minutes on 2 cores). Each run starts from a fresh
#   copy, so the figures always belong to the tests as they are now.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
if [[ "${1:-}" == "-j" ]]; then
  jobs="$2"
  shift 2
fi
globs=()
prefixes=()
for module in "$@"; do
  module="${module#felhom_provider.}"
  globs+=("felhom_provider.${module}.*")
  prefixes+=("felhom_provider.${module}.")
done
mutmut=.venv/bin/mutmut
rm -rf mutants
# mutmut's own exit status says nothing about the mutants; the report below does. It does
# refuse to start when the unit tests fail without any mutation: mutants.log then says which.
"$mutmut" run --max-children "$jobs" "${globs[@]}" > mutants.log 2>&1 || true
"$mutmut" results --all true > mutants.results 2>/dev/null || true
# Only the selected modules count (mutmut lists the others as "not checked").
awk -F': ' -v prefixes="${prefixes[*]}" '
  BEGIN { n_pre = split(prefixes, pre, " ") }
  NF >= 2 {
    name = $1; sub(/^[ \t]+/, "", name)
    if (n_pre) { hit = 0; for (i = 1; i <= n_pre; i++) if (index(name, pre[i]) == 1) hit = 1; if (!hit) next }
    status[$NF]++; total++
    if ($NF == "survived") survivors[++n] = name
    if ($NF != "no tests" && $NF != "skipped" && $NF != "not checked") {
      mod = name; sub(/\.x[_ǁ].*$/, "", mod); mods[mod]++; if ($NF == "survived") per[mod]++
    }
  }
  END {
    if (total == 0) { print "no mutants were run: see mutants.log"; exit 1 }
    for (s in status) printf "%-12s %d\n", s, status[s]
    # Timeouts and crashes count as caught; mutants no test runs do not count at all.
    tested = total - status["no tests"] - status["skipped"] - status["not checked"]
    rate = tested ? 100 * status["survived"] / tested : 0
    printf "survival rate: %.1f%% (%d survived of %d mutants with tests)\n", rate, status["survived"], tested
    print "per module (survived/tested):"
    for (m in mods) printf "  %-45s %4d/%-4d %5.1f%%\n", m, per[m], mods[m], 100 * per[m] / mods[m]
    if (n) print "survivors (mutmut show <name> prints the change):"
    for (i = 1; i <= n; i++) print "  " survivors[i]
  }' mutants.results
