"""systemd unit files in the guest filesystem: loading, enablement and conditions.

Units are real files under the guest's unit search path, so a unit baked into the golden image
(``/etc/systemd/system/<name>.service``) and its enablement symlink
(``/etc/systemd/system/multi-user.target.wants/<name>.service``) survive vzdump and restore like
on a real node. The subset modelled follows ``systemd.unit(5)``: ``Wants=``, ``Requires=``,
``Before=``, ``After=``, ``ConditionPathExists=``, ``ConditionPathIsReadWrite=``,
``ConditionPathIsSymbolicLink=``, ``ConditionFirstBoot=``, and ``[Install]`` ``WantedBy=``,
``RequiredBy=``, ``Alias=``. Templates (``foo@.service``), drop-ins and generators are not
imitated.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field

from felhom_provider.sim.guest.fs import LINK, FsError, VirtualFS

# systemd's system unit search path, highest priority first (systemd.unit(5)); /lib is a
# symlink to usr/lib on a merged-/usr Debian 13 so it needs no entry of its own.
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system")
ADMIN_DIR = "/etc/systemd/system"


@dataclass
class Unit:
    """A parsed unit file: ``sections[section][key]`` keeps every assignment in order."""

    name: str
    path: str
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def get(self, section: str, key: str) -> list[str]:
        """All values of ``key`` (space-separated lists are split), empty if unset."""
        values: list[str] = []
        for raw in self.sections.get(section, {}).get(key, []):
            if raw == "":
                values = []  # an empty assignment resets the list, as systemd does
            else:
                values.append(raw)
        return values

    def words(self, section: str, key: str) -> list[str]:
        """List-valued settings such as ``Before=a b``."""
        return [w for v in self.get(section, key) for w in v.split()]

    def first(self, section: str, key: str, default: str = "") -> str:
        """The last assignment wins for single-valued settings."""
        values = self.get(section, key)
        return values[-1] if values else default

    @property
    def has_install(self) -> bool:
        """Units without [Install] are "static": they cannot be enabled."""
        return bool(self.words("Install", "WantedBy") or self.words("Install", "RequiredBy"))


def parse_unit(name: str, path: str, text: str) -> Unit:
    """Parse INI-style unit text (comments ``#``/``;``, backslash line continuation)."""
    unit = Unit(name, path)
    section = ""
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            unit.sections.setdefault(section, {})
            continue
        if "=" in line:
            key, value = line.split("=", 1)
            unit.sections.setdefault(section, {}).setdefault(key.strip(), []).append(value.strip())
    return unit


def normalise(name: str) -> str:
    """``ssh`` → ``ssh.service`` as systemctl does for names without a type suffix."""
    kinds = (".service", ".socket", ".target", ".timer", ".mount", ".path")
    return name if name.endswith(kinds) else name + ".service"


def find_unit(fs: VirtualFS, name: str) -> Unit | None:
    """Load a unit by name (aliases resolve through their symlink); None if not found.

    A unit linked to /dev/null is masked and also reported as None.
    """
    for directory in UNIT_DIRS:
        path = posixpath.join(directory, name)
        node = fs.lookup(path, follow_last=False)
        if node is None:
            continue
        real = fs.resolve(path)
        if real == "/dev/null":
            return None
        try:
            text = fs.read(real)
        except FsError:
            continue
        return parse_unit(posixpath.basename(real), real, text)
    return None


def all_unit_names(fs: VirtualFS) -> list[str]:
    """Every unit file name on the search path (not counting ``.wants`` links)."""
    names: set[str] = set()
    for directory in UNIT_DIRS:
        if not fs.is_dir(directory):
            continue
        for name in fs.listdir(directory):
            path = posixpath.join(directory, name)
            if "." in name and not fs.is_dir(path) and not name.endswith(".wants"):
                names.add(name)
    return sorted(names)


def wants_of(fs: VirtualFS, unit_name: str) -> list[str]:
    """Units pulled in through ``<unit>.wants/`` and ``.requires/`` directories."""
    found: list[str] = []
    for directory in UNIT_DIRS:
        for suffix in (".wants", ".requires"):
            d = posixpath.join(directory, unit_name + suffix)
            if fs.is_dir(d):
                found.extend(n for n in fs.listdir(d) if fs.exists(posixpath.join(d, n)))
    return found


def is_enabled(fs: VirtualFS, unit: Unit) -> bool:
    """True when an ``[Install]`` symlink of the unit exists under /etc (``is-enabled``)."""
    for target in unit.words("Install", "WantedBy") + unit.words("Install", "RequiredBy"):
        for suffix in (".wants", ".requires"):
            link = posixpath.join(ADMIN_DIR, target + suffix, unit.name)
            if fs.is_link(link):
                return True
    return False


def enable(fs: VirtualFS, unit: Unit) -> list[str]:
    """Create the ``[Install]`` symlinks; returns systemctl's "Created symlink" lines."""
    lines: list[str] = []
    links = [
        (posixpath.join(ADMIN_DIR, t + ".wants", unit.name))
        for t in unit.words("Install", "WantedBy")
    ]
    links += [
        posixpath.join(ADMIN_DIR, t + ".requires", unit.name)
        for t in unit.words("Install", "RequiredBy")
    ]
    links += [posixpath.join(ADMIN_DIR, a) for a in unit.words("Install", "Alias")]
    for link in links:
        if fs.lookup(link, follow_last=False) is not None:
            continue
        fs.mkdir(posixpath.dirname(link), parents=True)
        fs.symlink(unit.path, link)
        # systemd 257 quotes both paths and uses an arrow (src/shared/install.c output).
        lines.append(f"Created symlink '{link}' → '{unit.path}'.")
    return lines


def disable(fs: VirtualFS, unit: Unit) -> list[str]:
    """Remove every symlink under /etc that points at the unit; returns "Removed" lines."""
    lines: list[str] = []
    for path in sorted(fs.walk(ADMIN_DIR)):
        node = fs.nodes.get(path)
        if node is None or node.kind != LINK or posixpath.basename(node.data) != unit.name:
            continue
        if path == unit.path:
            continue
        fs.remove(path)
        lines.append(f"Removed '{path}'.")
    return lines


def check_conditions(fs: VirtualFS, unit: Unit, *, first_boot: bool) -> str | None:
    """Return the first failing condition (``Key=value``), or None when all hold."""
    for key in (
        "ConditionFirstBoot",
        "ConditionPathExists",
        "ConditionPathIsReadWrite",
        "ConditionPathIsSymbolicLink",
    ):
        for value in unit.get("Unit", key):
            negate = value.startswith("!")
            arg = value[1:] if negate else value
            if key == "ConditionFirstBoot":
                holds = first_boot == (arg.lower() in ("yes", "true", "1", "on"))
            elif key == "ConditionPathIsSymbolicLink":
                holds = fs.is_link(arg)
            else:
                # The guest's root is always mounted read-write, so existence decides both.
                holds = fs.exists(arg)
            if holds == negate:
                return f"{key}={value}"
    return None
