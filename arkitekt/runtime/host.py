"""The host: a supervisor that runs releases on this machine, as the platform asks.

    async with arkitekt.connect(url, host_token) as client:
        await Host(client, name="microscope-pc", data_dir=Path("/var/lib/arkitekt")).run()

It registers the machine, then follows `watchHost`: each message is everything the host
must run. For each deployment it fetches the release's bundle (checking its digest),
prepares an environment (`environments`), and starts the app as an agent (`python -m
arkitekt run`) with a token the platform makes for that deployment. It forwards the app's
output as log lines, reports each state (STARTING, RUNNING once the app serves, CRASHED),
and starts a crashed app again after a pause that grows while it keeps crashing.

Upgrading starts the new release first and stops the old one only once the new one
serves, so the app's functions stay callable throughout. Stopping asks the app to finish
its running calls (SIGTERM), and kills it when it does not within `grace` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from arkitekt.api.client import Client as ApiClient
from arkitekt.api.enums import DeploymentStatus
from arkitekt.api.fragments import Deployment as DeploymentData
from arkitekt.api.input_types import HostInput
from arkitekt.errors import ApiError, ArkitektError, ServerUnavailableError

from .environments import Environments
from .releases import BUNDLE_KEY, file_digest, unpack

log = logging.getLogger("arkitekt.host")

RECONNECT_DELAYS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Pauses before starting a crashed app again: longer while it keeps crashing."""
STABLE = 60.0
"""An app that ran this many seconds before it crashed starts again at the first pause."""
MAX_LINES = 1000
"""Log lines per report, at most."""
MAX_LINE = 1 << 20
"""Bytes in one line of an app's output, at most (the platform keeps its start)."""
SERVING = re.compile(r"serving \d+ functions? of .* \(agent (?P<agent>[0-9a-f]+)\)")
"""What `arkitekt run` prints once its agent is registered and live."""
STARTUP_FAILED = re.compile(r"^startup \S+ failed: ")
"""What `arkitekt run` prints when one of the app's startups (`@startup`) failed."""


class HostTakenOverError(ArkitektError):
    """Another `arkitekt host` process with the same name connected: this one stops."""


def machine(name: str, teams: list[str] | None = None) -> HostInput:
    """This machine, as the platform lists it: CPUs, memory, GPUs and platform."""
    memory = None
    with contextlib.suppress(ValueError, OSError, AttributeError):
        memory = float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    return HostInput(
        name=name,
        hostname=socket.gethostname(),
        cpus=os.cpu_count(),
        memory=memory,
        gpus=gpus(),
        platform=f"{platform.system()} {platform.machine()}, Python {platform.python_version()}",
        teams=teams,
    )


def gpus() -> list[str]:
    """The NVIDIA GPUs `nvidia-smi` lists, when it is installed."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        listed = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in listed.stdout.splitlines() if line.strip()]


class Pids:
    """The app processes this host started, one file each: a host that died without
    stopping them (SIGKILL, a power cut of its own process) stops them when it starts
    again, so that no app serves twice."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def add(self, pid: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / str(pid)).touch()

    def discard(self, pid: int) -> None:
        (self.folder / str(pid)).unlink(missing_ok=True)

    def leftovers(self) -> list[int]:
        """Stops (SIGTERM) the apps an earlier host process left running; returns them."""
        stopped = []
        for path in sorted(self.folder.glob("*")) if self.folder.is_dir() else []:
            path.unlink()
            pid = int(path.name) if path.name.isdigit() else 0
            try:  # the pid may have been reused: only an arkitekt app is stopped
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"arkitekt" in command and b"run" in command:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                    stopped.append(pid)
        return stopped


