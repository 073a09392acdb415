"""The `trustedPublishers` config model: who may publish what, and how a token's claims match.

Standard library and `packaging` only: the Pulumi program validates and renders the config with
it at deploy time (infra/trusted.py), and the upload function (upload/oidc.py) loads the rendered
file and matches verified claims against it.  One model, one matching engine, for both.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from packaging.utils import canonicalize_name

GITHUB = "github"
GITLAB = "gitlab"
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
GITLAB_ISSUER = "https://gitlab.com"
# How the config reaches the upload function: this file, bundled next to upload/oidc.py, and the
# signing key in this environment variable (see upload/oidc.py).
CONFIG_FILE = "trusted-publishing.json"
KEY_ENV = "PYPI_EDGE_OIDC_KEY"

# PEP 508 / core metadata project names (what `packaging` accepts), before normalization; ASCII
# only (without re.ASCII, IGNORECASE lets U+212A KELVIN SIGN match "k").
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE | re.ASCII)


def text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    """A claim as a string (GitHub and GitLab send ids as strings; a number is accepted too)."""
    value = claims.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


def _shown(value: str | None) -> str:
    return "absent" if value is None else repr(value)


@dataclass(frozen=True)
class _Rules:
    """What one publisher requires of a token, as claim checks (the same engine for every CI)."""

    identity_claim: str  # the repository / project path: compared case-insensitively
    identity: str
    pinned: tuple[tuple[str, str | None], ...]  # immutable ids (claim, value or None)
    workflow_claim: str  # "<identity>/<workflow prefix><file>@<ref>"
    workflow_prefix: str
    workflow: str
    workflow_label: str
    workflow_shown: str  # how the message names the expected workflow
    environment: str | None
    environment_folds_case: bool
    ref_claim: str
    ref: str | None  # fnmatch glob


def _first_mismatch(rules: _Rules, claims: Mapping[str, Any]) -> tuple[str, str] | None:
    """None if the claims satisfy the rules; else (claim, why) for the first that does not."""
    identity = text_claim(claims, rules.identity_claim)
    if identity is None or identity.lower() != rules.identity.lower():
        return rules.identity_claim, f"{rules.identity_claim} {_shown(identity)} is not {rules.identity!r}"
    for name, want in rules.pinned:
        if want is not None and text_claim(claims, name) != want:
            # Not printing the pinned id: it is the one thing a take-over would need.
            return name, f"{name} {_shown(text_claim(claims, name))} is not the pinned id"
    workflow_ref = text_claim(claims, rules.workflow_claim) or ""
    path, at, _ref = workflow_ref.rpartition("@")
    prefix = rules.workflow_prefix.lower()  # the identity part is spelt as the provider likes
    if not at or not path.lower().startswith(prefix) or path[len(prefix) :] != rules.workflow:
        shown = _shown(workflow_ref or None)
        return rules.workflow_claim, f"{rules.workflow_label} {shown} is not {rules.workflow_shown}"
    if rules.environment is not None:
        environment = text_claim(claims, "environment")
        fold = str.lower if rules.environment_folds_case else str
        if environment is None or fold(environment) != fold(rules.environment):
            return "environment", f"environment {_shown(environment)} is not {rules.environment!r}"
    if rules.ref is not None:
        ref = text_claim(claims, rules.ref_claim)
        if ref is None or not fnmatchcase(ref, rules.ref):
            return rules.ref_claim, f"{rules.ref_claim} {_shown(ref)} does not match {rules.ref!r}"
    return None


class _Publisher:
    def _rules(self) -> _Rules:
        raise NotImplementedError

    def mismatch(self, claims: Mapping[str, Any]) -> tuple[str, str] | None:
        """None if the claims match; else (claim, why), the first claim that does not."""
        return _first_mismatch(self._rules(), claims)

    def identity(self, claims: Mapping[str, Any]) -> bool:
        """Whether the token comes from this publisher's repository (or project) at all."""
        rules = self._rules()
        return (text_claim(claims, rules.identity_claim) or "").lower() == rules.identity.lower()


