"""``docker run --rm hello-world``, ``docker info --format '{{.Driver}}'`` and ``docker ps``.

Docker works in an LXC guest only as the seed found it (F5, F6): the daemon needs
``nesting=1`` (``systemd._dockerd_check``), and starting a container needs ``keyctl=1`` on an
unprivileged CT, because runc creates a session keyring that an unprivileged CT without keyctl
is denied. The storage driver reported is ``overlayfs`` (the containerd image store Docker uses
in such a guest), not ``overlay2`` (F6). The image pull is simulated; only ``hello-world``
exists.
"""

from __future__ import annotations

from felhom_provider.sim.guest.model import GuestModel
from felhom_provider.sim.guest.registry import Result, Runner, not_imitated

DRIVER = "overlayfs"
_SOCKET_ERROR = (
    "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."
    " Is the docker daemon running?"
)
_KEYRING_ERROR = (
    "docker: Error response from daemon: failed to create task for container: failed to create"
    " shim task: OCI runtime create failed: runc create failed: unable to start container"
    " process: error during container init: join session keyring: create session key:"
    " permission denied\n"
)

HELLO = """
Hello from Docker!
This message shows that your installation appears to be working correctly.

To generate this message, Docker took the following steps:
 1. The Docker client contacted the Docker daemon.
 2. The Docker daemon pulled the "hello-world" image from the Docker Hub.
    (amd64)
 3. The Docker daemon created a new container from that image which runs the
    executable that produces the output you are currently reading.
 4. The Docker daemon streamed that output to the Docker client, which sent it
    to your terminal.
"""


def _daemon_up(model: GuestModel) -> bool:
    return model.runtime is not None and model.runtime.state("docker.service").active == "active"


def docker(model: GuestModel, argv: list[str], stdin: str, run: Runner) -> Result:
    """The docker invocations the golden recipe and the bring-up verify with."""
    args = argv[1:]
    if args in (
        ["info", "--format", "{{.Driver}}"],
        ["info", "--format={{.Driver}}"],
        ["info", "-f", "{{.Driver}}"],
    ):
        if not _daemon_up(model):
            return Result(1, "", _SOCKET_ERROR + "\n")
        return Result(0, DRIVER + "\n")
    if args in (["run", "--rm", "hello-world"], ["run", "hello-world", "--rm"]):
        return _hello(model)
    if args in (
        ["ps"],
        ["ps", "-a"],
        ["ps", "--all"],
        ["container", "ls"],
        ["container", "ls", "-a"],
    ):
        if not _daemon_up(model):
            return Result(1, "", _SOCKET_ERROR + "\n")
        # No container outlives ``run --rm``, so the table is empty. The CLI's tabwriter has a
        # minimum cell width of 10 and a padding of 3 (cli/command/formatter).
        headers = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"]
        return Result(0, "".join(h.ljust(max(10, len(h) + 3)) for h in headers) + "NAMES\n")
    return not_imitated(" ".join(["docker", *args]))


def _hello(model: GuestModel) -> Result:
    if not _daemon_up(model):
        return Result(
            125, "", f"docker: {_SOCKET_ERROR}\n\nRun 'docker run --help' for more information\n"
        )
    assert model.runtime is not None
    facts = model.runtime.facts
    err = ""
    if "hello-world:latest" not in model.docker_images:
        err += "Unable to find image 'hello-world:latest' locally\n"
        out_pull = (
            "latest: Pulling from library/hello-world\n"
            "Status: Downloaded newer image for hello-world:latest\n"
        )
        model.docker_images.append("hello-world:latest")
    else:
        out_pull = ""
    if not (facts.unprivileged and facts.keyctl):
        return Result(126, out_pull, err + _KEYRING_ERROR)
    return Result(0, out_pull + HELLO, err)