class Reports:
    """Sends what the host has to say of its deployments: states at once, log lines in
    batches of whatever queued up while the previous report was on its way."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self._lines: dict[str, list[str]] = {}
        self._wake = asyncio.Event()

    def log(self, deployment: str, line: str) -> None:
        self._lines.setdefault(deployment, []).append(line)
        self._wake.set()

    async def state(self, deployment: str, release: str, **fields: Any) -> None:
        await self._send(deployment, self._lines.pop(deployment, []), release=release, **fields)

    async def retire(self, deployment: str, token: str) -> None:
        """The app that held `token` stopped for good: its token should work no more. When
        the platform cannot hear it now, the deployment's end revokes the token anyway."""
        with contextlib.suppress(ApiError, ServerUnavailableError):
            await self.api.retire_deployment_token(deployment=deployment, token=token)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._lines:
                deployment = next(iter(self._lines))
                await self._send(deployment, self._lines.pop(deployment))

    async def _send(self, deployment: str, lines: list[str], **fields: Any) -> None:
        while len(lines) > MAX_LINES:  # the platform takes so many lines per report
            await self._report(deployment, logs=lines[:MAX_LINES])
            lines = lines[MAX_LINES:]
        await self._report(deployment, logs=lines or None, **fields)

    async def _report(self, deployment: str, **fields: Any) -> None:
        attempt = 0
        while True:
            try:
                await self.api.report_deployment(deployment=deployment, **fields)
                return
            except ServerUnavailableError:
                await asyncio.sleep(RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)])
                attempt += 1
            except ApiError as error:  # the deployment is gone: nothing to tell
                log.warning("The platform refused a report on %s: %s", deployment, error)
                return