@dataclass(frozen=True)
class GitHubPublisher(_Publisher):
    """A GitHub Actions workflow allowed to publish (claims: docs.github.com, "About security
    hardening with OpenID Connect")."""

    repository: str  # "owner/name", compared case-insensitively (GitHub names are)
    workflow: str  # the workflow file name under .github/workflows/, e.g. "release.yml"
    environment: str | None = None  # a GitHub deployment environment, e.g. "pypi"
    ref: str | None = None  # e.g. "refs/tags/v*" (fnmatch glob); None = any ref
    # Immutable ids: a repository renamed, deleted and re-created by someone else keeps its
    # name but not these, so pinning them stops a take-over.
    repository_owner_id: str | None = None
    repository_id: str | None = None
    issuer: str = GITHUB_ISSUER
    provider: str = field(default=GITHUB, init=False)

    def _rules(self) -> _Rules:
        return _Rules(
            identity_claim="repository",
            identity=self.repository,
            pinned=(("repository_owner_id", self.repository_owner_id), ("repository_id", self.repository_id)),
            # "<owner>/<repo>/.github/workflows/<file>@<ref>" (the called workflow, for reusable ones)
            workflow_claim="job_workflow_ref",
            workflow_prefix=f"{self.repository}/.github/workflows/",
            workflow=self.workflow,
            workflow_label="workflow",
            workflow_shown=f".github/workflows/{self.workflow} in {self.repository}",
            environment=self.environment,
            environment_folds_case=True,  # GitHub environment names are case-insensitive
            ref_claim="ref",
            ref=self.ref,
        )

    def describe(self) -> str:
        return f"github:{self.repository}/.github/workflows/{self.workflow}"


@dataclass(frozen=True)
class GitLabPublisher(_Publisher):
    """A GitLab CI pipeline allowed to publish (claims: docs.gitlab.com, "OpenID Connect (OIDC)
    Authentication Using ID Tokens")."""

    project: str  # the project path, "group/sub/project", compared case-insensitively
    workflow: str = ".gitlab-ci.yml"  # the CI config file path in the repository
    environment: str | None = None
    ref: str | None = None  # matched against `ref_path`, e.g. "refs/tags/v*"
    namespace_id: str | None = None
    project_id: str | None = None
    issuer: str = GITLAB_ISSUER  # or a self-hosted GitLab's URL
    provider: str = field(default=GITLAB, init=False)

    def _rules(self) -> _Rules:
        return _Rules(
            identity_claim="project_path",
            identity=self.project,
            pinned=(("namespace_id", self.namespace_id), ("project_id", self.project_id)),
            # "<host>/<project path>//<config path>@<ref>"
            workflow_claim="ci_config_ref_uri",
            workflow_prefix=f"{urllib.parse.urlsplit(self.issuer).netloc}/{self.project}//",
            workflow=self.workflow,
            workflow_label="CI config",
            workflow_shown=f"{self.workflow} in {self.project}",
            environment=self.environment,
            environment_folds_case=False,  # GitLab environment names are case-sensitive
            ref_claim="ref_path",
            ref=self.ref,
        )

    def describe(self) -> str:
        return f"gitlab:{self.project}//{self.workflow}"


Publisher = GitHubPublisher | GitLabPublisher

_GITHUB_FIELDS = {"repository", "workflow", "environment", "ref", "repository_owner_id", "repository_id"}
_GITLAB_FIELDS = {"project", "workflow", "environment", "ref", "namespace_id", "project_id", "issuer"}
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GITLAB_PROJECT = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")
_WORKFLOW_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")


def _optional_text(entry: Mapping[str, Any], name: str, where: str) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name.endswith("_id"):
        return str(value)  # ids are numbers in the provider's UI; claims carry them as strings
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: {name!r} must be a non-empty string")
    return value.strip()


