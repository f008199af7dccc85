"""Terraform for one pull request, reported on GitHub: plan, apply, unlock, autoplan, closed.

Runs inside a worker process (workers.py), never on the webhook's interpreter. Every method is
idempotent enough for a retried job: comments are edited in place per (kind, project, part),
statuses are simply set again, locks are re-acquired by the PR that holds them, and an apply
refuses a plan that was already spent.

Where the rules come from: the `terraform:` section of envctl.yaml on the *base* branch (a PR
cannot loosen its own apply requirements or redaction); projects are found in the PR's head.
Comment text never reaches a shell: a project name is matched against that list (projects.select).
"""

from __future__ import annotations

import base64
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from envctl.errors import EnvctlError, NotFound, Refused
from envctl.github import markdown
from envctl.github.client import GitHubClients
from envctl.github.permissions import PermissionCache, team_member
from envctl.github.pull_updater import PullInfo, PullUpdater
from envctl.github.result import Result, failure, ignored, success
from envctl.github.secrets import client_token, settings_secrets
from envctl.github.settings import GitHubSettings
from envctl.github.terraform_markdown import ApplyView, PlanView, render_apply, render_plan
from envctl.terraform import autoplan, service
from envctl.terraform.checkout import Checkout
from envctl.terraform.locks import Lock, LockStore, now_iso
from envctl.terraform.projects import Project, select
from envctl.terraform.requirements import Approval, PullFacts, approval, unmet
from envctl.terraform.runner import PlanResult
from envctl.terraform.settings import TerraformConfig

log = logging.getLogger("envctl.github.terraform")


@dataclass(frozen=True)
class TfJob:
    op: str  # plan | apply | unlock | autoplan | closed
    repo: str
    number: int
    installation_id: int | None
    user: str
    project: str | None = None
    comment_id: int | None = None
    head_sha: str | None = None  # autoplan: the push it is for; /plan: the head when it was commented
    attempt: int = 1


def status_context(project: str) -> str:
    return f"envctl/plan: {project}"


