"""Drive a ReplicationController rolling update through the kubernetes client's CoreV1Api.

The update keeps its progress in annotations on the two RCs, under the names
`kubectl rolling-update` used:

* new RC: `kubectl.kubernetes.io/desired-replicas` (the goal) and
  `kubectl.kubernetes.io/update-source-id` (`<old name>:<old uid>`);
* old RC: `kubectl.kubernetes.io/original-replicas` (its size before the
  update) and, in --image mode, `kubectl.kubernetes.io/next-controller-id`
  (the new RC's name).

So an updater that dies between two steps resumes when run again: the new RC
(named by the manifest, next-controller-id, or found by its source id) is
reused and its desired annotation honoured. Progress goes to `out` in kubectl
1.17's words ("Created web-v2", "Scaling web-v2 up to 1", ...), and
`suites/test_rc_referee.py` runs kubectl 1.17.17 and this updater on the same
cluster and compares lines, steps, annotations after each step and end state.

Where this updater still differs from kubectl 1.17 (each found by reading
kubectl's rollingupdate.go / rolling_updater.go or by the referee test):

1. Cleanup order, for resuming: kubectl removed update-source-id and
   desired-replicas from the new RC first, then deleted the old RC (a crash in
   between left an update its next run refused); here the new RC keeps them
   until the old RC is gone, so a rerun finds it by source id.
2. Rename: kubectl deleted the new RC (orphaning its pods), polled every 5 s
   for up to 60 s until it was gone, then created it under the old name (a
   crash in between left pods without a controller). Here the new RC is held
   by `RENAME_FINALIZER` until its copy exists, so the copy appears before the
   new RC is gone.
3. A finished rollback also clears next-controller-id and original-replicas
   from the restored RC (kubectl left them).
4. The deployment key (--image mode) is a hash of the pod template without
   its own key label (adler32, 8 hex digits, the same for the same template);
   kubectl hashed the whole RC as its codec encoded it, resourceVersion and
   status included (md5, 32 hex digits, different on every run). Generated
   names (`web-<hash>`) and the key's label values differ accordingly.
5. Everything is validated before the first write (`prepare`): kubectl's
   --image mode relabelled the old RC and its pods and set next-controller-id
   before it checked the new RC's replica count, and did so with --dry-run
   too; here --dry-run writes nothing.
6. `--timeout` is honoured; kubectl 1.17 parsed it but always used 5m.
7. `max_surge` / `max_unavailable` may be given (kubectl fixed them at 1 and
   0); both 0 is refused.
8. Resuming after the old RC is gone works in both modes and ends with the
   usual last line; kubectl resumed only a one-name --image update, silently.
9. A rollback finds the new RC by next-controller-id, or else by its
   update-source-id (kubectl needed the new name as a second argument after
   an -f update); with two names kubectl's rollback ended with a NotFound
   error after succeeding (its last read used the abandoned RC's name).
10. kubectl matched update-source-id by prefix without the colon (`web`
    matched `web2:...`); here `<old name>:` is required. kubectl compared an
    in-progress --image update with container 0; here with --container's.
11. Errors are one line (`rollproof: error: ...`, exit 2), kubectl's
    `error: ...` exited 1; `-o` prints name, json or yaml (no templates);
    `--validate` is accepted, and rollproof's own checks always run.

Every API call goes through `_Api.call`, i.e. `harness.kube.config.call_api`,
the project's one boundary where the client's `ApiException` becomes a
`harness.errors.ApiError`; bodies come back as the API's JSON (camelCase dicts).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from harness import samples
from harness.errors import ApiError, ConfigError, NotFound, WaitTimeout
from harness.kube.config import call_api
from harness.poll import poll
from harness.rollout.rcupdate import checks, plan
from harness.rollout.rcupdate.plan import (
    DESIRED_REPLICAS_ANNOTATION,
    NEXT_CONTROLLER_ANNOTATION,
    ORIGINAL_REPLICAS_ANNOTATION,
    SOURCE_ID_ANNOTATION,
    IntOrPercent,
    UpdateConfig,
)
from harness.rolloutsteps import ScaleStep
from harness.timeouts import DEFAULT_TIMEOUTS, Timeouts

__all__ = [
    "RollingUpdater",
    "UpdateResult",
    "PreparedUpdate",
    "Pacing",
    "NewRcOptions",
    "StepCallback",
    "Progress",
    "RENAME_FINALIZER",
]

RENAME_FINALIZER = "rollproof/rc-rename"
"""Holds the new RC (terminating, pods orphaned) until its copy under the old name exists."""

StepCallback = Callable[[ScaleStep], None]
Progress = Callable[[str], None]
"""Receives each progress line, in kubectl 1.17's words ("Scaling web-v2 up to 1")."""
RC = dict[str, Any]
T = TypeVar("T")


@dataclass
class UpdateResult:
    """What one `update` or `rollback` call did.

    `old_name` is the RC scaled down and `new_name` the one scaled up, except
    for a rollback, where `old_name` is the restored RC and `new_name` the
    abandoned one. `final_name` is the RC left serving.
    """

    old_name: str
    new_name: str
    final_name: str
    desired: int
    max_surge: int
    max_unavailable: int
    min_available: int
    resumed: bool
    rolled_back: bool = False
    renamed: bool = False
    steps: list[ScaleStep] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0


