"""The pytest plugin: options, markers, fixtures and hooks only; the work is in the library.

Fixtures (see `pytest --fixtures`): rp_settings, timeouts, kit, cluster, server_version, kube_api,
cluster_access, core_api, apps_api, raw_api, deployments, app_images, namespace, spare_namespace,
record, probed_service.

Options are checked when pytest starts (one-line usage error, before any test). SIGTERM and
SIGHUP tear down as Ctrl-C does (`harness.interrupts`); a test they cut short is reported as
"interrupted". Each session removes what runs that are gone left behind (`harness.leftovers`),
and deletes a kind cluster only when it created it.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import pytest

from . import interrupts, notrun
from .cluster.model import AppImageRef, Cluster
from .errors import ApiError, ConfigError, Forbidden, HarnessError, Unreachable
from .expectations import VersionRange
from .kubeversion import KubeVersion
from .record import ScenarioRecord
from .report import TestReport, terminal_summary_lines, versions_line, write_summary
from .settings import SETTINGS, RunSettings, resolve_settings
from .stopwatch import TeardownClock
from .timeouts import DEFAULT_TIMEOUTS, Timeouts

if TYPE_CHECKING:
    from .kit.build import KitManifest

_settings_key = pytest.StashKey[RunSettings]()
_kit_key = pytest.StashKey[Any]()  # harness.session.SessionKit: the kit manifest, read once
_cluster_key = pytest.StashKey[Cluster]()
_reports_key = pytest.StashKey[list]()
_pictures_key = pytest.StashKey[list]()
_phase_key = pytest.StashKey[dict]()
_report_key = pytest.StashKey[int]()  # the test's index in the session's reports
_teardown_key = pytest.StashKey[TeardownClock]()
_session_teardown_key = pytest.StashKey[float]()
_restore_key = pytest.StashKey[Callable[[], None]]()


def _announcer(config: pytest.Config) -> Callable[[str], None]:
    """Write a line to the terminal now, even from inside a captured fixture."""

    def announce(line: str) -> None:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        capman = config.pluginmanager.get_plugin("capturemanager")
        try:
            if reporter is None:
                raise LookupError
            if capman is not None:
                with capman.global_and_fixture_disabled():
                    reporter.write_line(line)
            else:
                reporter.write_line(line)
        except Exception:  # no terminal reporter (or called at an awkward moment): the real stderr
            print(line, file=sys.__stderr__, flush=True)

    return announce


# -- options, markers, header -------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rollproof", "rollproof: rolling-update conformance on real clusters")
    for setting in SETTINGS:
        options = [(setting.option, setting.dest, f"{setting.help} [env {setting.env}]")] if setting.option else []
        options += [
            (alias.option, alias.dest, f"old name of {setting.option}")
            for alias in setting.aliases
            if alias.option and alias.plugin == "rollproof"
        ]
        for flag, dest, text in options:
            if setting.kind == "bool":
                group.addoption(flag, action="store_true", dest=dest, default=None, help=text)
            else:
                group.addoption(flag, dest=dest, default=None, help=text)
        parser.addini(setting.ini, f"{setting.help} [env {setting.env}]", default=None)
        for alias in setting.aliases:
            if alias.ini:
                parser.addini(alias.ini, f"old name of {setting.ini}", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "server_version(spec): run only where the API server's version is in spec, e.g. "
        "@pytest.mark.server_version('>=1.16'); skipped with the reason otherwise",
    )
    config.addinivalue_line("markers", "k8s_version(spec): old name of server_version(spec)")
    config.addinivalue_line("markers", "cluster: needs a real cluster (created or reused once per session)")
    try:
        settings = resolve_settings(
            lambda dest: config.getoption(dest, default=None),
            lambda key: config.getini(key) or None,
        )
        from .session import SessionKit, check_settings

        kit = SessionKit(settings)
        check_settings(settings, config.getoption, kit)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_settings_key] = settings
    config.stash[_kit_key] = kit
    config.stash[_reports_key] = []
    config.stash[_teardown_key] = TeardownClock()
    interrupts.reset()
    config.stash[_restore_key] = interrupts.install(_announcer(config))


def pytest_unconfigure(config: pytest.Config) -> None:
    restore = config.stash.get(_restore_key, None)
    if restore is not None:
        restore()


def pytest_sessionstart(session: pytest.Session) -> None:
    from .rundir import sweep_run_dirs

    sweep_run_dirs()  # private directories of runs killed with SIGKILL


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from .pictures import DRAWER

    failed = DRAWER.finish()  # the last scenario's picture, drawn after its report was written
    session.config.stash[_pictures_key] = failed
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    import signal

    interrupts.note(signal.SIGINT)  # Ctrl-C; SIGTERM/SIGHUP were noted by their handler


def pytest_report_header(config: pytest.Config) -> list[str]:
    s = config.stash[_settings_key]
    where = (
        f"kind cluster {s.cluster_name!r} ({s.nodes} node{'s' if s.nodes > 1 else ''})"
        if s.provider == "kind"
        else f"existing cluster (context {s.context or 'current'})"
    )
    ns = f"; every test in namespace {s.namespace}" if s.namespace else ""
    return [
        f"rollproof: {where}{ns}; reports in {s.report_dir}/; timeouts x{s.timeout_scale}",
        f"rollproof: {config.stash[_kit_key].describe()}; server_version: the API server's, once the cluster is up",
        f"rollproof: {notrun.availability()}",
    ]


# -- outcome bookkeeping, summary ---------------------------------------------------------

_ONE_LINE = (ApiError, Unreachable, ConfigError)


def _one_line(excinfo: pytest.ExceptionInfo[BaseException], item: pytest.Item) -> str | None:
    """The one line for an API, connection or configuration error (its chain holds HTTP headers)."""
    exc = excinfo.value
    try:
        from kubernetes.client.exceptions import ApiException
    except ImportError:  # pragma: no cover
        ApiException = ()  # type: ignore[assignment,misc]
    if isinstance(exc, ApiException):  # a suite's own typed-client call: the one boundary translates it
        from .kube.config import api_exception_error

        exc = api_exception_error(exc)
    elif not isinstance(exc, _ONE_LINE):
        return None
    where = ""
    test_file = str(getattr(item, "path", "") or "")
    for entry in reversed(excinfo.traceback):
        if str(entry.path) == test_file:
            where = f"{Path(test_file).name}:{entry.lineno + 1}: "
            break
    return f"{where}{exc}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
    rep = yield
    if rep.failed and call.excinfo is not None:
        line = _one_line(call.excinfo, item)
        if line is not None:
            rep.longrepr = line
    item.stash.setdefault(_phase_key, {})[rep.when] = rep
    return rep


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Time the test's own teardown into its report (rewritten with it); the session's part apart."""
    import time

    config = item.config
    clock = config.stash[_teardown_key]
    clock.begin(time.monotonic())
    try:
        return (yield)
    finally:
        own, session = clock.end(time.monotonic(), last=nextitem is None)
        index = item.stash.get(_report_key, None)
        if index is not None:
            from .report import write_test_report

            reports = config.stash[_reports_key]
            reports[index] = dataclasses.replace(reports[index], teardown_s=own)
            write_test_report(config.stash[_settings_key].report_dir, reports[index])
        if nextitem is None:
            config.stash[_session_teardown_key] = session


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest) -> None:
    import time

    clock = request.config.stash.get(_teardown_key, None)
    if clock is not None:
        clock.finalized(fixturedef.scope, time.monotonic())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    repeat = metafunc.config.stash[_settings_key].repeat
    if repeat > 1:  # a soak: every scenario N times on the one cluster
        metafunc.fixturenames.append("_rp_run")
        metafunc.parametrize("_rp_run", range(1, repeat + 1), ids=[f"run{i}" for i in range(1, repeat + 1)])


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    reports: list[TestReport] = config.stash.get(_reports_key, [])
    for line in config.stash.get(_pictures_key, []):
        terminalreporter.write_line(f"rollproof: {line}", red=True)
    if not reports:
        return
    settings = config.stash[_settings_key]
    session_teardown = config.stash.get(_session_teardown_key, None)
    cluster = config.stash.get(_cluster_key, None)
    bring_up = cluster.bring_up if cluster is not None else None
    path = write_summary(settings.report_dir, reports, session_teardown, bring_up)
    terminalreporter.section("rollproof")
    terminalreporter.write_line(versions_line(reports))
    for line in terminal_summary_lines(reports):
        terminalreporter.write_line(line)
    if bring_up is not None:
        terminalreporter.write_line(f"the cluster: {bring_up.describe()} (in the first test's set-up)")
    if session_teardown is not None:
        terminalreporter.write_line(
            f"the session's own teardown: {session_teardown:.1f} s (on a cluster that stays, the wait for the "
            "namespaces deleted in the background; else the cluster's removal)"
        )
    terminalreporter.write_line(f"reports: {path.parent}/ (summary.json, matrix.md, one JSON + PNG per scenario)")
    if settings.repeat > 1:
        from .soak import soak_summary, write_soak

        soak = soak_summary(reports)
        written = write_soak(settings.report_dir, reports)
        terminalreporter.write_line(
            f"soak: {soak.runs} runs, {soak.requests} requests, {soak.failed_requests} failed"
            + "".join(f"; {cause} {n}" for cause, n in soak.as_dict()["failures_by_cause"].items())
            + f" ({written})"
        )


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def rp_settings(pytestconfig: pytest.Config) -> RunSettings:
    """The resolved rollproof settings (option > environment > ini > default)."""
    return pytestconfig.stash[_settings_key]


