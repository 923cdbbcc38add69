"""``apt-get update|install|clean`` and ``curl`` for Docker's keyring, without any network.

Repositories are known by URI and suite: Debian trixie (main, updates, security) and Docker's
``https://download.docker.com/linux/debian trixie stable``. ``apt-get update`` reads the deb822
``*.sources`` and one-line ``*.list`` files and writes index files under
``/var/lib/apt/lists`` (named as apt names them); Docker's repository is refused unless its
``Signed-By`` keyring exists and is world-readable (apt reads it as user ``_apt``).
``apt-get install`` resolves only from those index files, so installing before an update, or
after ``rm -rf /var/lib/apt/lists/*``, fails with ``E: Unable to locate package`` (status 100).
Installing extra dependencies without ``-y`` aborts at the prompt (status 1), because
``pct exec`` gives apt no terminal. Postinst scripts enable and start packaged units like
``deb-systemd-helper``/``deb-systemd-invoke``. Any other URI fails as unresolvable.
"""

from __future__ import annotations

import posixpath

from felhom_provider.sim.guest import catalog, cmd_gpg, systemd, template, units
from felhom_provider.sim.guest.fs import FsError
from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

LISTS = "/var/lib/apt/lists"
ARCHIVES = "/var/cache/apt/archives"
DOCKER_GPG_URL = "https://download.docker.com/linux/debian/gpg"


def _sources(model: GuestModel) -> list[tuple[str, str, str | None]]:
    """(uri, suite, signed_by) for every configured suite."""
    found: list[tuple[str, str, str | None]] = []
    directory = "/etc/apt/sources.list.d"
    files = ["/etc/apt/sources.list"] + [
        posixpath.join(directory, n)
        for n in (model.fs.listdir(directory) if model.fs.is_dir(directory) else [])
    ]
    for path in files:
        if not model.fs.is_file(path):
            continue
        text = model.fs.read(path)
        if path.endswith(".sources"):
            for stanza in text.split("\n\n"):
                fields = {
                    k.strip(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in stanza.splitlines() if ":" in ln)
                }
                for uri in fields.get("URIs", "").split():
                    for suite in fields.get("Suites", "").split():
                        found.append((uri.rstrip("/"), suite, fields.get("Signed-By")))
        elif path.endswith(".list"):
            for line in text.splitlines():
                words = line.split()
                if not words or words[0] != "deb":
                    continue
                signed = None
                if words[1].startswith("["):
                    opts = []
                    while words and not words[1].endswith("]"):
                        opts.append(words.pop(1))
                    opts.append(words.pop(1))
                    for opt in " ".join(opts).strip("[]").split():
                        if opt.startswith("signed-by="):
                            signed = opt.split("=", 1)[1]
                if len(words) >= 3:
                    found.append((words[1].rstrip("/"), words[2], signed))
    return found


def _repo_of(uri: str, suite: str) -> str | None:
    host_path = uri.split("://", 1)[-1]
    if host_path in ("deb.debian.org/debian", "security.debian.org/debian-security"):
        return (
            catalog.DEBIAN
            if suite == "trixie"
            else "empty"
            if suite.startswith("trixie-")
            else None
        )
    if host_path == "download.docker.com/linux/debian" and suite == "trixie":
        return catalog.DOCKER
    return None