@dataclass(frozen=True)
class PreparedUpdate:
    """What `RollingUpdater.prepare` read and checked: the update `update` will run.

    `old` is None when the old RC is gone and `pending` (the new RC, found by
    its source id) only needs its cleanup or rename; `existing` is the new RC
    when an earlier run created it already.
    """

    old: RC | None
    new_rc: RC
    new_name: str
    rename: bool
    image_mode: bool
    existing: RC | None = None
    pending: RC | None = None


@dataclass(frozen=True)
class Pacing:
    """How an update or rollback moves: a None duration (seconds) is the updater's `timeouts`
    (`rc_update_period`, `rc_poll_interval`, `rc_timeout`); surge and unavailable default to kubectl's 1 and 0."""

    update_period: float | None = None
    poll_interval: float | None = None
    timeout: float | None = None
    max_surge: IntOrPercent = 1
    max_unavailable: IntOrPercent = 0


@dataclass(frozen=True)
class NewRcOptions:
    """How `prepare` finds, derives and names the new RC.

    `container` is the one whose image an image update changes (default: the
    only one); `image_pull_policy` is set on it; `deployment_key` is the label
    an image update keys old and new pods by. `new_name` names the new RC of
    an image update (default `<old name>-<hash>`). `keep_old_name` renames the
    new RC to the old name at the end (kubectl did that whenever it was given
    one name); by default only an image update without `new_name` does.
    `source` names the manifest in errors (the CLI passes `-f FILE`).
    """

    container: str | None = None
    image_pull_policy: str | None = None
    deployment_key: str = plan.DEFAULT_DEPLOYMENT_KEY
    new_name: str | None = None
    keep_old_name: bool | None = None
    source: str = "the new ReplicationController"


@dataclass(frozen=True)
class _Pace:
    """A `Pacing` resolved: every duration given."""

    update_period: float
    poll_interval: float
    timeout: float
    max_surge: IntOrPercent = 1
    max_unavailable: IntOrPercent = 0


@dataclass
class _Counts:
    """Where a running update stands: both RCs' replicas, the new RC's available pods when last counted."""

    old: int
    new: int
    available: int = 0


def _result(
    old_name: str,
    new_name: str,
    desired: int,
    config: UpdateConfig,
    started: float,
    *,
    resumed: bool,
    rename: bool = False,
    rolled_back: bool = False,
) -> UpdateResult:
    """A new `UpdateResult` (no steps yet) with `config`'s limits; the RC left serving is `final_name`."""
    return UpdateResult(
        old_name=old_name,
        new_name=new_name,
        final_name=old_name if rename or rolled_back else new_name,
        desired=desired,
        max_surge=config.surge,
        max_unavailable=config.unavailable,
        min_available=config.min_available,
        resumed=resumed,
        rolled_back=rolled_back,
        renamed=rename,
        started=started,
    )


def _meta(rc: Mapping[str, Any]) -> dict[str, Any]:
    return rc.get("metadata") or {}


def _annotations(rc: Mapping[str, Any]) -> dict[str, str]:
    return _meta(rc).get("annotations") or {}


def _replicas(rc: Mapping[str, Any]) -> int:
    value = (rc.get("spec") or {}).get("replicas")
    return 0 if value is None else int(value)