class TerraformRuns:
    def __init__(self, settings: GitHubSettings, clients: GitHubClients | None = None) -> None:
        self.settings = settings
        self.clients = clients or GitHubClients(settings)
        self.permissions = PermissionCache(settings.permission_cache_s)  # whose reviews count

    # --- plumbing -------------------------------------------------------------------------------

    def _dir(self, job: TfJob) -> Path:
        owner, name = job.repo.split("/", 1)
        return self.settings.state_dir / "terraform" / "pulls" / owner / name / str(job.number)

    def _remote(self, job: TfJob, updater: PullUpdater) -> tuple[str, dict[str, str] | None]:
        remote = self.settings.terraform.remote
        if remote:
            return remote.replace("{repo}", job.repo), None
        token = getattr(getattr(updater.gh, "requester", None), "auth", None)
        secret = getattr(token, "token", None) or self.settings.token or ""
        header = base64.b64encode(f"x-access-token:{secret}".encode()).decode()
        import os

        env = {**os.environ, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
               "GIT_CONFIG_VALUE_0": f"Authorization: Basic {header}", "GIT_TERMINAL_PROMPT": "0"}
        return updater.repo.clone_url, env

    def _open(self, job: TfJob, updater: PullUpdater, info: PullInfo) -> tuple[Checkout, service.Repo, LockStore]:
        base = self._dir(job)
        remote, env = self._remote(job, updater)
        checkout = Checkout(base / "checkout", remote, env)
        checkout.sync(job.number, info.head_sha, info.base_ref)
        text = checkout.base_file(self.settings.terraform.config_file)
        config = service.config_from_text(text, f"{self.settings.terraform.config_file} (base branch {info.base_ref})")
        repo = service.Repo.open(checkout.path, base / "work", config)
        return checkout, repo, service.lock_store(config, self.settings.state_dir)

    def _secrets(self, updater: PullUpdater) -> list[str]:
        """What this worker holds: settings' secrets and the token PyGithub (and git) use right now."""
        return [*settings_secrets(self.settings), *filter(None, [client_token(updater.gh)])]

    def _updater(self, job: TfJob) -> PullUpdater:
        return PullUpdater(self.clients.for_installation(job.installation_id), job.repo, job.number,
                           settings_secrets(self.settings))

    def _reply(self, updater: PullUpdater, job: TfJob, text: str) -> None:
        if job.comment_id is not None:
            body = markdown.render_reply(job.comment_id, job.user, text)
            updater.reply(job.comment_id, body, check_existing=job.attempt > 1)
        else:
            updater.comment(text)

    def run(self, job: TfJob) -> Result:
        handler = {"plan": self.plan, "autoplan": self.plan, "apply": self.apply, "unlock": self.unlock,
                   "closed": self.closed}[job.op]
        updater = self._updater(job)
        try:
            result = handler(job, updater)
        except EnvctlError as err:  # expected: refused, not found, git or terraform said no
            text = err.message + (f"\n\nHint: {err.hint}" if err.hint else "")
            if job.op != "autoplan" or not isinstance(err, Refused):
                self._reply(updater, job, "that did not work:\n\n" + markdown.fenced(text))
            result = failure(f"{job.op}: {err.message}")
        # the summary is logged and kept in the delivery store: no secret there either
        return Result(result.kind, updater.redact(result.summary))

    # --- plan -----------------------------------------------------------------------------------

    def _lock(self, job: TfJob, project: Project, sha: str) -> Lock:
        return Lock(job.repo, project.dir, project.workspace, job.number, project.name, job.user, sha, now_iso())

    def plan(self, job: TfJob, updater: PullUpdater) -> Result:
        info = updater.pull_info()
        if job.op == "autoplan":
            if job.head_sha and job.head_sha != info.head_sha:
                return ignored(f"head moved to {info.head_sha[:12]}; its own push event plans it")
            if info.head_repo != job.repo:
                return ignored("pull requests from forks are planned only on a writer's /plan")
        elif job.head_sha and job.head_sha != info.head_sha:
            raise Refused(f"the pull request's head moved from {job.head_sha[:12]} to {info.head_sha[:12]} after "
                          "`/plan` was commented, so envctl did not plan code nobody asked for",
                          "read the new commits, then comment `/plan` again")
        checkout, repo, locks = self._open(job, updater, info)
        if job.project is not None:
            selected = select(repo.projects, job.project)
        else:
            selected = autoplan.select_changed(repo.projects, checkout.changed_files())
            if not selected:
                if job.op == "autoplan":
                    return ignored("no Terraform project changed")
                names = ", ".join(f"`{p.name}`" for p in repo.projects) or "(none)"
                self._reply(updater, job, f"no Terraform project changed in this pull request. "
                                          f"Plan one by name: `/plan PROJECT` (projects: {names}).")
                return success("no project changed")
        sha = info.head_sha
        mine: list[Project] = []
        for project in selected:
            taken = locks.acquire(self._lock(job, project, sha))
            if taken.ok:
                mine.append(project)
                updater.set_status(sha, "pending", status_context(project.name), "planning…")
                continue
            held = taken.lock
            updater.upsert_parts("plan", project.name, [self._locked_body(project, held)])
            updater.set_status(sha, "failure", status_context(project.name), f"locked by #{held.pull}")
        results = service.plan(repo, mine, lambda _: sha, job.user, secrets=self._secrets(updater))
        for result in results:
            self._report_plan(updater, result, sha)
        failed = [r.project.name for r in results if not r.ok]
        blocked = len(selected) - len(mine)
        summary = f"planned {len(results) - len(failed)}/{len(selected)} at {sha[:12]}"
        if failed or blocked:
            return failure(summary + (f"; failed: {', '.join(failed)}" if failed else "") +
                           (f"; {blocked} locked by other pull requests" if blocked else ""))
        return success(summary)

    def _report_plan(self, updater: PullUpdater, result: PlanResult, sha: str) -> None:
        p = result.project
        notes = (f"🔒 This pull request now holds the lock on `{p.name}` until it is applied, merged or "
                 f"closed, or `/unlock {p.name}` is commented.",)
        bodies = render_plan(PlanView(p.name, p.dir, p.workspace, result.summary, result.plan_text, result.error,
                                      sha, notes=notes))
        updater.upsert_parts("plan", p.name, bodies)
        if result.ok:
            assert result.summary is not None
            updater.set_status(sha, "success", status_context(p.name), result.summary.line())
        else:
            updater.set_status(sha, "failure", status_context(p.name), "plan failed: see the comment")

    @staticmethod
    def _locked_body(project: Project, held: Lock) -> str:
        name = project.name.replace("`", "")
        return render_plan(PlanView(
            project.name, project.dir, project.workspace, None,
            error=f"{project.name} ({project.dir}, workspace {project.workspace}) is locked by pull request "
                  f"#{held.pull} ({held.user}, since {held.created_at}).",
            notes=(f"🔒 #{held.pull} holds the lock until it is applied, merged or closed. To release it sooner, "
                   f"comment `/unlock {name}` on #{held.pull}, or run `envctl tf unlock --project {name} "
                   f"--repo {held.repo}`. Then comment `/plan {name}` here.",),
        ))[0]

    # --- apply ----------------------------------------------------------------------------------

    def apply(self, job: TfJob, updater: PullUpdater) -> Result:
        info = updater.pull_info(with_reviews=True)
        checkout, repo, locks = self._open(job, updater, info)
        if job.project is not None:
            selected = select(repo.projects, job.project)
        else:
            selected = [p for p in repo.projects if repo.plans.load(p) is not None]
            if not selected:
                raise NotFound("there is no saved plan to apply in this pull request", "comment `/plan` first")
        undiverged = checkout.undiverged()
        applied, failed = [], []
        for project in selected:
            if repo.plans.load(project) is None:
                raise NotFound(f"there is no saved plan for {project.name}",
                               f"comment `/plan {project.name}` first (a plan is spent once applied)")
            held = locks.get(job.repo, project.dir, project.workspace)
            if held is None or held.pull != job.number:
                who = f"pull request #{held.pull}" if held else "nobody (it was released)"
                raise Refused(f"{project.name} is locked by {who}, so this pull request's plan may not be applied",
                              f"comment `/plan {project.name}` to take the lock and plan again")
            repo.plans.checked(project, info.head_sha)  # a stale plan first: `/plan` again is the answer then
            facts = PullFacts(self._approval(updater, job, info, project), info.mergeable_state, undiverged)
            reasons = unmet(project.apply_requirements, facts)
            if reasons:
                raise Refused(f"{project.name} cannot be applied yet: requirement " + "; requirement ".join(reasons),
                              "apply requirements come from envctl.yaml on the base branch "
                              f"({', '.join(project.apply_requirements)})")
            result = service.apply(repo, project, info.head_sha, secrets=self._secrets(updater))
            if result.ok:
                locks.release(job.repo, project.dir, project.workspace, job.number)
                note = f"🔓 The lock on `{project.name}` is released."
                applied.append(project.name)
            else:
                note = (f"🔒 The lock on `{project.name}` is kept: fix the cause and comment `/plan {project.name}`, "
                        f"or `/unlock {project.name}` to give it up.")
                failed.append(project.name)
            updater.upsert_parts("apply", project.name, render_apply(ApplyView(
                project.name, project.dir, project.workspace, result.ok, result.output, info.head_sha, (note,))))
            updater.set_status(info.head_sha, "success" if result.ok else "failure", f"envctl/apply: {project.name}",
                               "applied" if result.ok else "apply failed: see the comment")
            if not result.ok:
                break
        if failed:
            return failure(f"apply failed: {', '.join(failed)}" + (f" (applied: {', '.join(applied)})" if applied else ""))
        return success(f"applied {', '.join(applied)} at {info.head_sha[:12]}")

    def _approval(self, updater: PullUpdater, job: TfJob, info: PullInfo, project: Project) -> Approval:
        if "approved" not in project.apply_requirements:
            return Approval(True, "not required")
        return approval(info.reviews, info.head_sha, project.approvals, project.approval_teams,
                        may_write=lambda login: self.permissions.may_run(updater.gh, job.repo, login)[0],
                        in_team=lambda team, login: team_member(updater.gh, job.repo, team, login))

    # --- unlock / closed ------------------------------------------------------------------------

    def _store(self, job: TfJob, updater: PullUpdater) -> tuple[LockStore, service.Repo | None]:
        """The lock store without a fresh checkout (unlock must work even when the code does not)."""
        checkout_dir = self._dir(job) / "checkout"
        if (checkout_dir / ".git").exists():
            checkout = Checkout(checkout_dir, "")
            text = checkout.base_file(self.settings.terraform.config_file)
            config = service.config_from_text(text)
            try:
                repo = service.Repo.open(checkout_dir, self._dir(job) / "work", config)
            except EnvctlError:
                repo = None
            return service.lock_store(config, self.settings.state_dir), repo
        return service.lock_store(TerraformConfig(), self.settings.state_dir), None

    def unlock(self, job: TfJob, updater: PullUpdater) -> Result:
        locks, repo = self._store(job, updater)
        held = [lk for lk in locks.list(job.repo) if lk.pull == job.number]
        if job.project is not None:
            held = [lk for lk in held if lk.project == job.project]
        released = [lk for lk in held if locks.release(lk.repo, lk.dir, lk.workspace, job.number)]
        if repo is not None:
            for project in repo.projects:
                if any(lk.dir == project.dir and lk.workspace == project.workspace for lk in released):
                    repo.plans.discard(project)
        if not released:
            what = f"`{job.project}`" if job.project else "any project"
            self._reply(updater, job, f"this pull request holds no lock on {what}; nothing to release.")
            return success("nothing to unlock")
        names = ", ".join(f"`{lk.project}`" for lk in released)
        self._reply(updater, job, f"released the lock on {names} and discarded the saved plan. "
                                  "Another pull request can plan it now; comment `/plan` here to plan again.")
        return success(f"unlocked {', '.join(lk.project for lk in released)}")

    def closed(self, job: TfJob, updater: PullUpdater) -> Result:
        locks, _ = self._store(job, updater)
        released = locks.release_pull(job.repo, job.number)
        shutil.rmtree(self._dir(job), ignore_errors=True)
        return success(f"closed: released {len(released)} lock(s) and the saved plans")