def apt_update(model: GuestModel) -> Result:
    """Fetch (simulated) index files for every configured suite."""
    out, err, code = "", "", 0
    for n, (uri, suite, signed_by) in enumerate(_sources(model), start=1):
        stem = f"{uri.split('://', 1)[-1].replace('/', '_')}_dists_{suite}"
        repo = _repo_of(uri, suite)
        if repo is None:
            host = uri.split("://", 1)[-1].split("/", 1)[0]
            out += f"Ign:{n} {uri} {suite} InRelease\nErr:{n} {uri} {suite} Release\n"
            out += f"  Could not resolve '{host}'\n"
            err += f"E: The repository '{uri} {suite} Release' does not have a Release file.\n"
            code = 100
            continue
        if repo == catalog.DOCKER:
            key = model.fs.lookup(signed_by) if signed_by else None
            if key is None or not key.mode & 0o004:
                out += f"Get:{n} {uri} {suite} InRelease\n"
                err += (
                    f"W: GPG error: {uri} {suite} InRelease: The following signatures couldn't"
                    " be verified because the public key is not available:"
                    " NO_PUBKEY 7EA0A9C3F273FCD8\n"
                    f"E: The repository '{uri} {suite} InRelease' is not signed.\n"
                )
                code = 100
                continue
        out += f"Get:{n} {uri} {suite} InRelease\n"
        model.fs.write(f"{LISTS}/{stem}_InRelease", f"Suite: {suite}\n")
        stanzas = "".join(
            f"Package: {p.name}\nVersion: {p.version}\nArchitecture: amd64\n\n"
            for p in catalog.CATALOG.values()
            if p.repo == repo
        )
        component = "stable" if repo == catalog.DOCKER else "main"
        model.fs.write(f"{LISTS}/{stem}_{component}_binary-amd64_Packages", stanzas)
    out += "Reading package lists... Done\n"
    return Result(code, out, err)


def _available(model: GuestModel) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in model.fs.glob(f"{LISTS}/*_Packages"):
        name = ""
        for line in model.fs.read(path).splitlines():
            if line.startswith("Package: "):
                name = line.split(": ", 1)[1]
            elif line.startswith("Version: ") and name:
                found[name] = line.split(": ", 1)[1]
    return found


def apt_install(model: GuestModel, names: list[str], assume_yes: bool, run: Runner) -> Result:
    """Install packages and their dependencies from the downloaded indexes."""
    available = _available(model)
    out = "Reading package lists...\nBuilding dependency tree...\nReading state information...\n"
    for name in names:
        if name not in available and name not in model.packages:
            return Result(100, out, f"E: Unable to locate package {name}\n")
    for name in names:
        if name in model.packages:
            out += f"{name} is already the newest version ({model.packages[name]}).\n"
    todo = catalog.resolve([n for n in names if n not in model.packages], model.packages)
    for dep in todo:
        if dep not in available:
            return Result(
                100, out, "E: Unable to correct problems, you have held broken packages.\n"
            )
    if todo:
        out += "The following NEW packages will be installed:\n  " + " ".join(todo) + "\n"
    out += f"0 upgraded, {len(todo)} newly installed, 0 to remove and 0 not upgraded.\n"
    if set(todo) - set(names) and not assume_yes:
        return Result(1, out + "Do you want to continue? [Y/n] Abort.\n")
    err = ""
    for name in todo:
        version = catalog.CATALOG[name].version
        template.install_package_files(model.fs, name)
        model.packages[name] = version
        model.fs.write(
            f"{ARCHIVES}/{name}_{version.replace(':', '%3a')}_amd64.deb", "simulated .deb\n"
        )
        model.fs.mkdir("/var/log/apt", parents=True)
        model.fs.write(
            "/var/log/dpkg.log", f"status installed {name}:amd64 {version}\n", append=True
        )
        out += f"Setting up {name} ({version}) ...\n"
        err += _postinst(model, name, run)
    model.fs.write("/var/log/apt/history.log", f"Install: {', '.join(todo)}\n", append=True)
    if "dpkg: error" in err:
        return Result(100, out, err + "E: Sub-process /usr/bin/dpkg returned an error code (1)\n")
    return Result(0, out, err)