def _selector_string(selector: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


class _Api:
    """The typed-client calls the updater makes, all through `call_api`: dicts out, harness errors raised."""

    def __init__(self, core_api: Any, namespace: str, request_timeout: float) -> None:
        self.core = core_api
        self.namespace = namespace
        self.request_timeout = request_timeout
        api_client = getattr(core_api, "api_client", None)
        self.to_dict: Callable[[Any], Any] = (
            api_client.sanitize_for_serialization if api_client is not None else (lambda obj: obj)
        )

    def call(self, method: str, path: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> RC:
        result = call_api(fn, *args, method=method, path=path, timeout=self.request_timeout, **kwargs)
        return result if isinstance(result, dict) else {}

    def _rc_path(self, name: str = "") -> str:
        base = f"/api/v1/namespaces/{self.namespace}/replicationcontrollers"
        return f"{base}/{name}" if name else base

    def get_rc(self, name: str) -> RC:
        return self.call(
            "GET", self._rc_path(name), self.core.read_namespaced_replication_controller, name, self.namespace
        )

    def find_rc(self, name: str) -> RC | None:
        try:
            return self.get_rc(name)
        except NotFound:
            return None

    def list_rcs(self) -> list[RC]:
        found = self.call("GET", self._rc_path(), self.core.list_namespaced_replication_controller, self.namespace)
        return list(found.get("items") or [])

    def create_rc(self, body: RC) -> RC:
        return self.call(
            "POST", self._rc_path(), self.core.create_namespaced_replication_controller, self.namespace, body
        )

    def patch_rc(self, name: str, body: RC | list[dict[str, Any]]) -> RC:
        """A strategic merge patch for a dict body, a JSON patch for a list of operations."""
        return self.call(
            "PATCH", self._rc_path(name), self.core.patch_namespaced_replication_controller, name, self.namespace, body
        )

    def delete_rc(self, name: str, propagation: str | None) -> None:
        """DELETE; `propagation` None leaves the server's default (for core/v1 RCs: Orphan)."""
        kwargs = {"propagation_policy": propagation} if propagation else {}
        self.call(
            "DELETE",
            self._rc_path(name),
            self.core.delete_namespaced_replication_controller,
            name,
            self.namespace,
            **kwargs,
        )

    def list_pods(self, selector: Mapping[str, str]) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{self.namespace}/pods"
        found = self.call(
            "GET", path, self.core.list_namespaced_pod, self.namespace, label_selector=_selector_string(selector)
        )
        return list(found.get("items") or [])

    def patch_pod(self, name: str, body: dict[str, Any]) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{name}"
        self.call("PATCH", path, self.core.patch_namespaced_pod, name, self.namespace, body)

    def delete_pod(self, name: str) -> None:
        path = f"/api/v1/namespaces/{self.namespace}/pods/{name}"
        try:
            self.call("DELETE", path, self.core.delete_namespaced_pod, name, self.namespace)
        except NotFound:
            pass


def _go_quote(text: str) -> str:
    """`text` as Go's %q prints it (a double-quoted string; JSON escaping is the same for names)."""
    return json.dumps(text, ensure_ascii=False)


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    if _meta(pod).get("deletionTimestamp"):
        return False
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


class RollingUpdater:
    """Rolling update (and rollback) of ReplicationControllers in one namespace.

    `timeouts` supplies the defaults of update period, poll interval and
    progress timeout (`rc_update_period`, `rc_poll_interval`, `rc_timeout`) and
    the per-request timeout; `clock` stamps every `ScaleStep`; `sleep` is
    injectable for tests.
    """

    def __init__(
        self,
        core_api: Any,
        namespace: str,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        clock: Callable[[], float] = samples.clock,
        *,
        sleep: Callable[[float], None] = time.sleep,
        out: Progress | None = None,
    ) -> None:
        self.namespace = namespace
        self.timeouts = timeouts
        self.clock = clock
        self.sleep = sleep
        self.out = out
        self._api = _Api(core_api, namespace, timeouts.api_request)

    # ------------------------------------------------------------------ public

    def update(
        self,
        old_name: str,
        new_rc_manifest_or_image: Mapping[str, Any] | str | Any,
        *,
        options: NewRcOptions | None = None,
        pacing: Pacing | None = None,
        on_step: StepCallback | None = None,
    ) -> UpdateResult:
        """Replace RC `old_name` by a new RC, one surge-bounded step at a time.

        A string is an image: the new RC is derived from the old one (see
        `plan.derive_image_update`). Anything else is the new RC's manifest (a
        dict or a client model). `options` say how the new RC is found and
        named, `pacing` how fast and wide the update moves; `on_step` gets each
        step as it is taken. Everything is validated before the first write
        (see `prepare`); reruns after a crash resume the same update.
        """
        pace = self._pace(pacing)
        started = self.clock()
        options = options or NewRcOptions()
        prepared = self.prepare(old_name, new_rc_manifest_or_image, options=options)
        if prepared.old is None:
            assert prepared.pending is not None
            # The loop is over: the old RC is deleted, or the rename is half done.
            return self._finish_after_old_deleted(
                old_name, prepared.pending, prepared.new_name, prepared.rename, pace, on_step, started
            )
        old = prepared.old
        if prepared.image_mode:
            if prepared.existing is not None:
                self._say(f"Found existing update in progress ({prepared.new_name}), resuming.")
            old = self._mark_old_for_image_update(old, prepared.new_name, options.deployment_key)
        return self._run(old, prepared.new_rc, pace, on_step, started, rename=prepared.rename, rolled_back=False)

    def prepare(
        self,
        old_name: str,
        new_rc_manifest_or_image: Mapping[str, Any] | str | Any,
        *,
        options: NewRcOptions | None = None,
    ) -> PreparedUpdate:
        """Read and validate everything `update` needs, writing nothing.

        Refuses (ConfigError, one line) a malformed manifest or image, a new RC
        with the old one's name or a selector that does not tell old and new
        pods apart, zero replicas, and an existing RC of the new name that
        belongs to no update from `old_name`. `update` calls it before its first
        write; `--dry-run` calls only this.
        """
        options = options or NewRcOptions()
        container, image_pull_policy = options.container, options.image_pull_policy
        deployment_key, new_name, source = options.deployment_key, options.new_name, options.source
        image_mode = isinstance(new_rc_manifest_or_image, str)
        manifest: RC | None = None
        if image_mode:
            image = checks.check_image(new_rc_manifest_or_image, "--image")
            if image_pull_policy and image_pull_policy not in checks.PULL_POLICIES:
                raise ConfigError(
                    f"--image-pull-policy {image_pull_policy!r}: use one of {', '.join(checks.PULL_POLICIES)}"
                )
            if not deployment_key:
                raise ConfigError("--deployment-label-key can not be empty")
            checks.check_labels({deployment_key: "x"}, "--deployment-label-key")
            if new_name:
                checks.check_name(new_name, "the new ReplicationController's name")
        else:
            manifest = self._api.to_dict(new_rc_manifest_or_image)
            manifest = checks.check_rc_manifest(manifest, source)
            new_name = _meta(manifest)["name"]
        rename = (image_mode and not new_name) if options.keep_old_name is None else options.keep_old_name

        old = self._api.find_rc(old_name)
        pending = self._find_source_controller(old_name)
        if pending is not None and (old is None or _meta(pending).get("deletionTimestamp")):
            return PreparedUpdate(
                old=None,
                new_rc=pending,
                new_name=_meta(pending)["name"],
                rename=rename,
                image_mode=image_mode,
                existing=pending,
                pending=pending,
            )
        if old is None:
            hint = ""
            if new_name and self._api.find_rc(new_name) is not None:
                hint = f"; {new_name!r} exists, so an update to it may have finished already"
            raise ConfigError(
                f"ReplicationController {old_name!r} does not exist and no update from it is in progress{hint}"
            )

        if image_mode:
            target_name = new_name or _annotations(old).get(NEXT_CONTROLLER_ANNOTATION) or ""
            existing = self._api.find_rc(target_name) if target_name else None
            if existing is not None:
                self._check_target(existing, plan.source_id(old))
                self._check_in_progress_image(existing, image, container)
                new_rc: RC = existing
            else:
                new_rc = plan.derive_image_update(
                    old,
                    image,
                    container=container,
                    image_pull_policy=image_pull_policy,
                    deployment_key=deployment_key,
                    new_name=target_name or None,
                )
            future_old_selector = dict((old.get("spec") or {}).get("selector") or {})
            future_old_selector.setdefault(deployment_key, plan.old_deployment_value(old, deployment_key))
        else:
            assert manifest is not None
            new_rc = plan.prepare_manifest(manifest, old, source)
            existing = self._api.find_rc(_meta(new_rc)["name"])
            future_old_selector = (old.get("spec") or {}).get("selector") or {}
        target = _meta(new_rc)["name"]
        plan.validate_new_name(old_name, target)
        plan.validate_selectors(old_name, future_old_selector, (new_rc.get("spec") or {}).get("selector") or {})
        if existing is not None:
            self._check_target(existing, plan.source_id(old))
        elif _replicas(new_rc) <= 0:
            raise ConfigError(
                f"the new ReplicationController {target!r} must ask for at least 1 replica, it asks "
                f"for {_replicas(new_rc)}{' (as many as ' + repr(old_name) + ')' if image_mode else ''}"
            )
        return PreparedUpdate(
            old=old, new_rc=new_rc, new_name=target, rename=rename, image_mode=image_mode, existing=existing
        )

    def rollback(
        self,
        old_name: str,
        *,
        new_name: str | None = None,
        pacing: Pacing | None = None,
        on_step: StepCallback | None = None,
    ) -> UpdateResult:
        """Abort the update away from `old_name` and reverse it.

        The new RC (`new_name`, else the old RC's next-controller-id, else the
        RC whose update-source-id names `old_name`) is scaled down and deleted;
        `old_name` is scaled back to its original-replicas (`pacing` and
        `on_step` as for `update`). Reruns after a crash resume the rollback.
        """
        pace = self._pace(pacing)
        started = self.clock()
        old = self._api.get_rc(old_name)
        target = new_name or _annotations(old).get(NEXT_CONTROLLER_ANNOTATION)
        if not target:
            source = self._find_source_controller(old_name)
            target = _meta(source)["name"] if source is not None else ""
        if not target:
            raise ConfigError(
                f"no update away from {old_name!r} to roll back: it has no {NEXT_CONTROLLER_ANNOTATION} "
                f"annotation and no RC names it in {SOURCE_ID_ANNOTATION} (a rollback may have finished already)"
            )
        abandoned = self._api.find_rc(target)
        if abandoned is None:
            if _annotations(old).get(SOURCE_ID_ANNOTATION, "").startswith(f"{target}:"):
                # A rollback got as far as deleting the abandoned RC: finish it.
                return self._finish_rollback_cleanup(old, target, pace, on_step, started)
            raise ConfigError(f"could not find {target!r} to roll back from")
        original = _annotations(old).get(ORIGINAL_REPLICAS_ANNOTATION)
        if original is None:
            raise ConfigError(
                f"{old_name!r} has no {ORIGINAL_REPLICAS_ANNOTATION} annotation: its size before the "
                "update is unknown, so it cannot be restored safely"
            )
        was_running = _annotations(old).get(SOURCE_ID_ANNOTATION) == plan.source_id(abandoned)
        self._say(f"Setting {_go_quote(old_name)} replicas to {original}")
        restored = self._api.patch_rc(
            old_name,
            {
                "metadata": {
                    "annotations": {
                        SOURCE_ID_ANNOTATION: plan.source_id(abandoned),
                        DESIRED_REPLICAS_ANNOTATION: original,
                    }
                }
            },
        )
        result = self._run(abandoned, restored, pace, on_step, started, rename=False, rolled_back=True)
        result.resumed = was_running
        return result

    def read(self, name: str) -> RC:
        """The ReplicationController `name` as the API returns it (a dict)."""
        return self._api.get_rc(name)

    # ------------------------------------------------------------------ core loop

    def _say(self, line: str) -> None:
        if self.out is not None:
            self.out(line)

    def _pace(self, pacing: Pacing | None) -> _Pace:
        """`pacing` resolved against this updater's timeouts, and checked."""
        pacing = pacing or Pacing()
        pace = _Pace(
            update_period=self.timeouts.rc_update_period if pacing.update_period is None else pacing.update_period,
            poll_interval=self.timeouts.rc_poll_interval if pacing.poll_interval is None else pacing.poll_interval,
            timeout=self.timeouts.rc_timeout if pacing.timeout is None else pacing.timeout,
            max_surge=pacing.max_surge,
            max_unavailable=pacing.max_unavailable,
        )
        for name, value in (
            ("update period", pace.update_period),
            ("poll interval", pace.poll_interval),
            ("timeout", pace.timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(f"the {name} must be a number of seconds of 0 or more, not {value!r}")
        if pace.poll_interval == 0:
            raise ConfigError("the poll interval must be longer than 0")
        checks.check_fenceposts(pace.max_surge, pace.max_unavailable)
        return pace

    def _run(
        self,
        old: RC,
        new_rc: RC,
        pace: _Pace,
        on_step: StepCallback | None,
        started: float,
        *,
        rename: bool,
        rolled_back: bool,
    ) -> UpdateResult:
        old_name = _meta(old)["name"]
        new, existed = self._get_or_create_target(new_rc, plan.source_id(old))
        new_name = _meta(new)["name"]
        self._say(f"Continuing update with existing controller {new_name}." if existed else f"Created {new_name}")
        desired = self._desired(new)
        if ORIGINAL_REPLICAS_ANNOTATION not in _annotations(old):
            fresh = self._api.get_rc(old_name)
            old = self._api.patch_rc(
                old_name, {"metadata": {"annotations": {ORIGINAL_REPLICAS_ANNOTATION: str(_replicas(fresh))}}}
            )
        config = UpdateConfig(desired, pace.max_surge, pace.max_unavailable, old_replicas=_replicas(old))
        names = (new_name, old_name) if rolled_back else (old_name, new_name)
        result = _result(*names, desired, config, started, resumed=existed, rename=rename, rolled_back=rolled_back)
        self._say(
            f"Scaling up {new_name} from {_replicas(new)} to {desired}, scaling down {old_name} from "
            f"{_replicas(old)} to 0 (keep {config.min_available} pods available, "
            f"don't exceed {config.max_total} pods)"
        )
        new_selector = (new.get("spec") or {}).get("selector") or {}
        counts = _Counts(old=_replicas(old), new=_replicas(new))

        def record(action: str) -> None:
            self._record(result, on_step, action, old_name, counts.old, new_name, counts.new, counts.available)

        def one_round() -> tuple[bool, _Counts]:
            """Scale up, wait an update period, scale down; done when either count moved."""
            before = (counts.old, counts.new)
            target = plan.scale_up_target(counts.old, counts.new, desired, config.surge)
            if target != counts.new:
                self._say(f"Scaling {new_name} up to {target}")
                counts.new = _replicas(self._scale_and_wait(new_name, target, pace))
                counts.available = self._available(new_selector)
                record("scale-up")
            self.sleep(pace.update_period)
            if counts.old != 0:
                counts.available = self._available(new_selector)
                target = plan.scale_down_target(counts.old, counts.new, desired, counts.available, config.min_available)
                if target != counts.old:
                    self._say(f"Scaling {old_name} down to {target}")
                    counts.old = _replicas(self._scale_and_wait(old_name, target, pace))
                    record("scale-down")
            return (counts.old, counts.new) != before, counts

        def describe(counts: _Counts) -> str:
            return (
                f"{old_name} replicas={counts.old}, {new_name} replicas={counts.new} "
                f"available={counts.available}, desired={desired}, min_available={config.min_available}, "
                f"max_total={config.max_total}"
            )

        while counts.new != desired or counts.old != 0:
            # A round sleeps its update period itself; the timeout runs from the last round that moved.
            self._poll(
                one_round, f"progress of the rolling update {old_name} -> {new_name}", pace, describe, interval=0
            )

        self._wait_desired(new_name, pace)
        self._say(
            f"Update succeeded. Deleting old controller: {old_name}"
            if rename
            else f"Update succeeded. Deleting {old_name}"
        )
        self._api.delete_rc(old_name, None)  # as kubectl: the server's default (Orphan; the RC is at 0)
        self._wait_gone(old_name, pace)
        if rename:
            self._say(f"Renaming {new_name} to {old_name}")
        return self._finish(result, old_name, new_name, counts.new, new_selector, pace, on_step)

    def _record(
        self,
        result: UpdateResult,
        on_step: StepCallback | None,
        action: str,
        old: str,
        old_replicas: int,
        new: str,
        new_replicas: int,
        available: int,
    ) -> None:
        """Stamp a `ScaleStep` on this updater's clock, add it to `result` and pass it to `on_step`."""
        step = ScaleStep(
            t=self.clock(),
            action=action,
            old=old,
            old_replicas=old_replicas,
            new=new,
            new_replicas=new_replicas,
            available=available,
        )
        result.steps.append(step)
        if on_step is not None:
            on_step(step)

    def _finish(
        self,
        result: UpdateResult,
        old_name: str,
        new_name: str,
        new_replicas: int,
        selector: Mapping[str, str],
        pace: _Pace,
        on_step: StepCallback | None,
    ) -> UpdateResult:
        """The last step, once RC `old_name` is gone: rename `new_name` to it (`result.renamed`), or clear
        the progress annotations of `new_name` (a rollback's too), and record it."""
        if result.renamed:
            self._rename(new_name, old_name, pace)
        else:
            self._clear_progress(new_name, rolled_back=result.rolled_back)
        action = "rollback" if result.rolled_back else ("rename" if result.renamed else "cleanup")
        self._record(result, on_step, action, old_name, 0, new_name, new_replicas, self._available(selector))
        result.final_name = old_name if result.renamed else new_name
        result.finished = self.clock()
        return result

    def _clear_progress(self, name: str, *, rolled_back: bool) -> None:
        """Remove the progress annotations from RC `name`: the new RC's, and after a rollback the old RC's too."""
        strip: dict[str, Any] = {SOURCE_ID_ANNOTATION: None, DESIRED_REPLICAS_ANNOTATION: None}
        if rolled_back:
            strip.update({NEXT_CONTROLLER_ANNOTATION: None, ORIGINAL_REPLICAS_ANNOTATION: None})
        self._api.patch_rc(name, {"metadata": {"annotations": strip}})

    def _desired(self, rc: RC) -> int:
        raw = _annotations(rc).get(DESIRED_REPLICAS_ANNOTATION, "")
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(
                f"cannot read {DESIRED_REPLICAS_ANNOTATION}={raw!r} on {_meta(rc).get('name')!r}"
            ) from None

    def _desired_or_replicas(self, rc: RC) -> int:
        """The desired-replicas annotation of `rc`, or without one its spec.replicas."""
        return self._desired(rc) if DESIRED_REPLICAS_ANNOTATION in _annotations(rc) else _replicas(rc)

    def _get_or_create_target(self, new_rc: RC, source: str) -> tuple[RC, bool]:
        name = _meta(new_rc)["name"]
        existing = self._api.find_rc(name)
        if existing is None:
            replicas = _replicas(new_rc)
            if replicas <= 0:
                raise ConfigError(f"the new RC {name!r} must ask for at least 1 replica, it asks for {replicas}")
            body = dict(new_rc)
            meta = dict(_meta(new_rc))
            meta.pop("namespace", None)
            meta["annotations"] = dict(meta.get("annotations") or {})
            meta["annotations"][DESIRED_REPLICAS_ANNOTATION] = str(replicas)
            meta["annotations"][SOURCE_ID_ANNOTATION] = source
            body["metadata"] = meta
            body["spec"] = dict(new_rc.get("spec") or {}, replicas=0)
            return self._api.create_rc(body), False
        self._check_target(existing, source)
        return existing, True

    @staticmethod
    def _check_target(existing: RC, source: str) -> None:
        """An existing RC of the new name must be this update's: source id = `source`, a desired count."""
        annotations = _annotations(existing)
        if annotations.get(SOURCE_ID_ANNOTATION) != source or DESIRED_REPLICAS_ANNOTATION not in annotations:
            raise ConfigError(
                f"ReplicationController {_meta(existing).get('name')!r} already exists but is not the target of "
                f"this update: expected {SOURCE_ID_ANNOTATION}={source!r} and a {DESIRED_REPLICAS_ANNOTATION} "
                f"annotation, found {SOURCE_ID_ANNOTATION}={annotations.get(SOURCE_ID_ANNOTATION)!r}, "
                f"{DESIRED_REPLICAS_ANNOTATION}={annotations.get(DESIRED_REPLICAS_ANNOTATION)!r}; "
                "give the new RC another name, or delete that one"
            )
        if not annotations[DESIRED_REPLICAS_ANNOTATION].isdigit():
            raise ConfigError(
                f"cannot read {DESIRED_REPLICAS_ANNOTATION}="
                f"{annotations[DESIRED_REPLICAS_ANNOTATION]!r} on {_meta(existing).get('name')!r}"
            )

    # ------------------------------------------------------------------ image mode

    def _check_in_progress_image(self, existing: RC, image: str, container: str | None) -> None:
        containers = (((existing.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        chosen = next((c for c in containers if c.get("name") == container), None) if container else None
        chosen = chosen or (containers[0] if containers else {})
        if chosen.get("image") != image:
            raise ConfigError(
                f"an update of {_meta(existing)['name']!r} to image {chosen.get('image')!r} is in progress: "
                f"continue it with that image, or roll it back, before updating to {image!r}"
            )

    def _mark_old_for_image_update(self, old: RC, new_name: str, key: str) -> RC:
        """Point the old RC at the new one; give it (and its pods) a deployment-key value if missing."""
        name = _meta(old)["name"]
        selector = dict((old.get("spec") or {}).get("selector") or {})
        if key in selector:
            if _annotations(old).get(NEXT_CONTROLLER_ANNOTATION) == new_name:
                return old
            return self._api.patch_rc(name, {"metadata": {"annotations": {NEXT_CONTROLLER_ANNOTATION: new_name}}})
        value = plan.old_deployment_value(old, key)
        # Template first, so pods created from now on carry the label.
        old = self._api.patch_rc(
            name,
            {
                "metadata": {"annotations": {NEXT_CONTROLLER_ANNOTATION: new_name}},
                "spec": {"template": {"metadata": {"labels": {key: value}}}},
            },
        )
        for pod in self._api.list_pods(selector):
            if (_meta(pod).get("labels") or {}).get(key) != value:
                self._api.patch_pod(_meta(pod)["name"], {"metadata": {"labels": {key: value}}})
        old = self._api.patch_rc(name, {"spec": {"selector": {key: value}}})
        # Pods made from the old template in between now match no RC: remove them.
        for pod in self._api.list_pods(selector):
            if (_meta(pod).get("labels") or {}).get(key) != value:
                self._api.delete_pod(_meta(pod)["name"])
        return old

    # ------------------------------------------------------------------ resume after old RC deleted

    def _find_source_controller(self, old_name: str) -> RC | None:
        prefix = f"{old_name}:"
        for rc in self._api.list_rcs():
            if _annotations(rc).get(SOURCE_ID_ANNOTATION, "").startswith(prefix):
                return rc
        return None

    def _finish_after_old_deleted(
        self,
        old_name: str,
        source: RC,
        new_name: str | None,
        rename: bool,
        pace: _Pace,
        on_step: StepCallback | None,
        started: float,
    ) -> UpdateResult:
        source_name = _meta(source)["name"]
        if new_name and source_name != new_name:
            raise ConfigError(
                f"an update from {old_name!r} to {source_name!r} is in progress, not one to {new_name!r}: "
                "finish that one first"
            )
        rename = rename or RENAME_FINALIZER in (_meta(source).get("finalizers") or [])
        desired = self._desired_or_replicas(source)
        config = UpdateConfig(max(desired, 0), pace.max_surge, pace.max_unavailable)
        result = _result(old_name, source_name, desired, config, started, resumed=True, rename=rename)
        selector = (source.get("spec") or {}).get("selector") or {}
        return self._finish(result, old_name, source_name, _replicas(source), selector, pace, on_step)

    def _finish_rollback_cleanup(
        self,
        restored: RC,
        abandoned_name: str,
        pace: _Pace,
        on_step: StepCallback | None,
        started: float,
    ) -> UpdateResult:
        name = _meta(restored)["name"]
        desired = self._desired_or_replicas(restored)
        config = UpdateConfig(max(desired, 0), pace.max_surge, pace.max_unavailable)
        result = _result(name, abandoned_name, desired, config, started, resumed=True, rolled_back=True)
        selector = (restored.get("spec") or {}).get("selector") or {}
        return self._finish(result, abandoned_name, name, _replicas(restored), selector, pace, on_step)

    def _rename(self, current: str, target: str, pace: _Pace) -> None:
        """Re-create RC `current` as `target`, handing its pods over (orphaned, then adopted).

        kubectl deleted `current` (orphaning its pods) and then created `target`;
        a crash in between left pods with no controller and nothing to resume
        from. Here `current` first gets the `RENAME_FINALIZER`, so after the
        orphaning delete it stays (terminating, managing nothing) until
        `target` exists; a rerun finds it by its source id and finishes.
        """
        rc = self._api.get_rc(current)
        meta = _meta(rc)
        if not meta.get("deletionTimestamp"):
            finalizers = list(meta.get("finalizers") or [])
            if RENAME_FINALIZER not in finalizers:
                self._api.patch_rc(current, {"metadata": {"finalizers": [*finalizers, RENAME_FINALIZER]}})
            self._api.delete_rc(current, "Orphan")
        rc = self._wait_orphaned(current, pace) or rc
        if self._api.find_rc(target) is None:
            meta = _meta(rc)
            body: RC = {
                "apiVersion": "v1",
                "kind": "ReplicationController",
                "metadata": {"name": target},
                "spec": dict(rc.get("spec") or {}),
            }
            if meta.get("labels"):
                body["metadata"]["labels"] = dict(meta["labels"])
            annotations = plan.strip_progress_annotations(meta.get("annotations"))
            if annotations:
                body["metadata"]["annotations"] = annotations
            self._api.create_rc(body)
        self._release(current, pace)
        self._wait_gone(current, pace)

    def _release(self, name: str, pace: _Pace) -> None:
        """Drop `RENAME_FINALIZER` from RC `name` (gone already is fine).

        A JSON patch (test + remove at its index): finalizers merge under a
        strategic merge patch, so a shorter list would not remove anything.
        """
        errors: list[ApiError] = []

        def probe() -> tuple[bool, list[str]]:
            rc = self._api.find_rc(name)
            finalizers = list(_meta(rc).get("finalizers") or []) if rc is not None else []
            if RENAME_FINALIZER not in finalizers:
                return True, finalizers
            index = finalizers.index(RENAME_FINALIZER)
            try:
                self._api.patch_rc(
                    name,
                    [
                        {"op": "test", "path": f"/metadata/finalizers/{index}", "value": RENAME_FINALIZER},
                        {"op": "remove", "path": f"/metadata/finalizers/{index}"},
                    ],
                )
            except NotFound:
                pass
            except ApiError as exc:  # the list changed under us (the test op failed): read it again
                errors.append(exc)
                return False, finalizers
            return True, finalizers

        try:
            self._poll(
                probe,
                f"removal of finalizer {RENAME_FINALIZER} from {name}",
                pace,
                lambda finalizers: f"finalizers={finalizers}, last error: {errors[-1]}",
            )
        except WaitTimeout as timeout:
            raise timeout from errors[-1]

    # ------------------------------------------------------------------ waits

    def _poll(
        self,
        probe: Callable[[], tuple[bool, T]],
        waited_for: str,
        pace: _Pace,
        describe: Callable[[T], str],
        interval: float | None = None,
    ) -> T:
        """`harness.poll.poll` on this updater's clock, sleep and pace (`interval` default: the poll interval)."""
        return poll(
            probe,
            waited_for=waited_for,
            timeout=pace.timeout,
            interval=pace.poll_interval if interval is None else interval,
            describe=describe,
            clock=self.clock,
            sleep=self.sleep,
        )

    def _scale_and_wait(self, name: str, replicas: int, pace: _Pace) -> RC:
        rc = self._api.patch_rc(name, {"spec": {"replicas": replicas}})
        return self._wait_replicas(
            name, rc, f"ReplicationController {name} to have {replicas} replicas", pace, replicas
        )

    def _wait_desired(self, name: str, pace: _Pace) -> RC:
        """Wait until the RC's controller has caught up with its spec (observed generation, replicas)."""
        rc = self._api.get_rc(name)
        return self._wait_replicas(name, rc, f"ReplicationController {name} to have its desired replicas", pace)

    def _wait_replicas(self, name: str, rc: RC, waited_for: str, pace: _Pace, replicas: int | None = None) -> RC:
        """Wait until RC `name`, `rc` as last written (read again after the first poll), has observed
        its generation and runs `replicas` (default its spec.replicas)."""
        generation = int(_meta(rc).get("generation") or 0)
        first = [rc]

        def probe() -> tuple[bool, RC]:
            current = first.pop() if first else self._api.get_rc(name)
            status = current.get("status") or {}
            wanted = _replicas(current) if replicas is None else replicas
            observed = int(status.get("observedGeneration") or 0)
            return observed >= generation and int(status.get("replicas") or 0) == wanted, current

        def describe(current: RC) -> str:
            status = current.get("status") or {}
            return (
                f"spec.replicas={_replicas(current)}, status.replicas={int(status.get('replicas') or 0)}, "
                f"observedGeneration={int(status.get('observedGeneration') or 0)}/{generation}"
            )

        return self._poll(probe, waited_for, pace, describe)

    def _wait_orphaned(self, name: str, pace: _Pace) -> RC | None:
        """Wait until the garbage collector has orphaned RC `name`'s pods (its `orphan` finalizer is gone)."""
        return self._wait_rc(
            name,
            lambda rc: rc is None or "orphan" not in (_meta(rc).get("finalizers") or []),
            f"the garbage collector to orphan the pods of ReplicationController {name}",
            pace,
            lambda meta: f"finalizers={meta.get('finalizers')}, deletionTimestamp={meta.get('deletionTimestamp')}",
        )

    def _wait_gone(self, name: str, pace: _Pace) -> None:
        self._wait_rc(
            name,
            lambda rc: rc is None,
            f"ReplicationController {name} to be deleted",
            pace,
            lambda meta: (
                f"still present, deletionTimestamp={meta.get('deletionTimestamp')}, finalizers={meta.get('finalizers')}"
            ),
        )

    def _wait_rc(
        self,
        name: str,
        done: Callable[[RC | None], bool],
        waited_for: str,
        pace: _Pace,
        describe: Callable[[dict[str, Any]], str],
    ) -> RC | None:
        """Poll RC `name` (None once gone) until `done`; `describe` reads the metadata it last had."""

        def probe() -> tuple[bool, RC | None]:
            rc = self._api.find_rc(name)
            return done(rc), rc

        return self._poll(probe, waited_for, pace, lambda rc: describe(_meta(rc or {})))

    def _available(self, selector: Mapping[str, str]) -> int:
        if not selector:
            return 0
        return sum(1 for pod in self._api.list_pods(selector) if _pod_ready(pod))
