"""Run the real `__main__.py` under `pulumi.runtime.set_mocks` and record what it registered.

`run_program(config)` resets Pulumi's global state (root stack, settings, config), installs a
recording monitor, runs the program with `runpy.run_path` inside `@pulumi.runtime.test` (which
awaits every outstanding registration), and returns a `ProgramRun`: every registered resource
with its resolved inputs *and* its resource options as the engine would see them (parent,
provider, retainOnDelete, protect, dependencies), plus the resolved stack outputs.
"""

from __future__ import annotations

import io
import json
import runpy
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi.runtime
import pulumi.runtime.settings
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

PROJECT = "pypi-edge"
ACCOUNT = "123456789012"
STACK_REGION = "eu-west-1"
DISTRIBUTION_ID = "E2MOCKDISTRIB"
DISTRIBUTION_DOMAIN = "d111111abcdef8.cloudfront.net"
ORIGIN_SECRET = "mock-origin-secret-0123456789abcdefghijklmnopqrstuvwxyzABCD"


@dataclass
class Registered:
    type: str
    name: str
    urn: str
    inputs: dict[str, Any]
    state: dict[str, Any]
    parent: str
    provider: str  # "" = the default provider (the stack's region)
    retain_on_delete: bool
    protect: bool
    dependencies: list[str]
    custom: bool
    secrets: frozenset[str] = frozenset()  # top-level inputs the engine receives as secrets
    aliases: tuple[Any, ...] = ()  # the alias specs the engine receives (alias_pb2.Alias)


class RecordingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.registered: list[Registered] = []
        self.provider_regions: dict[str, str] = {}  # provider URN → region
        self.calls: list[MockCallArgs] = []
        self.registered_outputs: dict[str, dict[str, Any]] = {}  # URN → register_outputs(...)

    def region_of(self, provider_ref: str | None) -> str:
        if not provider_ref:
            return STACK_REGION
        return self.provider_regions[provider_ref]  # a provider reference is "<urn>::<id>"

    def call(self, args: MockCallArgs):
        self.calls.append(args)
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": ACCOUNT,
                "arn": f"arn:aws:iam::{ACCOUNT}:user/ci",
                "userId": "AIDAMOCK",
                "id": ACCOUNT,
            }, []
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": STACK_REGION, "region": STACK_REGION, "id": STACK_REGION}, []
        raise NotImplementedError(f"unexpected invoke {args.token}")

    def new_resource(self, args: MockResourceArgs):
        inputs = dict(args.inputs)
        state = dict(inputs)
        name = args.name
        # pulumi-aws 7: a resource's own `region` input wins over its provider's region.
        region = inputs.get("region") or self.region_of(args.provider)
        typ = args.typ
        rid = f"{name}-id"
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket") or f"{name}-0a1b2c3"
            rid = bucket
            state.update(
                bucket=bucket,
                arn=f"arn:aws:s3:::{bucket}",
                bucketRegionalDomainName=f"{bucket}.s3.{region}.amazonaws.com",
            )
        elif typ == "aws:sqs/queue:Queue":
            qname = inputs.get("name") or f"{name}-0a1b2c3"
            url = f"https://sqs.{region}.amazonaws.com/{ACCOUNT}/{qname}"
            rid = url
            state.update(name=qname, url=url, arn=f"arn:aws:sqs:{region}:{ACCOUNT}:{qname}")
        elif typ == "aws:lambda/function:Function":
            fname = inputs.get("name") or f"{name}-0a1b2c3"
            arn = f"arn:aws:lambda:{region}:{ACCOUNT}:function:{fname}"
            rid = fname
            state.update(name=fname, arn=arn, qualifiedArn=f"{arn}:1", version="1", invokeArn=arn)
        elif typ == "aws:iam/role:Role":
            rname = inputs.get("name") or f"{name}-0a1b2c3"
            rid = rname
            state.update(name=rname, arn=f"arn:aws:iam::{ACCOUNT}:role/{rname}")
        elif typ == "aws:cloudwatch/logGroup:LogGroup":
            gname = inputs.get("name") or f"{name}-0a1b2c3"
            rid = gname
            state.update(name=gname, arn=f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{gname}")
        elif typ == "aws:lambda/functionUrl:FunctionUrl":
            state.update(
                functionUrl=f"https://{name}-url0123.lambda-url.{region}.on.aws/", urlId=f"{name}-url0123"
            )
        elif typ == "random:index/randomPassword:RandomPassword":
            state.update(result=ORIGIN_SECRET)
        elif typ == "random:index/randomId:RandomId":
            state.update(hex="0123456789abcdef")
        elif typ == "aws:cloudfront/distribution:Distribution":
            rid = DISTRIBUTION_ID
            state.update(
                arn=f"arn:aws:cloudfront::{ACCOUNT}:distribution/{DISTRIBUTION_ID}",
                domainName=DISTRIBUTION_DOMAIN,
            )
        return rid, state


class RecordingMonitor(MockMonitor):
    """Also records the resource options the mock interface does not pass to `new_resource`."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self.recording = mocks

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        urn = response.urn
        inputs = pulumi.runtime.rpc.deserialize_properties(request.object)
        # A secret input arrives wrapped in Pulumi's secret sentinel: record which, then unwrap.
        secrets = frozenset(k for k, v in inputs.items() if _is_secret(v))
        inputs = {k: v["value"] if k in secrets else v for k, v in inputs.items()}
        if request.type.startswith("pulumi:providers:"):
            self.recording.provider_regions[f"{urn}::{response.id}"] = inputs.get("region", STACK_REGION)
        self.recording.registered.append(
            Registered(
                type=request.type,
                name=request.name,
                urn=urn,
                inputs=inputs,
                state=self.resources[urn].state,
                parent=request.parent,
                provider=request.provider,
                retain_on_delete=bool(request.retainOnDelete),
                protect=bool(request.protect),
                dependencies=list(request.dependencies),
                custom=request.custom,
                secrets=secrets,
                aliases=tuple(request.aliases),
            )
        )
        return response

    def RegisterResourceOutputs(self, request):
        outputs = pulumi.runtime.rpc.deserialize_properties(request.outputs)
        self.recording.registered_outputs[request.urn] = outputs
        return super().RegisterResourceOutputs(request)


def _is_secret(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get(pulumi.runtime.rpc._special_sig_key) == pulumi.runtime.rpc._special_secret_sig
    )


@dataclass
class ProgramRun:
    resources: list[Registered]
    outputs: dict[str, Any]
    mocks: RecordingMocks
    namespace: dict[str, Any] = field(default_factory=dict)
    stack: str = "dev"

    def of_type(self, typ: str) -> list[Registered]:
        return [r for r in self.resources if r.type == typ]

    def one(self, typ: str, suffix: str = "") -> Registered:
        found = [r for r in self.of_type(typ) if r.name.endswith(suffix)]
        assert len(found) == 1, f"expected one {typ} named *{suffix}, got {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def engine_urn(self, resource: Registered) -> str:
        """The URN the Pulumi engine gives the resource: the types of every parent component from
        the root down, joined by `$` (the stack itself is left out).  The mock monitor's own URNs
        keep only the nearest parent's type, so a component moved one level down would look
        unchanged there."""
        return self._urn(self._type_chain(resource.parent), resource.type, resource.name)

    def alias_urns(self, resource: Registered) -> set[str]:
        """The URNs the engine resolves this resource's aliases to (the same rule as `engine_urn`)."""
        urns = set()
        for alias in resource.aliases:
            if alias.urn:
                urns.add(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or resource.parent)
            typ, name = spec.type or resource.type, spec.name or resource.name
            urns.add(self._urn(self._type_chain(parent), typ, name))
        return urns

    def _type_chain(self, parent_urn: str) -> str:
        chain = []
        while parent_urn:
            parent = next((r for r in self.resources if r.urn == parent_urn), None)
            if parent is None:  # the stack
                break
            chain.append(parent.type)
            parent_urn = parent.parent
        return "$".join(reversed(chain))

    def _urn(self, parent_chain: str, typ: str, name: str) -> str:
        qualified = f"{parent_chain}${typ}" if parent_chain else typ
        return f"urn:pulumi:{self.stack}::{PROJECT}::{qualified}::{name}"

    def provider_region(self, resource: Registered) -> str:
        return self.mocks.region_of(resource.provider)

    def region(self, resource: Registered) -> str:
        """Where the resource is managed: its own `region` argument, else its provider's."""
        return resource.inputs.get("region") or self.provider_region(resource)


def config_for(values: dict[str, Any], project: str = PROJECT) -> dict[str, str]:
    """Config as the engine passes it: namespaced keys, strings, objects as JSON."""
    out = {}
    for key, value in values.items():
        full = key if ":" in key else f"{project}:{key}"
        if isinstance(value, (dict, list)):
            out[full] = json.dumps(value)
        elif isinstance(value, bool):
            out[full] = "true" if value else "false"
        else:
            out[full] = str(value)
    return out


def run_program(
    config: dict[str, Any], secret_keys: tuple[str, ...] = ("users",), stack: str = "dev"
) -> ProgramRun:
    mocks = RecordingMocks()
    monitor = RecordingMonitor(mocks)
    # Pulumi keeps its state in module globals / context vars: start from nothing.
    pulumi.runtime.settings.ROOT.set(None)
    pulumi.runtime.set_all_config(
        config_for({"aws:region": STACK_REGION, **config}),
        secret_keys=[k if ":" in k else f"{PROJECT}:{k}" for k in secret_keys],
    )
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)

    outputs: dict[str, Any] = {}
    namespace: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        namespace.update(runpy.run_path(str(REPO / "__main__.py"), run_name="__main__"))
        stack_resource = pulumi.runtime.settings.get_root_resource()
        exported = dict(stack_resource.outputs)
        # Returned, so the test wrapper awaits it (and every registration) before returning.
        return pulumi.Output.all(**exported).apply(outputs.update)

    program()
    return ProgramRun(
        resources=list(mocks.registered), outputs=outputs, mocks=mocks, namespace=namespace, stack=stack
    )


def zip_members(path: str | Path) -> dict[str, bytes]:
    p = Path(path)
    if not p.is_absolute():
        p = Path.cwd() / p
    with zipfile.ZipFile(io.BytesIO(p.read_bytes())) as zf:
        return {name: zf.read(name) for name in zf.namelist()}