@pytest.fixture(scope="session")
def timeouts(rp_settings: RunSettings) -> Timeouts:
    """Every named duration, scaled by --timeout-scale."""
    return DEFAULT_TIMEOUTS.scaled(rp_settings.timeout_scale)


@pytest.fixture(scope="session")
def cluster(request: pytest.FixtureRequest, rp_settings: RunSettings, timeouts: Timeouts) -> Iterator[Cluster]:
    """The session's cluster: a kind cluster created (or reused) once, or an existing one.

    Leftovers of runs that are gone are removed first (one line each); a kind
    cluster is deleted at the end only when this session created it.
    """
    from .session import open_provider

    config = request.config
    announce = _announcer(config)
    try:
        provider = open_provider(rp_settings, timeouts, config.getoption, announce, config.stash[_kit_key])
        up = provider.up()
    except HarnessError as exc:
        pytest.fail(f"cluster unavailable: {exc}", pytrace=False)
    try:
        if rp_settings.namespace and up.namespace is None:
            up = dataclasses.replace(up, namespace=rp_settings.namespace)
        config.stash[_cluster_key] = up
        announce(f"\nrollproof: {up.describe()}")
        try:
            _prepare(up, timeouts, announce)
        except HarnessError as exc:
            pytest.fail(f"cluster {up.name!r} not usable: {exc}", pytrace=False)
        yield up
    finally:
        provider.down()