def parse_publisher(entry: object, where: str) -> Publisher:
    """One `trustedPublishers` entry.  Unknown keys are errors: a misspelt "enviroment" must
    not silently widen who may publish."""
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: each publisher must be an object")
    provider = entry.get("provider")
    if provider == GITHUB:
        allowed = _GITHUB_FIELDS
    elif provider == GITLAB:
        allowed = _GITLAB_FIELDS
    else:
        raise ValueError(f"{where}: 'provider' must be 'github' or 'gitlab', not {provider!r}")
    unknown = sorted(set(entry) - allowed - {"provider"})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown} for a {provider} publisher")
    values = {name: _optional_text(entry, name, where) for name in allowed}
    if provider == GITHUB:
        repository, workflow = values["repository"], values["workflow"]
        if repository is None or not _REPOSITORY.match(repository):
            raise ValueError(f"{where}: 'repository' must be 'owner/name', not {repository!r}")
        if workflow is None or not _WORKFLOW_FILE.match(workflow):
            raise ValueError(
                f"{where}: 'workflow' must be a workflow file name like 'release.yml', not {workflow!r}"
            )
        return GitHubPublisher(**values)  # type: ignore[arg-type]
    project = values["project"]
    if project is None or not _GITLAB_PROJECT.match(project):
        raise ValueError(f"{where}: 'project' must be a GitLab project path 'group/project'")
    values["workflow"] = values["workflow"] or ".gitlab-ci.yml"
    issuer = values.pop("issuer") or GITLAB_ISSUER
    parts = urllib.parse.urlsplit(issuer)
    if parts.scheme != "https" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"{where}: 'issuer' must be an https URL (a GitLab instance), not {issuer!r}")
    return GitLabPublisher(issuer=issuer.rstrip("/"), **values)  # type: ignore[arg-type]


def parse_publishers(config: object) -> dict[str, tuple[Publisher, ...]]:
    """`trustedPublishers` (project name → list of publishers) → {normalized name: publishers}."""
    if config is None:
        return {}
    if not isinstance(config, Mapping):
        raise ValueError("trustedPublishers must be an object: project name -> list of publishers")
    out: dict[str, tuple[Publisher, ...]] = {}
    for name, entries in config.items():
        if not isinstance(name, str) or not _PROJECT_NAME.match(name):
            raise ValueError(f"trustedPublishers: {name!r} is not a valid project name")
        project = canonicalize_name(name)
        if project in out:
            raise ValueError(f"trustedPublishers: {name!r} is listed twice (as {project!r})")
        if isinstance(entries, Mapping):
            entries = [entries]
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"trustedPublishers.{name}: must be a non-empty list of publishers")
        out[project] = tuple(
            parse_publisher(e, f"trustedPublishers.{name}[{i}]") for i, e in enumerate(entries)
        )
    return out


def _publisher_json(publisher: Publisher) -> dict[str, str]:
    doc = {"provider": publisher.provider}
    names = _GITHUB_FIELDS if publisher.provider == GITHUB else _GITLAB_FIELDS
    for name in sorted(names):
        value = getattr(publisher, name)
        if value is not None and not (name == "issuer" and value == GITLAB_ISSUER):
            doc[name] = value
    return doc


def default_audience(domain: str, fallback: str) -> str:
    """The audience when none is configured: the custom domain, else a per-deployment id.

    Never "pypi": an ID token minted for this index must be useless at PyPI (and the other
    way round), so the audience must name this index alone (PEP 807: one audience per index).
    """
    return domain.strip().lower() or fallback


def render_config(publishers: object, audience: str) -> bytes:
    """The config file the upload function reads: validated, normalized, deterministic."""
    if not isinstance(audience, str) or not audience.strip():
        raise ValueError("the trusted publishing audience must be a non-empty string")
    parsed = parse_publishers(publishers)
    doc = {
        "audience": audience.strip(),
        "trustedPublishers": {
            project: [_publisher_json(p) for p in entries] for project, entries in sorted(parsed.items())
        },
    }
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode("utf-8")
