"""A release's state in the cluster, beside the environment it releases: ConfigMaps and a Lease.

Any machine with access to the namespace can `status`, `abort` or `resume` a release; nothing
lives on the orchestrator's disk. Why ConfigMaps and a Lease rather than a custom resource: the
state is a handful of JSON documents (plan, approval, status, abort flag, journal), which map
one-to-one onto ConfigMap keys; a CRD would need a cluster-wide install by a cluster admin and
versioning of its schema, while this needs only namespaced rights envctl already holds in the
environments it manages; and a coordination Lease is Kubernetes' own answer to "one holder at a
time, taken over when the holder dies".

    ConfigMap envctl-release-<id>          plan.json, approval.json, status.json (one key each,
                                           merge-patched: writers of different keys never clash)
    ConfigMap envctl-release-<id>-abort    the abort flag: created once, so the first abort wins
    ConfigMap envctl-release-<id>-log-<n>  the journal, JSON lines, 256 KiB per chunk
    Lease     envctl-release-<id>          held by the orchestrator, renewed every few seconds;
                                           taken over once it has not been renewed for its duration

The journal is written once a second (and at every step boundary, abort and exit) rather than per
disconnect batch: the status, written ahead of every batch, is what a resume relies on; a kill -9
loses at most the last second of journal lines, never a decision.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any


from envctl.envs import naming
from envctl.errors import ConfigError, NotFound, Refused
from envctl.release.approval import Approval, parse_approval
from envctl.release.hints import release_cmd
from envctl.release.plan import ReleasePlan
from envctl.release.status import Abort, ReleaseStatus
from envctl.runtimes.kubernetes.client import ApiError, Kube, kind

CONFIGMAP = kind("ConfigMap")
LEASE = kind("Lease")
LABEL_RELEASE = "envctl.io/release"
LABEL_PART = naming.LABEL_RELEASE_PART
# Not envctl.io/environment: `envctl up` prunes what carries that label and it did not render.
LABEL_RELEASE_ENV = "envctl.io/release-of"
CHUNK_BYTES = 256 * 1024
FLUSH_EVERY_S = 1.0
LEASE_S = 15
RENEW_EVERY_S = 4.0


def _now_micro() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_micro(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class KubernetesReleaseStore:
    def __init__(self, kube: Kube, namespace: str, env: str) -> None:
        self.kube, self.namespace, self.env = kube, namespace, env
        self._pending: dict[str, list[str]] = {}
        self._last_flush = 0.0
        self._lost: dict[str, str] = {}

    # -- names and raw documents -----------------------------------------------------------------

    @staticmethod
    def _check(plan_id: str) -> str:
        if not plan_id or len(plan_id) > 200 or not all(c.isalnum() or c in "-." for c in plan_id) \
                or plan_id != plan_id.lower():
            raise ConfigError(f"invalid plan id {plan_id!r}", "plan ids are lowercase letters, digits, '-' and '.'")
        return plan_id

    def _name(self, plan_id: str, suffix: str = "") -> str:
        return f"envctl-release-{self._check(plan_id)}{suffix}"

    def _cmd(self, verb: str, plan_id: str | None, *extra: str) -> str:
        return release_cmd(verb, plan_id, self.env, "kubernetes", *extra)

    def _labels(self, plan_id: str, part: str) -> dict[str, str]:
        return {"app.kubernetes.io/managed-by": "envctl", LABEL_RELEASE: plan_id, LABEL_PART: part,
                LABEL_RELEASE_ENV: self.env}

    def _get_doc(self, name: str, key: str) -> Any | None:
        cm = self.kube.get_or_none(CONFIGMAP.path(self.namespace, name))
        raw = ((cm or {}).get("data") or {}).get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as err:
            raise ConfigError(f"ConfigMap {name} key {key} is not valid JSON: {err}",
                              "restore it or delete the release's ConfigMaps") from err

    def _put_doc(self, plan_id: str, key: str, value: Any) -> None:
        name = self._name(plan_id)
        data = {key: json.dumps(value, default=str)}
        try:
            self.kube.merge_patch(CONFIGMAP.path(self.namespace, name), {"data": data})
        except ApiError as err:
            if err.status != 404:
                raise
            self.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": name, "namespace": self.namespace,
                                           "labels": self._labels(plan_id, "state")},
                              "data": data})

    def _check_lease(self, plan_id: str) -> None:
        if plan_id in self._lost:
            raise Refused(f"release {plan_id}: this orchestrator lost its lease ({self._lost[plan_id]})",
                          f"another one drives it now; watch it with {self._cmd('status', plan_id)}")

    # -- plan and approval -----------------------------------------------------------------------

    def save_plan(self, plan: ReleasePlan) -> None:
        self._put_doc(plan.id, "plan.json", plan.to_dict())

    def load_plan(self, plan_id: str) -> ReleasePlan:
        data = self._get_doc(self._name(plan_id), "plan.json")
        if data is None:
            known = ", ".join(p.id for p in self.list_plans()[-5:]) or "none"
            raise NotFound(f"no release plan {plan_id!r} in namespace {self.namespace} (recent: {known})",
                           f"create one with {self._cmd('plan', None, '--to', 'VERSION')}")
        data.pop("hash", None)  # the hash is always recomputed from the content, never trusted
        return ReleasePlan.model_validate(data)

    def list_plans(self) -> list[ReleasePlan]:
        plans = []
        for cm in self.kube.list(CONFIGMAP.path(self.namespace), labelSelector=f"{LABEL_PART}=state"):
            raw = (cm.get("data") or {}).get("plan.json")
            if raw:
                with contextlib.suppress(ValueError):
                    data = json.loads(raw)
                    data.pop("hash", None)
                    plans.append(ReleasePlan.model_validate(data))
        return sorted(plans, key=lambda p: p.created_at)

    def in_progress(self) -> str | None:
        """The plan id of a release whose status has neither finished nor failed (one list call:
        `up` and `down` ask this before touching the environment)."""
        for cm in self.kube.list(CONFIGMAP.path(self.namespace), labelSelector=f"{LABEL_PART}=state"):
            raw = (cm.get("data") or {}).get("status.json")
            if not raw:
                continue
            try:
                status = json.loads(raw)
            except ValueError:
                continue
            if status.get("finished_at") is None and not status.get("failure"):
                return str(status.get("plan_id") or cm["metadata"]["name"])
        return None

    def save_approval(self, approval: Approval) -> None:
        self._put_doc(approval.plan_id, "approval.json", approval.model_dump(mode="json"))

    def load_approval(self, plan_id: str) -> Approval | None:
        data = self._get_doc(self._name(plan_id), "approval.json")
        if data is None:
            return None
        return parse_approval(data, f"ConfigMap {self._name(plan_id)} key approval.json",
                              "approve the plan again with `envctl release approve`")

    def approval_writer(self, plan_id: str) -> tuple[str, str] | None:
        """The API server does not say who wrote a ConfigMap key (managedFields names a client's
        field manager, which the client chooses), so nothing here proves a local approval."""
        return None

    # -- progress --------------------------------------------------------------------------------

    def save_status(self, status: ReleaseStatus) -> None:
        self._check_lease(status.plan_id)
        self._put_doc(status.plan_id, "status.json", status.model_dump(mode="json"))
        if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush(status.plan_id)

    def load_status(self, plan_id: str) -> ReleaseStatus | None:
        data = self._get_doc(self._name(plan_id), "status.json")
        return None if data is None else ReleaseStatus.model_validate(data)

    def request_abort(self, plan_id: str, abort: Abort) -> Abort:
        try:
            self.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": self._name(plan_id, "-abort"), "namespace": self.namespace,
                                           "labels": self._labels(plan_id, "abort")},
                              "data": {"abort.json": abort.model_dump_json()}})
        except ApiError as err:
            if err.status != 409:
                raise
            existing = self.load_abort(plan_id)  # the first abort's timestamp and reason are kept
            if existing is not None:
                return existing
        self.flush(plan_id)
        return abort

    def load_abort(self, plan_id: str) -> Abort | None:
        data = self._get_doc(self._name(plan_id, "-abort"), "abort.json")
        return None if data is None else Abort.model_validate(data)

    # -- journal ---------------------------------------------------------------------------------

    def append_event(self, plan_id: str, event: dict[str, Any]) -> None:
        self._pending.setdefault(self._check(plan_id), []).append(json.dumps(event, default=str))
        if event.get("event") != "disconnect" or time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self.flush(plan_id)

    def _chunks(self, plan_id: str) -> list[dict[str, Any]]:
        items = self.kube.list(CONFIGMAP.path(self.namespace), labelSelector=f"{LABEL_RELEASE}={plan_id},{LABEL_PART}=log")
        return sorted(items, key=lambda c: int(c["metadata"]["name"].rsplit("-", 1)[1]))

    def flush(self, plan_id: str) -> None:
        self._last_flush = time.monotonic()
        lines = self._pending.pop(plan_id, [])
        if not lines:
            return
        chunks = self._chunks(plan_id)
        last = chunks[-1] if chunks else None
        text = ((last or {}).get("data") or {}).get("events.jsonl", "")
        if last is not None and len(text) + sum(len(x) + 1 for x in lines) <= CHUNK_BYTES:
            self.kube.merge_patch(CONFIGMAP.path(self.namespace, last["metadata"]["name"]),
                                  {"data": {"events.jsonl": text + "".join(x + "\n" for x in lines)}})
            return
        index = int(last["metadata"]["name"].rsplit("-", 1)[1]) + 1 if last else 0
        self.kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": self._name(plan_id, f"-log-{index}"), "namespace": self.namespace,
                                       "labels": self._labels(plan_id, "log")},
                          "data": {"events.jsonl": "".join(x + "\n" for x in lines)}})

    def events(self, plan_id: str) -> list[dict[str, Any]]:
        out = []
        for cm in self._chunks(self._check(plan_id)):
            for line in ((cm.get("data") or {}).get("events.jsonl") or "").splitlines():
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out + [json.loads(x) for x in self._pending.get(plan_id, [])]

    # -- the lease -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self, plan_id: str, holder: str, wait_s: float = 0.0) -> Iterator[None]:
        """Held while an orchestrator drives the release. Another live holder: Refused (or, with
        wait_s, waited for: a killed orchestrator's lease expires LEASE_S after its last renewal)."""
        holder = f"{holder} on {socket.gethostname()}" if " on " not in holder else holder
        name = self._name(plan_id)
        deadline = time.monotonic() + wait_s
        while not self._acquire(name, holder):
            current = self.kube.get(LEASE.path(self.namespace, name))["spec"]
            left = _parse_micro(current.get("renewTime")) + int(current.get("leaseDurationSeconds", LEASE_S)) - time.time()
            if time.monotonic() + 0.5 > deadline:
                raise Refused(
                    f"release {plan_id} is being driven by {current.get('holderIdentity')} "
                    f"(lease renewed {max(0.0, LEASE_S - left):.0f} s ago, expires in {max(0.0, left):.0f} s)",
                    f"watch it with {self._cmd('status', plan_id)}; if that orchestrator died, "
                    f"{self._cmd('resume', plan_id)} takes over once the lease expires",
                )
            time.sleep(min(1.0, max(0.2, left)))
        stop = threading.Event()
        renewer = threading.Thread(target=self._renew, args=(plan_id, name, holder, stop), daemon=True,
                                   name=f"lease-{plan_id}")
        renewer.start()
        try:
            yield
        finally:
            stop.set()
            renewer.join(timeout=5)
            with contextlib.suppress(Exception):
                self.flush(plan_id)
            with contextlib.suppress(ApiError):
                self._release(name, holder)

    def _acquire(self, name: str, holder: str) -> bool:
        path = LEASE.path(self.namespace, name)
        now = _now_micro()
        spec = {"holderIdentity": holder, "leaseDurationSeconds": LEASE_S, "acquireTime": now, "renewTime": now}
        existing = self.kube.get_or_none(path)
        if existing is None:
            try:
                self.kube.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                  "metadata": {"name": name, "namespace": self.namespace,
                                               "labels": {"app.kubernetes.io/managed-by": "envctl"}},
                                  "spec": spec})
                return True
            except ApiError as err:
                if err.status == 409:
                    return False
                raise
        current = existing.get("spec") or {}
        expires = _parse_micro(current.get("renewTime")) + int(current.get("leaseDurationSeconds", LEASE_S))
        if current.get("holderIdentity") not in (None, "", holder) and expires > time.time():
            return False
        existing["spec"] = {**current, **spec, "leaseTransitions": int(current.get("leaseTransitions", 0)) + 1}
        try:  # the resourceVersion makes this a compare-and-swap: one taker wins
            self.kube.request("PUT", path, body=existing)
            return True
        except ApiError as err:
            if err.status == 409:
                return False
            raise

    def _renew(self, plan_id: str, name: str, holder: str, stop: threading.Event) -> None:
        path = LEASE.path(self.namespace, name)
        renewed = time.monotonic()
        while not stop.wait(RENEW_EVERY_S):
            if time.monotonic() - renewed > LEASE_S - RENEW_EVERY_S:
                # Not renewed for nearly its duration: another orchestrator may take it any moment.
                self._lost[plan_id] = f"not renewed for {time.monotonic() - renewed:.0f} s"
                return
            try:
                lease = self.kube.get(path)
                if lease["spec"].get("holderIdentity") != holder:
                    self._lost[plan_id] = f"now held by {lease['spec'].get('holderIdentity')}"
                    return
                lease["spec"]["renewTime"] = _now_micro()
                self.kube.request("PUT", path, body=lease)
                renewed = time.monotonic()
            except ApiError as err:
                if err.status == 409:
                    continue  # raced our own earlier write; read again next round
                self._lost[plan_id] = f"renewal failed: {err.api_message}"
                return
            except Exception:  # noqa: BLE001 - a flaky API must not kill the renewer; the next round retries
                continue

    def _release(self, name: str, holder: str) -> None:
        path = LEASE.path(self.namespace, name)
        lease = self.kube.get_or_none(path)
        if lease is not None and lease["spec"].get("holderIdentity") == holder:
            lease["spec"]["holderIdentity"] = ""
            lease["spec"]["renewTime"] = None
            self.kube.request("PUT", path, body=lease)
