"""The one router both front doors share: `webhook serve` (queued) and `webhook handle` (inline).

triage()   cheap and pure: is this delivery for us, and which PR does it belong to?
dispatch() the work: authorize, run the command or policy decision, report on the PR.
run()      dispatch() for a persisted delivery, with GitHub outages turned into RetryLater.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from github import GithubException

from envctl.github import markdown, policy
from envctl.github.client import GitHubClients
from envctl.github.comment_parser import (
    Command,
    Ignore,
    Reply,
    TfCommand,
    parse_comment,
)
from envctl.github.deliveries import Delivery
from envctl.github.events import (
    CommentEvent,
    OtherEvent,
    PingEvent,
    PullRequestEvent,
    parse_event,
    serial_key,
)
from envctl.github.permissions import PermissionCache
from envctl.github.previews import Previews, PullTarget
from envctl.github.pull_updater import PullUpdater
from envctl.github.result import Result, failure, ignored, success
from envctl.github.retries import retry_later
from envctl.github.secrets import install_log_redaction, settings_secrets
from envctl.github.settings import GitHubSettings
from envctl.github.terraform import TfJob
from envctl.github.workers import TerraformWorkers

log = logging.getLogger("envctl.github.router")

TF_VERBS = ("/plan", "/apply", "/unlock")
TF_AUTOPLAN = ("opened", "reopened", "synchronize", "ready_for_review")


class DeliveryFailed(Exception):
    """An Error result: reported where possible, recorded as a failed delivery."""


@dataclass(frozen=True)
class Triage:
    key: str | None  # None: nothing for us, answer without queueing
    reason: str
    dedupe: str | None = None  # one command per comment, whatever delivery id carries it


@dataclass
class CommentJob:
    event: CommentEvent
    command: Command
    target: PullTarget
    attempt: int
    delivery_id: str | None = None


class Router:
    def __init__(self, settings: GitHubSettings, clients: GitHubClients | None = None,
                 previews: Previews | None = None, permissions: PermissionCache | None = None) -> None:
        self.settings = settings
        install_log_redaction(settings_secrets(settings))  # every log line of this process, from now on
        self.clients = clients or GitHubClients(settings)
        self.previews = previews or Previews(settings.policy)
        self.permissions = permissions or PermissionCache(settings.permission_cache_s)
        # Set by the front door that persists deliveries (server, `webhook handle`): the pushes a
        # pull request received after a given delivery (DeliveryStore.pushes_after).
        self.pushes_after: Callable[[str, str], list[tuple[str, str]]] | None = None
        # Terraform jobs run in worker processes (workers.py), never on this interpreter
        self.terraform = TerraformWorkers(settings) if settings.terraform.enabled else None
        # atlantis command_runner habit: one small runner per command name
        self.runners: dict[str, Callable[[CommentJob], Result]] = {
            "help": self._help, "up": self._up, "down": self._down, "status": self._status, "extend": self._extend,
        }  # fmt: skip

    # --- triage: pure, runs before anything is persisted ------------------------------------------

    def triage(self, event_name: str, payload: dict[str, Any]) -> Triage:
        event = parse_event(event_name, payload)
        key = serial_key(event)
        if isinstance(event, PingEvent):
            return Triage(key, "ping")
        if isinstance(event, CommentEvent):
            if event.action != "created":
                return Triage(None, f"comment {event.action}")
            if not event.is_pull_request:
                return Triage(None, "comment on an issue, not a pull request")
            if event.author_is_bot:
                return Triage(None, "comment by a bot")
            parsed = self._parse(event.body)
            if isinstance(parsed, Ignore):
                return Triage(None, parsed.reason)
            return Triage(key, "command", f"comment:{event.repo.lower()}:{event.comment_id}")
        if isinstance(event, PullRequestEvent):
            if self._terraform_op(event) is not None:
                return Triage(key, f"pull_request {event.action} (terraform)")
            if self.terraform is not None and event.action == "synchronize":
                # kept even with nothing to do: a push recorded after a `/plan` comment is how its
                # job knows the head the writer saw (pushes_after)
                return Triage(key, "pull_request synchronize (recorded for /plan)")
            rules = self.settings.policy
            if all(policy.decide(event, rules, exists).action == "none" for exists in (False, True)):
                return Triage(None, policy.decide(event, rules).reason)
            return Triage(key, f"pull_request {event.action}")
        return Triage(None, f"{event_name} events are not handled")

    def _parse(self, body: str) -> Command | TfCommand | Reply | Ignore:
        rules = self.settings.policy
        words = (body or "").strip().split(maxsplit=1)
        if self.terraform is None and words and words[0].lower() in TF_VERBS:
            return Ignore("terraform is not enabled on this webhook")
        return parse_comment(body, max_chargers=rules.max_chargers, max_ttl=rules.ttl_cap())

    def _terraform_op(self, event: PullRequestEvent) -> str | None:
        if self.terraform is None:
            return None
        if event.action == "closed":
            return "closed"
        if event.action in TF_AUTOPLAN and self.settings.terraform.autoplan:
            return "autoplan"
        return None

    # --- dispatch: the work -------------------------------------------------------------------

    def dispatch(self, event_name: str, payload: dict[str, Any], attempt: int = 1, delivery_id: str | None = None) -> Result:
        event = parse_event(event_name, payload)
        if isinstance(event, PingEvent):
            return success("pong")
        if isinstance(event, OtherEvent):
            return ignored(f"{event_name} events are not handled")
        triage = self.triage(event_name, payload)
        if triage.key is None:
            return ignored(triage.reason)
        if isinstance(event, CommentEvent):
            return self._comment(event, attempt, delivery_id)
        return self._pull_request(event)

    def _target(self, repo: str, number: int, installation_id: int | None) -> PullTarget:
        gh = self.clients.for_installation(installation_id)
        return PullTarget(repo, number, PullUpdater(gh, repo, number, settings_secrets(self.settings)))

    def _comment(self, event: CommentEvent, attempt: int, delivery_id: str | None = None) -> Result:
        parsed = self._parse(event.body)
        target = self._target(event.repo, event.number, event.installation_id)
        retrying = attempt > 1
        if isinstance(parsed, Command) and parsed.name == "help":
            return self._help(CommentJob(event, parsed, target, attempt))
        allowed, level = self.permissions.may_run(target.updater.gh, event.repo, event.author)
        if not allowed:
            body = markdown.render_refusal(event.comment_id, event.author, level)
            target.updater.reply(event.comment_id, body, check_existing=retrying)
            return failure(f"@{event.author} ({level}) may not run commands")
        if isinstance(parsed, Reply):
            body = markdown.render_parse_error(event.comment_id, event.author, parsed.message)
            target.updater.reply(event.comment_id, body, check_existing=retrying)
            return failure(f"bad command: {parsed.message}")
        if isinstance(parsed, TfCommand):
            assert self.terraform is not None
            # /plan plans the head the writer saw when commenting, or nothing (TerraformRuns.plan)
            sha = self._head_at_comment(event, target, delivery_id)[0] if parsed.name == "plan" else None
            return self.terraform.run(TfJob(parsed.name, event.repo, event.number, event.installation_id, event.author,
                                            parsed.project, event.comment_id, head_sha=sha, attempt=attempt))
        assert isinstance(parsed, Command)
        return self.runners[parsed.name](CommentJob(event, parsed, target, attempt, delivery_id))

    def _help(self, job: CommentJob) -> Result:
        body = markdown.render_help(job.event.comment_id, job.event.author)
        job.target.updater.reply(job.event.comment_id, body, check_existing=job.attempt > 1)
        return success("help")

    def _head_at_comment(self, event: CommentEvent, target: PullTarget, delivery_id: str | None) -> tuple[str, str | None]:
        """The PR's head when the comment was made, not when its job runs: a command is bound to
        what the writer saw (a fork's later pushes above all). GitHub's head is "now"; a push that
        arrived after the comment says what the head was before it."""
        sha, head_repo = target.updater.head()
        if self.pushes_after is not None and delivery_id is not None:
            later = self.pushes_after(serial_key(event) or "", delivery_id)
            if later:
                sha = later[0][0]
        return sha, head_repo

    def _up(self, job: CommentJob) -> Result:
        # bound to the head when the writer asked: later pushes need another /preview up
        sha, head_repo = self._head_at_comment(job.event, job.target, job.delivery_id)
        note = None
        if head_repo != job.event.repo:
            note = (f"This pull request comes from a fork; commit {markdown.inline(sha[:12])} was approved for a "
                    f"preview by {markdown.user(job.event.author)}. Later pushes are not deployed automatically.")
        return self.previews.up(job.target, sha, job.event.author, job.command.chargers, job.command.ttl, note)

    def _down(self, job: CommentJob) -> Result:
        return self.previews.down(job.target, f"/preview down by {markdown.user(job.event.author)}", job.event.author)

    def _status(self, job: CommentJob) -> Result:
        return self.previews.status(job.target)

    def _extend(self, job: CommentJob) -> Result:
        assert job.command.ttl is not None
        result = self.previews.extend(job.target, job.command.ttl)
        if result.kind == "failure":
            body = markdown.render_failure(job.event.comment_id, job.event.author, result.summary)
            job.target.updater.reply(job.event.comment_id, body, check_existing=job.attempt > 1)
        return result

    def _pull_request(self, event: PullRequestEvent) -> Result:
        preview = self._preview_pull_request(event)
        op = self._terraform_op(event)
        if op is None:
            return preview
        assert self.terraform is not None
        tf = self.terraform.run(TfJob(op, event.repo, event.number, event.installation_id, event.author,
                                      head_sha=event.head_sha))
        if preview.kind == "ignored":
            return tf
        worst = next(k for k in ("error", "failure", "success", "ignored") if k in (preview.kind, tf.kind))
        return Result(worst, f"preview: {preview.summary}; terraform: {tf.summary}")  # type: ignore[arg-type]

    def close(self) -> None:
        if self.terraform is not None:
            self.terraform.close()
        self.clients.close()

    def _preview_pull_request(self, event: PullRequestEvent) -> Result:
        rules = self.settings.policy
        exists = self.previews.exists(event.number) if policy.needs_env_lookup(event) else False
        decision = policy.decide(event, rules, exists)
        if decision.action == "none":
            return ignored(decision.reason)
        target = self._target(event.repo, event.number, event.installation_id)
        if decision.action == "up":
            return self.previews.up(target, event.head_sha, event.author)
        if decision.action == "down":
            return self.previews.down(target, decision.reason)
        return self.previews.stale(target, event.head_sha, event.from_fork)

    # --- run: a persisted delivery, for the job queue ------------------------------------------

    def run(self, delivery: Delivery) -> str:
        payload = json.loads(delivery.body)
        try:
            result = self.dispatch(delivery.event, payload, attempt=delivery.attempts, delivery_id=delivery.id)
        except (GithubException, requests.ConnectionError) as err:
            later = retry_later(err, delivery.attempts)
            if later is None:
                raise
            raise later from err
        log.info("delivery %s (%s): %s", delivery.id, delivery.event, result)
        if result.kind == "error":
            raise DeliveryFailed(str(result))
        return str(result)
