"""A fake GitHub REST API on a real socket, for PyGithub to talk to through base_url.

It serves the endpoints envctl uses, with bodies built from GitHub's recorded response shapes
(github_data/, from octokit, MIT), records every request so tests can assert on what was posted,
and can be told a user's permission, a pull request's head and merge state, reviews (each on a
commit), team memberships, and to answer the next requests with a 403 secondary rate limit
carrying Retry-After. What the Terraform endpoints cannot catch is listed in github_terraform.py.

    fake = FakeGitHub(); fake.start()
    Github(auth=Auth.Token(fake.token), base_url=fake.url)
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt

from tests.fakes.github_terraform import TERRAFORM_ROUTES, TerraformRoutes
from tests.fakes.github_workflow_runs import WORKFLOW_RUN_ROUTES, WorkflowRunRoutes

DATA = Path(__file__).parent / "github_data"
SAMPLE_API = "https://api.github.com"
COMMENT_LIMIT = 65_536


def _shape(name: str) -> Any:
    return json.loads((DATA / f"{name}.json").read_text())


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]
    status: int = 0
    at: float = field(default_factory=time.monotonic)


@dataclass
class RateLimitRule:
    remaining: int
    retry_after: int
    matches: Callable[[str, str], bool]
    primary: bool = False  # primary: "API rate limit exceeded" with x-ratelimit-reset, no Retry-After


class Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, headers or {}


class FakeGitHub(WorkflowRunRoutes, TerraformRoutes):
    def __init__(self, token: str = "test-token", default_permission: str = "read") -> None:
        self.token = token
        self.default_permission = default_permission
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.permissions: dict[tuple[str, str], tuple[str, str]] = {}
        self.pulls: dict[tuple[str, int], dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.commit_statuses: dict[tuple[str, str], list[dict[str, Any]]] = {}  # (repo, sha) -> oldest first
        self.issues: dict[tuple[str, int], dict[str, Any]] = {}  # real issues (not pull requests)
        self.teams: dict[tuple[str, str], dict[str, str]] = {}  # (org, slug) -> login -> state
        self.rate_limits: list[RateLimitRule] = []
        self.holds: list[tuple[float, Callable[[str, str], bool]]] = []  # answer the next match late
        self.app: tuple[str, str] | None = None  # (app id, PEM public key)
        self.installation_tokens: dict[str, datetime] = {}
        self.token_lifetime = timedelta(hours=1)
        self._ids = itertools.count(1000)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.bot_login = "envctl[bot]"
        self.shapes = {name: _shape(name) for name in (
            "repository", "issue", "user", "issue_comment", "pull_request", "deployment", "deployment_status",
            "validation_error", "response_headers", "status",
        )}  # fmt: skip
        self.shapes.update({name: _shape(name) for name in ("workflow_run", "environment_approvals")})

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # headers and body go out as two writes; with Nagle on, the body waits for the client's
            # delayed ACK of the headers (~40 ms per request on loopback)
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                return None

            def _serve(self) -> None:
                fake._handle(self)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-github", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- what tests tell it ---------------------------------------------------------------------

    def set_permission(self, repo: str, login: str, permission: str, role_name: str | None = None) -> None:
        with self.lock:
            self.permissions[(repo.lower(), login.lower())] = (permission, role_name or permission)

    def add_pull(self, repo: str, number: int, head_sha: str, head_repo: str | None = None,
                 author: str = "octocat", base_ref: str = "master", mergeable: bool | None = None,
                 mergeable_state: str | None = None) -> None:
        """A pull request; `mergeable_state` defaults to what `mergeable` implies (True: clean,
        False: dirty, None: unknown); tests set blocked, behind, unstable... themselves."""
        with self.lock:
            old = self.pulls.get((repo, number), {})
            state = mergeable_state or {True: "clean", False: "dirty", None: "unknown"}[mergeable]
            self.pulls[(repo, number)] = {"head_sha": head_sha, "head_repo": head_repo or repo, "author": author,
                                          "base_ref": base_ref, "mergeable": mergeable, "mergeable_state": state,
                                          "reviews": old.get("reviews", [])}

    def add_review(self, repo: str, number: int, login: str, state: str = "APPROVED",
                   commit_id: str | None = None) -> None:
        """A submitted review (APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED) on `commit_id`,
        by default the PR's current head. Reviews are listed in submission order, as GitHub does."""
        with self.lock:
            pull = self.pulls[(repo, number)]
            pull["reviews"].append({"login": login, "state": state, "commit_id": commit_id or pull["head_sha"]})

    def rate_limit_next(self, times: int = 1, retry_after: int = 1,
                        matches: Callable[[str, str], bool] = lambda _m, _p: True, primary: bool = False) -> None:
        """The next `times` matching requests get GitHub's 403: a secondary rate limit with Retry-After,
        or (primary=True) the hourly limit exhausted until x-ratelimit-reset, `retry_after` s from now."""
        with self.lock:
            self.rate_limits.append(RateLimitRule(times, retry_after, matches, primary))

    def hold_next(self, seconds: float, matches: Callable[[str, str], bool]) -> None:
        """The next matching request is answered `seconds` late, from the state at that later moment
        (a slow GitHub, or a job caught between two events)."""
        with self.lock:
            self.holds.append((seconds, matches))

    def enable_app(self, app_id: str, public_key_pem: str, token_lifetime: timedelta = timedelta(hours=1)) -> None:
        with self.lock:
            self.app = (str(app_id), public_key_pem)
            self.token_lifetime = token_lifetime

    # --- what tests read back -------------------------------------------------------------------

    def recorded(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests
                    if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))]

    def issue_comments(self, repo: str, number: int) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(c) for c in sorted(self.comments.values(), key=lambda c: c["id"])
                    if c["_repo"] == repo and c["_number"] == number]

    def deployment_list(self, repo: str, environment: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(d) for d in sorted(self.deployments.values(), key=lambda d: d["id"])
                    if d["_repo"] == repo and (environment is None or d["environment"] == environment)]

    def status_states(self, deployment_id: int) -> list[str]:
        with self.lock:
            return [s["state"] for s in self.statuses.get(deployment_id, [])]

    # --- HTTP ---------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        rec = Recorded(h.command, parts.path, parse_qs(parts.query), body, {k.lower(): v for k, v in h.headers.items()})
        with self.lock:
            self.requests.append(rec)
        with self.lock:
            hold = next((x for x in self.holds if x[1](h.command, parts.path)), None)
            if hold is not None:
                self.holds.remove(hold)
        if hold is not None:
            time.sleep(hold[0])
        try:
            self._rate_limit(h.command, parts.path)
            self._authenticate(rec)
            status, payload, headers = self._route(rec)
        except Reply as reply:
            status, payload, headers = reply.status, reply.body, reply.headers
        rec.status = status
        data = b"" if payload is None else json.dumps(payload).encode()
        h.send_response(status)
        merged = {k.lower(): str(v) for k, v in self.shapes["response_headers"].items()}
        merged["x-ratelimit-reset"] = str(int(time.time()) + 3600)
        merged.update({k.lower(): v for k, v in headers.items()})
        for key, value in merged.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _rate_limit(self, method: str, path: str) -> None:
        with self.lock:
            for rule in self.rate_limits:
                if rule.remaining > 0 and rule.matches(method, path):
                    rule.remaining -= 1
                    if rule.primary:
                        raise Reply(403, {
                            "message": "API rate limit exceeded for installation ID 1.",
                            "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                        }, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + rule.retry_after)})
                    raise Reply(403, {
                        "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                        "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#secondary-rate-limits",
                    }, {"Retry-After": str(rule.retry_after)})  # fmt: skip

    def _authenticate(self, rec: Recorded) -> None:
        auth = rec.headers.get("authorization", "")
        scheme, _, credential = auth.partition(" ")
        if rec.path.startswith("/app/"):
            if not self.app or scheme.lower() != "bearer":
                raise Reply(401, {"message": "A JSON web token could not be decoded"})
            try:
                claims = jwt.decode(credential, self.app[1], algorithms=["RS256"])
            except jwt.PyJWTError as err:
                raise Reply(401, {"message": f"'Expiration time' claim ('exp') is invalid: {err}"}) from None
            if str(claims.get("iss")) != self.app[0]:
                raise Reply(401, {"message": "Integration not found"})
            return
        with self.lock:
            expiry = self.installation_tokens.get(credential)
        if credential == self.token or (expiry is not None and expiry > datetime.now(timezone.utc)):
            return
        raise Reply(401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})

    ROUTES: list[tuple[str, str, str]] = [
        ("POST", r"/app/installations/(?P<inst>\d+)/access_tokens", "_access_token"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)", "_get_repo"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/collaborators/(?P<login>[^/]+)/permission", "_permission"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?P<n>\d+)", "_get_pull"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)", "_get_issue"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments", "_list_comments"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<n>\d+)/comments", "_create_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "_get_comment"),
        ("PATCH", r"/repos/(?P<repo>[^/]+/[^/]+)/issues/comments/(?P<id>\d+)", "_edit_comment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/deployments", "_list_deployments"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/deployments", "_create_deployment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/deployments/(?P<id>\d+)", "_get_deployment"),
        ("GET", r"/repos/(?P<repo>[^/]+/[^/]+)/deployments/(?P<id>\d+)/statuses", "_list_statuses"),
        ("POST", r"/repos/(?P<repo>[^/]+/[^/]+)/deployments/(?P<id>\d+)/statuses", "_create_status"),
        *WORKFLOW_RUN_ROUTES,
        *TERRAFORM_ROUTES,
    ]

    def _route(self, rec: Recorded) -> tuple[int, Any, dict[str, str]]:
        for method, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, rec.path)
            if match and method == rec.method:
                with self.lock:
                    return getattr(self, name)(rec, **match.groupdict())  # type: ignore[no-any-return]
        raise Reply(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"})

    # --- shapes -------------------------------------------------------------------------------

    def _fill(self, shape: str, repo: str | None = None, **fields: Any) -> dict[str, Any]:
        text = json.dumps(self.shapes[shape])
        for sample_repo in ("Codertocat/Hello-World", "octokit-fixture-org/add-labels-to-issue",
                            "octokit-fixture-org/hello-world", "octokit-fixture-org/create-status"):
            text = text.replace(f"{SAMPLE_API}/repos/{sample_repo}", f"{self.url}/repos/{repo or sample_repo}")
        text = text.replace(SAMPLE_API, self.url)
        data: dict[str, Any] = json.loads(text)
        data.update(fields)
        return data

    def _user(self, login: str) -> dict[str, Any]:
        return self._fill("user", login=login, id=abs(hash(login)) % 10**8, type="Bot" if login.endswith("[bot]") else "User",
                          url=f"{self.url}/users/{login}", html_url=f"https://github.com/{login}")

    def _repo_obj(self, repo: str) -> dict[str, Any]:
        owner, name = repo.split("/")
        return self._fill("repository", repo, name=name, full_name=repo, url=f"{self.url}/repos/{repo}",
                          owner=self._user(owner), html_url=f"https://github.com/{repo}")

    def _public(self, obj: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in obj.items() if not k.startswith("_")}

    def _paginate(self, rec: Recorded, items: list[dict[str, Any]]) -> tuple[int, Any, dict[str, str]]:
        per_page = int(rec.query.get("per_page", ["30"])[0])
        page = int(rec.query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        last = max(1, -(-len(items) // per_page))
        if page < last:
            base = f"{self.url}{rec.path}?per_page={per_page}"
            for key, values in rec.query.items():
                if key not in ("per_page", "page"):
                    base += f"&{key}={values[0]}"
            headers["Link"] = f'<{base}&page={page + 1}>; rel="next", <{base}&page={last}>; rel="last"'
        return 200, [self._public(i) for i in chunk], headers

    # --- endpoints ----------------------------------------------------------------------------

    def _access_token(self, rec: Recorded, inst: str) -> tuple[int, Any, dict[str, str]]:
        token = f"ghs_fake{next(self._ids)}"
        expires = datetime.now(timezone.utc) + self.token_lifetime
        self.installation_tokens[token] = expires
        return 201, {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "permissions": {"deployments": "write", "issues": "write", "pull_requests": "write"},
                     "repository_selection": "selected"}, {}

    def _get_repo(self, rec: Recorded, repo: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self._repo_obj(repo), {}

    def _permission(self, rec: Recorded, repo: str, login: str) -> tuple[int, Any, dict[str, str]]:
        permission, role = self.permissions.get((repo.lower(), login.lower()),
                                                (self.default_permission, self.default_permission))
        return 200, {"permission": permission, "role_name": role, "user": self._user(login)}, {}

    def _pull(self, repo: str, n: str) -> dict[str, Any]:
        pull = self.pulls.get((repo, int(n)))
        if pull is None:
            raise Reply(404, {"message": "Not Found"})
        return pull

    def _get_pull(self, rec: Recorded, repo: str, n: str) -> tuple[int, Any, dict[str, str]]:
        pull = self._pull(repo, n)
        data = self._fill("pull_request", repo, number=int(n), url=f"{self.url}/repos/{repo}/pulls/{n}",
                          user=self._user(pull["author"]))
        data["head"]["sha"] = pull["head_sha"]
        data["base"]["ref"] = pull.get("base_ref", data["base"]["ref"])
        data["mergeable"] = pull.get("mergeable")
        data["mergeable_state"] = pull.get("mergeable_state") or "unknown"
        data["head"]["repo"] = self._repo_obj(pull["head_repo"])
        data["base"]["repo"] = self._repo_obj(repo)
        return 200, data, {}

    def _get_issue(self, rec: Recorded, repo: str, n: str) -> tuple[int, Any, dict[str, str]]:
        if (repo, int(n)) in self.issues:
            return 200, self._public(self.issues[(repo, int(n))]), {}
        self._pull(repo, n)
        data = self._fill("issue", repo, number=int(n), url=f"{self.url}/repos/{repo}/issues/{n}")
        data["pull_request"] = {"url": f"{self.url}/repos/{repo}/pulls/{n}"}
        return 200, data, {}

    def _list_comments(self, rec: Recorded, repo: str, n: str) -> tuple[int, Any, dict[str, str]]:
        items = [c for c in sorted(self.comments.values(), key=lambda c: c["id"])
                 if c["_repo"] == repo and c["_number"] == int(n)]
        return self._paginate(rec, items)

    def _check_body(self, body: Any) -> str:
        text = (body or {}).get("body")
        if not isinstance(text, str) or not text:
            raise Reply(422, {**self.shapes["validation_error"],
                              "errors": [{"resource": "IssueComment", "code": "missing_field", "field": "body"}]})
        if len(text) > COMMENT_LIMIT:
            raise Reply(422, {**self.shapes["validation_error"], "errors": [{
                "resource": "IssueComment", "code": "custom", "field": "body",
                "message": f"body is too long (maximum is {COMMENT_LIMIT} characters)"}]})  # fmt: skip
        return text

    def _create_comment(self, rec: Recorded, repo: str, n: str) -> tuple[int, Any, dict[str, str]]:
        text = self._check_body(rec.body)
        cid = next(self._ids)
        comment = self._fill(
            "issue_comment", repo, id=cid, body=text, user=self._user(self.bot_login),
            url=f"{self.url}/repos/{repo}/issues/comments/{cid}",
            html_url=f"https://github.com/{repo}/pull/{n}#issuecomment-{cid}",
            issue_url=f"{self.url}/repos/{repo}/issues/{n}", created_at=_now(), updated_at=_now(),
            _repo=repo, _number=int(n), _edits=0,
        )  # fmt: skip
        self.comments[cid] = comment
        return 201, self._public(comment), {}

    def _comment(self, repo: str, cid: str) -> dict[str, Any]:
        comment = self.comments.get(int(cid))
        if comment is None or comment["_repo"] != repo:
            raise Reply(404, {"message": "Not Found"})
        return comment

    def _get_comment(self, rec: Recorded, repo: str, id: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self._public(self._comment(repo, id)), {}

    def _edit_comment(self, rec: Recorded, repo: str, id: str) -> tuple[int, Any, dict[str, str]]:
        comment = self._comment(repo, id)
        if comment["user"]["login"] != self.bot_login:
            raise Reply(403, {"message": "You must have push access to edit this comment"})
        comment["body"] = self._check_body(rec.body)
        comment["updated_at"] = _now()
        comment["_edits"] += 1
        return 200, self._public(comment), {}

    def _list_deployments(self, rec: Recorded, repo: str) -> tuple[int, Any, dict[str, str]]:
        sha = rec.query.get("sha", [None])[0]
        env = rec.query.get("environment", [None])[0]
        items = [d for d in sorted(self.deployments.values(), key=lambda d: -d["id"])
                 if d["_repo"] == repo and (sha is None or d["sha"] == sha) and (env is None or d["environment"] == env)]
        return self._paginate(rec, items)

    def _create_deployment(self, rec: Recorded, repo: str) -> tuple[int, Any, dict[str, str]]:
        body = rec.body or {}
        if not body.get("ref"):
            raise Reply(422, {**self.shapes["validation_error"],
                              "errors": [{"resource": "Deployment", "code": "missing_field", "field": "ref"}]})
        did = next(self._ids)
        deployment = self._fill(
            "deployment", repo, id=did, sha=body["ref"], ref=body["ref"], task=body.get("task", "deploy"),
            payload=body.get("payload", {}), environment=body.get("environment", "production"),
            original_environment=body.get("environment", "production"), description=body.get("description"),
            transient_environment=body.get("transient_environment", False),
            production_environment=body.get("production_environment", False),
            url=f"{self.url}/repos/{repo}/deployments/{did}", statuses_url=f"{self.url}/repos/{repo}/deployments/{did}/statuses",
            repository_url=f"{self.url}/repos/{repo}", creator=self._user(self.bot_login),
            created_at=_now(), updated_at=_now(), _repo=repo,
        )  # fmt: skip
        self.deployments[did] = deployment
        self.statuses[did] = []
        return 201, self._public(deployment), {}

    def _deployment(self, repo: str, did: str) -> dict[str, Any]:
        deployment = self.deployments.get(int(did))
        if deployment is None or deployment["_repo"] != repo:
            raise Reply(404, {"message": "Not Found"})
        return deployment

    def _get_deployment(self, rec: Recorded, repo: str, id: str) -> tuple[int, Any, dict[str, str]]:
        return 200, self._public(self._deployment(repo, id)), {}

    def _list_statuses(self, rec: Recorded, repo: str, id: str) -> tuple[int, Any, dict[str, str]]:
        self._deployment(repo, id)
        return self._paginate(rec, list(reversed(self.statuses[int(id)])))

    def _create_status(self, rec: Recorded, repo: str, id: str) -> tuple[int, Any, dict[str, str]]:
        deployment = self._deployment(repo, id)
        body = rec.body or {}
        states = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
        if body.get("state") not in states:
            raise Reply(422, {**self.shapes["validation_error"],
                              "errors": [{"resource": "DeploymentStatus", "code": "invalid", "field": "state"}]})
        sid = next(self._ids)
        status = self._fill(
            "deployment_status", repo, id=sid, state=body["state"], description=body.get("description", ""),
            environment=body.get("environment", deployment["environment"]),
            environment_url=body.get("environment_url", ""), target_url=body.get("target_url", ""),
            log_url=body.get("log_url", ""), creator=self._user(self.bot_login),
            url=f"{self.url}/repos/{repo}/deployments/{id}/statuses/{sid}",
            deployment_url=deployment["url"], created_at=_now(), updated_at=_now(),
        )  # fmt: skip
        if body["state"] == "success" and body.get("auto_inactive", True):
            # GitHub marks earlier successful deployments of the environment inactive
            for other in self.deployments.values():
                if other["_repo"] == repo and other["environment"] == deployment["environment"] and other["id"] != deployment["id"]:
                    if self.statuses[other["id"]] and self.statuses[other["id"]][-1]["state"] == "success":
                        self.statuses[other["id"]].append({**status, "state": "inactive", "id": next(self._ids)})
        self.statuses[int(id)].append(status)
        return 201, status, {}


def main() -> None:
    """`python -m tests.fakes.github_api --pulls REPO:N ...`: serve the fake on its own (benchmarks),
    print its URL, and stop when stdin closes."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(description=main.__doc__)
    ap.add_argument("--repo", default="Codertocat/Hello-World")
    ap.add_argument("--pulls", type=int, default=20, help="pull requests 1..N, each with its own head sha")
    ap.add_argument("--permission", action="append", default=[], help="LOGIN=PERMISSION")
    ap.add_argument("--pull", action="append", default=[], help="N=SHA: pull request N with this head (terraform)")
    args = ap.parse_args()
    fake = FakeGitHub().start()
    for number in range(1, args.pulls + 1):
        fake.add_pull(args.repo, number, f"{number:040x}")
    for item in args.pull:
        number, _, sha = item.partition("=")
        fake.add_pull(args.repo, int(number), sha, mergeable=True)
    for item in args.permission:
        login, _, level = item.partition("=")
        fake.set_permission(args.repo, login, level)
    print(fake.url, flush=True)
    sys.stdin.read()
    fake.stop()


if __name__ == "__main__":
    main()