def _prepare(up: Cluster, timeouts: Timeouts, announce: Callable[[str], None]) -> None:
    """Rights this session needs, checked up front; leftovers of runs that are gone, removed."""
    from kubernetes import client

    from .kube.config import load_kubeconfig
    from .leftovers import sweep
    from .sharedns import Right, describe_missing, missing_rights

    api = load_kubeconfig(up.kubeconfig, up.context).api_client()
    try:
        if up.namespace:
            missing = missing_rights(api, up.namespace, timeouts)
            if missing:
                raise HarnessError(
                    f"the kubeconfig's user lacks rights in namespace {up.namespace}: "
                    f"{describe_missing(missing)} (the README's 'Rights' lists what rollproof needs)"
                )
            sweep(client.CoreV1Api(api), timeouts, announce, namespace=up.namespace, where=up.name)
            return
        cluster_rights = (Right("", ("namespaces",), ("create", "delete", "list")),)
        missing = missing_rights(api, "", timeouts, cluster_rights)
        if missing:
            raise HarnessError(
                f"the kubeconfig's user lacks cluster-wide rights: {describe_missing(missing)}; name "
                "a namespace it may use instead (--namespace NAME, or the kubeconfig context's namespace)"
            )
        try:
            sweep(client.CoreV1Api(api), timeouts, announce, where=up.name)
        except Forbidden as exc:
            announce(f"rollproof: cannot look for leftovers of earlier runs: {exc}")
    finally:
        api.close()


@pytest.fixture(scope="session")
def server_version(cluster: Cluster) -> KubeVersion:
    """The API server's version (`.release` is its (major, minor), what the expectation table is keyed by)."""
    return cluster.server_version


