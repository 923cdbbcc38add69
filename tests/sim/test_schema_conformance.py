"""The simulator's declared parameters against PVE 9's own API schema (apidata extract).

For every endpoint the simulator serves from the schema extract, each parameter it accepts
must exist in PVE's schema with the same type, format (named format, or the same sub-keys
of a property string with the same types), optionality, enum, range and ``requires``;
required parameters must be enforced over HTTP; PVE parameters the simulator does not
accept must be refused by name (never ignored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from felhom_provider.sim import routes
from felhom_provider.sim.params import ENDPOINT_PARAMS, OUTSIDE_SUBSET, Spec
from felhom_provider.sim.server import SimServer

SCHEMA_PATH = (
    Path(__file__).resolve().parents[1] / "data" / "pve-schema" / "pve-9.1-lxc-subset.json"
)
COMPARED = ("enum", "requires", "maxLength", "minLength")


def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA_PATH.read_text())["endpoints"])


SCHEMA = _schema()
SERVED = [(r.method, r.template) for r in routes.ROUTES if not r.template.startswith("/_sim")]
IN_SUBSET = [key for key in SERVED if key in ENDPOINT_PARAMS]


def _num(v: Any) -> float | None:
    return None if v is None else float(v)


def _compare(name: str, sim: Spec, pve: Spec) -> list[str]:
    problems = []
    for attr in COMPARED:
        if attr in sim and sim.get(attr) != pve.get(attr):
            problems.append(f"{name}.{attr}: sim {sim.get(attr)!r} != pve {pve.get(attr)!r}")
    if pve.get("type") != sim.get("type"):
        problems.append(f"{name}.type: sim {sim.get('type')!r} != pve {pve.get('type')!r}")
    if bool(sim.get("optional")) != bool(pve.get("optional")):
        problems.append(f"{name}.optional differs")
    for attr in ("minimum", "maximum"):
        if _num(sim.get(attr)) != _num(pve.get(attr)):
            problems.append(f"{name}.{attr}: sim {sim.get(attr)!r} != pve {pve.get(attr)!r}")
    if "pattern" in sim and "pattern" not in pve:
        problems.append(f"{name}: sim has a pattern PVE lacks")
    sfmt, pfmt = sim.get("format"), pve.get("format")
    if isinstance(sfmt, dict) and isinstance(pfmt, dict):
        if set(sfmt) != set(pfmt):
            problems.append(f"{name}: sub-keys differ: {sorted(set(sfmt) ^ set(pfmt))}")
        for sub in set(sfmt) & set(pfmt):
            problems += _compare(f"{name}.{sub}", sfmt[sub], pfmt[sub])
            if bool(sfmt[sub].get("default_key")) != bool(pfmt[sub].get("default_key")):
                problems.append(f"{name}.{sub}.default_key differs")
    elif sfmt != pfmt:
        problems.append(f"{name}.format: sim {sfmt!r} != pve {pfmt!r}")
    return problems


@pytest.mark.parametrize(("method", "path"), IN_SUBSET)
def test_declared_parameters_match_pve(method: str, path: str) -> None:
    pve = SCHEMA[path][method].get("parameters", {}).get("properties", {})
    sim = ENDPOINT_PARAMS[(method, path)]
    problems = []
    for name, spec in sim.items():
        if name not in pve:
            problems.append(f"{name}: not a PVE parameter")
            continue
        problems += _compare(name, spec, pve[name])
    assert problems == []


@pytest.mark.parametrize(("method", "path"), IN_SUBSET)
def test_unaccepted_pve_parameters_are_refused_by_name(method: str, path: str) -> None:
    pve = set(SCHEMA[path][method].get("parameters", {}).get("properties", {}))
    route = next(r for r in routes.ROUTES if (r.method, r.template) == (method, path))
    missing = pve - set(route.params)
    assert missing <= route.not_implemented, sorted(missing - route.not_implemented)


def test_every_schema_endpoint_is_served() -> None:
    in_schema = {(m, p) for p, methods in SCHEMA.items() for m in methods}
    assert in_schema <= set(SERVED)


def test_endpoints_outside_the_extract_are_known() -> None:
    outside = {key for key in SERVED if key not in ENDPOINT_PARAMS}
    assert outside == set(OUTSIDE_SUBSET)


SAMPLE_UPID = "UPID:pve-sim:00000001:00000001:00000001:x::root@pam:"


def _concrete(path: str) -> str:
    for name, value in (
        ("node", "pve-sim"),
        ("vmid", "100"),
        ("storage", "local"),
        ("upid", SAMPLE_UPID),
        ("poolid", "customers"),
    ):
        path = path.replace("{" + name + "}", value)
    return path


REQUIRED = [
    (m, p, name)
    for (m, p) in IN_SUBSET
    for name, spec in ENDPOINT_PARAMS[(m, p)].items()
    if not spec.get("optional") and "[n]" not in name and "{" + name + "}" not in p
]


@pytest.mark.parametrize(("method", "path", "name"), REQUIRED)
def test_required_parameters_are_enforced(
    sim: SimServer, method: str, path: str, name: str
) -> None:
    token = sim.endpoint["tokens"]["agent"]
    headers = {"Authorization": f"PVEAPIToken={token['id']}={token['secret']}"}
    url = f"{sim.endpoint['api_url']}/api2/json{_concrete(path)}"
    resp = requests.request(method, url, headers=headers, verify=False, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["errors"][name] == "property is missing and it is not optional"


@pytest.mark.parametrize(("method", "path"), IN_SUBSET)
def test_unknown_parameter_is_refused(sim: SimServer, method: str, path: str) -> None:
    token = sim.endpoint["tokens"]["agent"]
    headers = {"Authorization": f"PVEAPIToken={token['id']}={token['secret']}"}
    url = f"{sim.endpoint['api_url']}/api2/json{_concrete(path)}"
    query = {"zzz": "1"} if method in ("GET", "DELETE") else None
    body = None if query else {"zzz": "1"}
    resp = requests.request(
        method, url, headers=headers, verify=False, timeout=10, params=query, data=body
    )
    assert resp.status_code == 400
    assert resp.json()["errors"]["zzz"] == (
        "property is not defined in schema and the schema does not allow additional properties"
    )