def _postinst(model: GuestModel, name: str, run: Runner) -> str:
    err = ""
    for unit_name in catalog.CATALOG[name].units:
        unit = units.find_unit(model.fs, unit_name)
        if unit is None or not unit.has_install:
            continue
        err += "".join(line + "\n" for line in units.enable(model.fs, unit))
        if model.runtime is not None:
            systemd.start(model, [unit_name], run)
            if model.runtime.state(unit_name).active == "failed":
                err += (
                    f"Job for {unit_name} failed because the control process exited with"
                    f" error code.\ndpkg: error processing package {name} (--configure):\n"
                    f" installed {name} package post-installation script subprocess returned"
                    " error exit status 1\n"
                )
    return err


def apt_get(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``apt-get [-y] [-q] [--no-install-recommends] update|install PKG…|clean``."""
    args = argv[1:]
    assume_yes = False
    rest: list[str] = []
    while args:
        a = args.pop(0)
        if a in ("-y", "--yes", "--assume-yes", "-yq", "-qy"):
            assume_yes = True
        elif a in ("-q", "-qq", "--quiet", "--no-install-recommends"):
            pass
        elif a == "-o" and args:
            args.pop(0)  # configuration overrides such as Dpkg::Options are accepted and ignored
        elif a.startswith("-"):
            return not_imitated(" ".join(argv))
        else:
            rest.append(a)
    if not rest:
        return not_imitated("apt-get without an action")
    action, names = rest[0], rest[1:]
    if action == "update" and not names:
        return apt_update(model)
    if action == "install" and names:
        return apt_install(model, names, assume_yes, run)
    if action == "clean" and not names:
        for path in model.fs.glob(f"{ARCHIVES}/*.deb") + model.fs.glob("/var/cache/apt/*.bin"):
            model.fs.remove(path)
        return Result()
    return not_imitated(f"apt-get {' '.join(rest)}")


def dpkg_query(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``dpkg-query -W [-f=FORMAT] PKG…`` with ``${Version}``/``${Package}`` in FORMAT."""
    args = argv[1:]
    if not args or args[0] not in ("-W", "--show"):
        return not_imitated(" ".join(argv))
    fmt = "${Package}\t${Version}\n"
    names: list[str] = []
    for a in args[1:]:
        if a.startswith(("-f=", "--showformat=")):
            fmt = a.split("=", 1)[1]
        elif a.startswith("-"):
            return not_imitated(" ".join(argv))
        else:
            names.append(a)
    out, err, code = "", "", 0
    for name in names:
        if name not in model.packages:
            code, err = 1, err + f"dpkg-query: no packages found matching {name}\n"
            continue
        text = fmt.replace("${Package}", name).replace("${Version}", model.packages[name])
        out += text.replace("\\n", "\n").replace("\\t", "\t")
    return Result(code, out, err)


def curl(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """``curl [-fsSL] URL [-o FILE]``: only Docker's GPG key URL answers (no network)."""
    args = argv[1:]
    url, output, show_errors, silent = None, None, True, False
    while args:
        a = args.pop(0)
        if a == "-o" and args:
            output = args.pop(0)
        elif a.startswith("-") and not a.startswith("--") and set(a[1:]) <= set("fsSL"):
            silent = silent or "s" in a
            show_errors = "S" in a or not silent
        elif a.startswith("-"):
            return not_imitated(" ".join(argv))
        else:
            url = a
    if url is None:
        return Result(2, "", "curl: no URL specified\n")
    if url != DOCKER_GPG_URL:
        host = url.split("://", 1)[-1].split("/", 1)[0]
        return Result(6, "", f"curl: (6) Could not resolve host: {host}\n" if show_errors else "")
    # The key file is a stand-in that ``gpg --show-keys`` reads (``cmd_gpg``); tests may swap
    # what it carries (``cmd_gpg.serving_docker_keys``).
    key_file = cmd_gpg.armor(cmd_gpg.served_docker_keys())
    if output is None:
        return Result(0, key_file)
    try:
        model.fs.write(output, key_file, mode=0o644)
    except FsError:
        return Result(
            23, "", "curl: (23) Failure writing output to destination, passed 0 returned 0\n"
        )
    return Result()