@pytest.fixture(scope="session")
def kube_api(cluster_access: Any) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` for the cluster (TLS verified)."""
    api = cluster_access.api_client()
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def cluster_access(cluster: Cluster) -> Any:
    """`harness.kube.config.ClusterAccess` for the cluster (server, CA, credentials kept hidden)."""
    from .kube.config import load_kubeconfig

    return load_kubeconfig(cluster.kubeconfig, cluster.context)


@pytest.fixture
def deployments(cluster_access: Any, namespace: str, raw_api: Any, timeouts: Timeouts) -> Iterator[Any]:
    """kubectl-equivalent Deployment operations in the test's namespace (exchanges recorded)."""
    from .rollout.deployments import Deployments

    ops = Deployments(cluster_access, namespace, timeouts=timeouts, raw=raw_api)
    try:
        yield ops
    finally:
        ops.close()


@pytest.fixture(scope="session")
def core_api(kube_api: Any) -> Any:
    """`kubernetes.client.CoreV1Api` on the session's cluster."""
    from kubernetes import client

    return client.CoreV1Api(kube_api)


@pytest.fixture(scope="session")
def apps_api(kube_api: Any) -> Any:
    """`kubernetes.client.AppsV1Api` on the session's cluster."""
    from kubernetes import client

    return client.AppsV1Api(kube_api)


@pytest.fixture
def raw_api(cluster_access: Any, timeouts: Timeouts, record: ScenarioRecord, cluster: Cluster) -> Iterator[Any]:
    """A raw API client over requests; every exchange lands in the test's report. Where the server has no
    server-side apply (the expectation table's row), the harness's writes apply client-side."""
    from .expectations import not_applicable
    from .kube.raw import RawApi

    ssa = not_applicable("server-side-apply", cluster.server_version) is None
    api = RawApi(cluster_access, timeouts, server_side_apply=ssa)
    record.exchange_sources.append(lambda: api.exchanges)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def kit(pytestconfig: pytest.Config) -> KitManifest | None:
    """The manifest of the session's kit build (--kit-manifest, --kit-version's, or the last), read once; None
    when there is no kit build."""
    try:
        return pytestconfig.stash[_kit_key].manifest()
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def app_images(rp_settings: RunSettings, kit: KitManifest | None) -> dict[str, AppImageRef]:
    """{"old": AppImageRef, "new": AppImageRef}: the images rolled between and their Server headers."""
    from .session import resolve_app_images

    try:
        return resolve_app_images(rp_settings, kit)
    except ConfigError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def _rp_shared_namespace(
    request: pytest.FixtureRequest, cluster: Cluster, kube_api: Any, timeouts: Timeouts
) -> Iterator[Any]:
    """The named namespace, held by this session (None when every test gets its own)."""
    if not cluster.namespace:
        yield None
        return
    from .sharedns import SharedNamespace

    shared = SharedNamespace(kube_api, cluster.namespace, timeouts, _announcer(request.config))
    try:
        shared.acquire()
    except HarnessError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield shared
    finally:
        shared.release()


@pytest.fixture(scope="session")
def _rp_reaper(cluster: Cluster, core_api: Any, timeouts: Timeouts) -> Iterator[Any]:
    """Test namespaces deleted in the background; the session waits for them all at its end, unless
    the cluster goes next (created by this run, not kept): they go with it."""
    from .namespaces import NamespaceReaper

    reaper = NamespaceReaper(core_api, timeouts)
    try:
        yield reaper
    finally:
        reaper.finish(wait=not cluster.removed_at_end)


@pytest.fixture
def namespace(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    core_api: Any,
    kube_api: Any,
    rp_settings: RunSettings,
    timeouts: Timeouts,
    _rp_shared_namespace: Any,
    _rp_reaper: Any,
) -> Iterator[str]:
    """The test's namespace: a fresh one, or the named one; dumped on failure, emptied or deleted afterwards.

    A fresh namespace carries this run as its owner and is deleted unless kept, in
    the background (the session waits for every deletion at its end); in the named
    namespace what the test made is deleted and waited for.
    """
    from .namespaces import create_namespace

    shared = _rp_shared_namespace
    name = shared.namespace if shared is not None else create_namespace(core_api, request.node.name, timeouts)
    try:
        yield name
    finally:
        _release_namespace(request, name, kube_api, rp_settings, shared, _rp_reaper)


@pytest.fixture
def spare_namespace(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    core_api: Any,
    kube_api: Any,
    rp_settings: RunSettings,
    timeouts: Timeouts,
    _rp_shared_namespace: Any,
    _rp_reaper: Any,
) -> Iterator[str | None]:
    """A second fresh namespace, for a test that runs two things side by side; None when the run is
    confined to one named namespace (the test then runs them one after the other). Handled as
    `namespace` is: dumped on failure, deleted in the background unless kept."""
    from .namespaces import create_namespace

    if _rp_shared_namespace is not None:
        yield None
        return
    name = create_namespace(core_api, f"{request.node.name}-2", timeouts)
    try:
        yield name
    finally:
        _release_namespace(request, name, kube_api, rp_settings, None, _rp_reaper)


def _release_namespace(
    request: pytest.FixtureRequest, name: str, kube_api: Any, rp_settings: RunSettings, shared: Any, reaper: Any
) -> None:
    """A test's namespace at its end: dumped when the test failed or was interrupted, then emptied
    (the named namespace) or deleted in the background (unless kept)."""
    from .namespaces import dump_namespace

    phases = request.node.stash.get(_phase_key, {})
    if any(rep.failed for rep in phases.values()) or interrupts.received():
        dump = dump_namespace(kube_api, name)
        path = Path(rp_settings.report_dir) / f"{name}.dump.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump + "\n")
        request.node.add_report_section("teardown", f"namespace dump ({name})", dump)
    if shared is not None:
        shared.clean()
    elif not rp_settings.keep_namespaces:
        reaper.delete(name)


def _scenario_name(item: pytest.Item) -> str:
    doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else ""
    return first or item.name


@pytest.fixture
def record(
    request: pytest.FixtureRequest, rp_settings: RunSettings, pytestconfig: pytest.Config
) -> Iterator[ScenarioRecord]:
    """The scenario's record (steps, probe analyses, data path, history); written as its report at the end."""
    rec = ScenarioRecord(scenario=_scenario_name(request.node))
    yield rec
    finish_errors = rec.finish()  # samplers a failed test left running are stopped and analysed
    phases = request.node.stash.get(_phase_key, {})
    call, setup = phases.get("call"), phases.get("setup")
    signal_name = interrupts.received()
    if call is not None:
        outcome = call.outcome
    elif setup is not None and setup.failed:
        outcome = "error"
    elif signal_name is not None:
        outcome = "interrupted"  # cut short by Ctrl-C, SIGTERM or SIGHUP: it neither passed nor was skipped
    else:
        outcome = "skipped"
    failed = call if call is not None and call.failed else setup if setup is not None and setup.failed else None
    message = str(failed.longrepr)[-2000:] if failed is not None else ""
    if outcome == "interrupted":
        message = f"interrupted by {signal_name}"
    if finish_errors:
        message += "".join(f"\nwhile stopping the probes: {exc}" for exc in finish_errors)
    cluster_info = pytestconfig.stash.get(_cluster_key, None)
    server_version = cluster_info.git_version if cluster_info else "unknown"
    kit_version = pytestconfig.stash[_kit_key].used_version()
    setup_s = setup.duration if setup is not None else None
    report = rec.write(
        rp_settings.report_dir, request.node.nodeid, outcome, server_version, message, kit_version, setup_s
    )
    request.node.stash[_report_key] = len(pytestconfig.stash[_reports_key])
    pytestconfig.stash[_reports_key].append(report)
    props: list[tuple[str, object]] = [
        ("scenario", rec.scenario),
        ("kit_version", kit_version or "none"),
        ("server_version", server_version),
        ("rollout_seconds", round(rec.rollout_seconds, 2)),
    ]
    for probe in report.probes:
        k = probe.label.replace(" ", "_")
        props += [
            (f"{k}_verdict", probe.verdict),
            (f"{k}_total", probe.total),
            (f"{k}_failed", probe.failed),
            (f"{k}_max_gap_ms", round(probe.coverage.max_gap * 1000, 3)),
            (f"{k}_evidence_complete", probe.complete),
            (f"{k}_versions_seen", " ".join(probe.versions_seen)),
        ]
    request.node.user_properties.extend(props)


@dataclasses.dataclass(frozen=True)
class ServiceProbes:
    """What `probed_service` yields: called, it creates the Service (unless exposed) and probes it.

    `expose(name, selector)` creates the Service before its pods start, so kube-proxy has written
    its NodePort while they start: a NodePort created once they were ready dropped SYNs until the
    next sync, up to kube-proxy's 1 s minimum sync period later (README finding 1)."""

    probe: Callable[..., Any]
    expose: Callable[[str, dict[str, str]], None]

    def __call__(self, name: str, selector: dict[str, str], **options: Any) -> Any:
        return self.probe(name, selector, **options)


@pytest.fixture
def probed_service(
    cluster: Cluster,
    core_api: Any,
    kube_api: Any,
    namespace: str,
    record: ScenarioRecord,
    timeouts: Timeouts,
    rp_settings: RunSettings,
    app_images: dict[str, AppImageRef],
) -> Iterator[ServiceProbes]:
    """Factory: `probed_service(name, selector, failures="asserted")` -> a started `ProbedService`;
    `probed_service.expose(name, selector)` creates the Service ahead (see `ServiceProbes`).

    Creates the Service `name` over `selector` (a NodePort mapped to 127.0.0.1 when the
    cluster has one), starts a new-connection and a keep-alive sampler (on this host, else
    in a pod) and the data-path recorder, and returns once each sampler had an answer.
    Rollouts go in `with probed.phase(label, (old, new)):`; `probed.finish()` analyses
    once; the analyses land in the record. Finished at teardown if the test did not."""
    from .datapath import DataPathRecorder
    from .expectations import not_applicable
    from .demo import connection_lifetime, create_service
    from .probing import ProbedService
    from .sampler import ProbeOptions
    from .samples import SAMPLER_KINDS
    from .session import default_routes, kind_node_pids, sampler_factory

    started: list[Any] = []
    exposed: dict[str, dict[str, str]] = {}

    def expose(name: str, selector: dict[str, str]) -> None:
        if name in exposed:
            if exposed[name] != selector:
                raise ConfigError(f"Service {name} was exposed over {exposed[name]}, not {selector}")
            return
        create_service(core_api, cluster, namespace, name, selector)
        exposed[name] = dict(selector)

    def make(
        name: str, selector: dict[str, str], *, failures: str = "asserted", kinds: tuple[str, ...] = SAMPLER_KINDS
    ) -> Any:
        expose(name, selector)
        lifetime = connection_lifetime(core_api, namespace, selector, timeouts)
        pids, note = kind_node_pids(cluster)
        recorder = DataPathRecorder(
            kube_api,
            namespace,
            name,
            selector,
            pids,
            timeouts,
            proxy_note=note,
            endpoint_slices=not_applicable("endpointslices-v1", cluster.server_version) is None,
        )

        def keep(analyses: list[Any], timeline: Any) -> None:
            record.probes.extend(analyses)
            if timeline is not None:
                record.datapath.append(timeline)

        routes = rp_settings.probe_routes.split(",") if rp_settings.probe_routes else default_routes(cluster)
        probed = ProbedService(
            service=name,
            open_sampler=sampler_factory(cluster, core_api, namespace, name, timeouts),
            options=[
                witness
                for r in routes
                for k in kinds
                for witness in ProbeOptions.of(
                    timeouts, kind=k, interval=rp_settings.probe_interval, route=r
                ).witnesses(len(os.sched_getaffinity(0)))
            ],
            timeouts=timeouts,
            datapath=recorder,
            failures=failures,
            connection_lifetime=lifetime,
            origin=record.t0,
            versions={ref.image: ref.server for ref in app_images.values()},
            on_rollout_time=record.add_rollout_time,
            on_finish=keep,
        )
        started.append(probed)
        record.finishers.append(lambda: probed.finish(observe=False))
        return probed.start()

    yield ServiceProbes(make, expose)


@pytest.fixture(autouse=True)
def _rp_version_gate(request: pytest.FixtureRequest) -> None:
    for name in ("server_version", "k8s_version"):  # k8s_version: its old name
        marker = request.node.get_closest_marker(name)
        if marker is None:
            continue
        if not marker.args:
            raise pytest.UsageError(f"{request.node.nodeid}: {name} needs a range, e.g. {name}('>=1.16')")
        spec = VersionRange.parse(marker.args[0])
        cluster: Cluster = request.getfixturevalue("cluster")
        if not spec.contains(cluster.major, cluster.minor):
            pytest.skip(f"needs Kubernetes {marker.args[0]}; cluster runs {cluster.git_version}")


__all__ = [
    name
    for name, value in dict(globals()).items()
    if getattr(value, "_pytestfixturefunction", None) is not None or name.startswith("pytest_")
]