class AppProcess:
    """One release's app, kept running until stopped: started again after each crash."""

    def __init__(
        self, host: Host, deployment: DeploymentData, python: Path, folder: Path, token: str
    ) -> None:
        self.host = host
        self.deployment = deployment.id
        self.release = deployment.release
        self.app = deployment.app
        self.teams = list(deployment.teams)
        self.user = deployment.user.id
        self.python, self.folder, self.token = python, folder, token
        self.restarts = deployment.restarts
        self.ready = asyncio.Event()
        """Set once the app serves (after each start)."""
        self.startup_failed = asyncio.Event()
        """Set when a startup of the app failed before it served (after each start)."""
        self.after: AppProcess | None = None
        """An app that must have stopped before this one starts again."""
        self.process: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def label(self) -> str:
        return f"{self.app} {self.release.version}"

    def runs(self, deployment: DeploymentData) -> bool:
        """Whether this is the app the deployment wants: its release, for its teams, as
        the user who deployed it (another starts in its place otherwise)."""
        return (self.release.id, self.teams, self.user) == (
            deployment.release.id,
            list(deployment.teams),
            deployment.user.id,
        )

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_running(), name=f"arkitekt-app-{self.app}")

    async def wait_finished(self) -> None:
        if self._task is not None:
            await self._task

    async def _keep_running(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                code: int | str = await self._run_once()
            except OSError as error:  # its environment went away, the machine is full...
                code = f"none: it could not start ({error})"
            if self._stopping.is_set():
                return
            if time.monotonic() - started > STABLE:
                attempt = 0
            delay = RESTART_DELAYS[min(attempt, len(RESTART_DELAYS) - 1)]
            attempt += 1
            self.restarts += 1
            message = f"It exited with code {code}; starting it again in {delay:g}s."
            self.host.echo(f"{self.label}: exited with code {code}; again in {delay:g}s")
            await self.host.reports.state(
                self.deployment,
                self.release.id,
                status=DeploymentStatus.CRASHED,
                message=message,
                restarts=self.restarts,
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            if self.after is not None:
                await self.after.wait_finished()

    async def _run_once(self) -> int:
        self.ready.clear()
        self.startup_failed.clear()
        arguments = [str(self.python), "-m", "arkitekt", "run", self.release.entry]
        arguments += ["--name", self.app]
        for team in self.teams:
            arguments += ["--team", team]
        self.process = process = await asyncio.create_subprocess_exec(
            *arguments,
            cwd=self.folder,
            env=self._environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C on the host reaches the host, which stops it
            limit=MAX_LINE,
        )
        self.host.pids.add(process.pid)
        self.host.echo(f"{self.label}: started (pid {process.pid})")
        await self.host.reports.state(
            self.deployment, self.release.id, status=DeploymentStatus.STARTING, message=None
        )
        assert process.stdout is not None
        while True:
            try:
                raw = await process.stdout.readline()
            except ValueError:  # asyncio drops a line longer than the limit, and says so
                raw = b"(a line longer than %d bytes was left out)" % MAX_LINE
            if not raw:
                break
            line = raw.decode(errors="replace").rstrip()
            self.host.reports.log(self.deployment, line)
            if STARTUP_FAILED.search(line) and not self.ready.is_set():
                self.startup_failed.set()
            serving = SERVING.search(line)
            if serving is not None and not self.ready.is_set():
                self.ready.set()
                await self.host.reports.state(
                    self.deployment,
                    self.release.id,
                    status=DeploymentStatus.RUNNING,
                    agent=serving["agent"],
                    message=None,
                )
                # Said once the platform knows: what the host says, the platform shows.
                self.host.echo(f"{self.label}: serving (agent {serving['agent']})")
        code = await process.wait()
        self.host.pids.discard(process.pid)
        return code

    def _environment(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "USER")
        env = {name: os.environ[name] for name in keep if name in os.environ}
        return {
            **env,
            "ARKITEKT_URL": self.host.url,
            "ARKITEKT_TOKEN": self.token,
            # The app reads no config file of the host's user.
            "ARKITEKT_CONFIG": str(self.folder / ".arkitekt-config.json"),
            "PYTHONUNBUFFERED": "1",
        }

    async def stop(self, grace: float) -> None:
        """Asks the app to finish (SIGTERM), kills it after `grace` seconds."""
        self._stopping.set()
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(grace):
                    await process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await self.wait_finished()
        await self.host.reports.retire(self.deployment, self.token)
        self.host.echo(f"{self.label}: stopped")


class Deployed:
    """A deployment on this host: applies each state the platform sends, in order."""

    def __init__(self, host: Host, deployment: str) -> None:
        self.host = host
        self.id = deployment
        self.current: AppProcess | None = None
        self._wanted: DeploymentData | None = None
        self._changed = asyncio.Event()

    def want(self, deployment: DeploymentData | None) -> None:
        """What the platform wants now (None: nothing, it is gone)."""
        self._wanted = deployment
        self._changed.set()

    async def run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            wanted = self._wanted
            if wanted is None or wanted.status is DeploymentStatus.STOPPING:
                await self._stop(wanted)
                return
            if self.current is None or not self.current.runs(wanted):
                await self._start(wanted)

    async def _stop(self, wanted: DeploymentData | None) -> None:
        if self.current is not None:
            await self.current.stop(self.host.grace)
            self.current = None
        if wanted is not None:
            await self.host.reports.state(
                self.id, wanted.release.id, status=DeploymentStatus.STOPPED, message=None
            )
            self.host.echo(f"{wanted.app} {wanted.release.version}: undeployed")

    async def _start(self, wanted: DeploymentData) -> None:
        """Starts the wanted app; the one running before stops once the new one serves (or
        when the platform changes its mind meanwhile).

        A new app whose startup fails while the old one runs may need what the old one
        holds (a microscope opens once): the old one stops, and the new one starts alone.
        """
        try:
            app = await self.host.prepare(wanted)
        except (ArkitektError, OSError, aiohttp.ClientError) as error:
            log.warning("Cannot start %s: %s", wanted.app, error)
            self.host.echo(f"{wanted.app} {wanted.release.version}: cannot start: {error}")
            await self.host.reports.state(
                self.id,
                wanted.release.id,
                status=DeploymentStatus.CRASHED,
                message=f"Cannot start it: {error}",
            )
            self._retry_later(wanted)
            return
        app.start()
        previous, self.current = self.current, app
        if previous is None:
            return
        waits = [
            asyncio.create_task(event.wait())
            for event in (app.ready, app.startup_failed, self._changed)
        ]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        if app.ready.is_set():
            self.host.echo(f"{app.label}: serves; stopping {previous.label}")
        elif app.startup_failed.is_set():
            app.after = previous
            self.host.echo(
                f"{app.label}: its startup failed while {previous.label} runs; "
                f"stopping {previous.label} to start it alone"
            )
        await previous.stop(self.host.grace)

    def _retry_later(self, wanted: DeploymentData) -> None:
        async def again() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RESTART_DELAYS[2]):
                    await self._changed.wait()
                    return
            if self._wanted is wanted:
                self._changed.set()

        self.host.tasks.create_task(again())


class Host:
    """Runs the platform's deployments on this machine.

    Args:
        client: A client connected with a host token (`arkitekt token create --scope host`).
        name: The host's name on the platform.
        data_dir: Where bundles, releases and environments are kept.
        teams: The teams whose members may deploy to it (teams of the token's user).
        grace: Seconds a stopping app has to finish its calls before it is killed.
        echo: Called with a line for each thing that happens (the CLI prints them).
    """

    def __init__(
        self,
        client: Any,
        *,
        name: str,
        data_dir: Path,
        teams: list[str] | None = None,
        grace: float = 10.0,
        cache: Path | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.api: ApiClient = client.api if hasattr(client, "api") else client
        self.url: str = self.api.transport.url
        self.name = name
        self.data_dir = data_dir
        self.teams = teams
        self.grace = grace
        self.environments = Environments(cache or data_dir / "cache")
        self.echo = echo or (lambda line: log.info("%s", line))
        self.reports = Reports(self.api)
        self.pids = Pids(data_dir / "pids")
        self.id: str | None = None
        self.deployed: dict[str, Deployed] = {}
        self.tasks = asyncio.TaskGroup()

    async def register(self) -> str:
        host = await self.api.register_host(input=machine(self.name, self.teams))
        self.id = host.id
        return host.id

    async def run(self, ready: Callable[[], None] | None = None) -> None:
        """Registers, then runs what the platform asks until cancelled.

        Raises:
            HostTakenOverError: Another host process with this name connected.
        """
        await self.register()
        for pid in self.pids.leftovers():
            self.echo(f"stopped an app left running by an earlier host process (pid {pid})")
        try:
            async with self.tasks:
                self.tasks.create_task(self.reports.run())
                await self._follow(ready)
        finally:
            await asyncio.shield(self._stop_all())

    async def _follow(self, ready: Callable[[], None] | None) -> None:
        assert self.id is not None
        attempt = 0
        while True:
            try:
                async for work in self.api.watch_host(host=self.id):
                    attempt = 0
                    if ready is not None:
                        ready()
                        ready = None
                    self.apply(work.deployments)
                raise HostTakenOverError(
                    f"Another host process named {self.name!r} connected; this one stops."
                )
            except ServerUnavailableError as error:
                delay = RECONNECT_DELAYS[min(attempt, len(RECONNECT_DELAYS) - 1)]
                attempt += 1
                log.warning("Disconnected (%s); reconnecting in %.2fs", error, delay)
                await asyncio.sleep(delay)

    def apply(self, deployments: list[DeploymentData]) -> None:
        """Makes this host run exactly these deployments."""
        wanted = {deployment.id: deployment for deployment in deployments}
        for deployment_id, deployed in list(self.deployed.items()):
            if deployment_id not in wanted:
                deployed.want(None)
        for deployment_id, deployment in wanted.items():
            known = self.deployed.get(deployment_id)
            if known is None:
                if deployment.status is DeploymentStatus.STOPPING:
                    self.tasks.create_task(
                        self.reports.state(
                            deployment_id,
                            deployment.release.id,
                            status=DeploymentStatus.STOPPED,
                            message=None,
                        )
                    )
                    continue
                known = self.deployed[deployment_id] = Deployed(self, deployment_id)
                self.tasks.create_task(self._run(known))
            known.want(deployment)

    async def _run(self, deployed: Deployed) -> None:
        try:
            await deployed.run()
        finally:
            if self.deployed.get(deployed.id) is deployed:
                del self.deployed[deployed.id]

    async def _stop_all(self) -> None:
        running = [d.current for d in self.deployed.values() if d.current is not None]
        await asyncio.gather(*(app.stop(self.grace) for app in running))

    async def prepare(self, deployment: DeploymentData) -> AppProcess:
        """The release's files, environment and token, ready to start its app."""
        release = deployment.release
        self.echo(f"{deployment.app} {release.version}: preparing its environment")
        await self.reports.state(
            deployment.id,
            release.id,
            status=DeploymentStatus.STARTING,
            message=f"Preparing {deployment.app} {release.version}.",
        )
        token = await self.api.deployment_token(deployment=deployment.id)
        folder = await self._release_folder(release.blob, release.digest, token)
        python = await self.environments.environment(list(release.requirements))
        return AppProcess(self, deployment, python, folder, token)

    async def _release_folder(self, blob: str, digest: str, token: str) -> Path:
        folder = self.data_dir / "releases" / digest[:32]
        if folder.is_dir():
            return folder
        bundle = self.data_dir / "bundles" / f"{digest[:32]}.tar.gz"
        if not bundle.is_file() or file_digest(bundle) != digest:
            await self._download(blob, bundle, token)
            if file_digest(bundle) != digest:
                bundle.unlink()
                raise ArkitektError(f"The bundle in blob {blob} does not match its digest.")
        await asyncio.to_thread(unpack, bundle, folder)
        return folder

    async def _download(self, blob: str, path: Path, token: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession(headers=headers) as session,
            session.get(f"{self.url}/blobs/{blob}/{BUNDLE_KEY}") as response,
        ):
            if response.status != 200:
                raise ArkitektError(
                    f"Cannot fetch the bundle (HTTP {response.status}): {await response.text()}"
                )
            with partial.open("wb") as file:
                async for piece in response.content.iter_chunked(1 << 20):
                    file.write(piece)
        partial.replace(path)
