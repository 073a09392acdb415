"""Every S3 API call the indexer package makes, read from its source (no hand-kept list).

`s3_calls(root, operations)` walks the AST of every module under `root` and returns, for each
S3 operation it calls (a method named like one: `put_object`, `get_paginator("list_objects_v2")
.paginate`), the parameter names passed to it.  `**kwargs` is resolved from the dict literals
assigned to that name (`kwargs = {...}`, `x = {...} if c else {...}`, `kwargs["IfMatch"] = ...`,
`kwargs.update(Range=...)`) in the enclosing function, or, for a parameter (a dict built by the
caller), anywhere in the module; a `**name` it cannot resolve is an error, so a new calling
style cannot slip past the check unseen.

`check_script` is run by a Python that imports botocore from a directory given on its command
line (a built bundle, or a botocore wheel at the floor version): it answers which parameters
that botocore's own service model does not know.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path


class Unresolved(Exception):
    pass


def _dict_keys(node: ast.AST) -> set[str] | None:
    if isinstance(node, ast.Dict):
        return {k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    if isinstance(node, ast.IfExp):
        a, b = _dict_keys(node.body), _dict_keys(node.orelse)
        if a is not None and b is not None:
            return a | b
    return None


def _name_keys(tree: ast.AST) -> dict[str, set[str]]:
    """name → every string key a dict bound to that name may hold, anywhere in the module."""
    keys: dict[str, set[str]] = defaultdict(set)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found = _dict_keys(node.value)
            for target in targets:
                if isinstance(target, ast.Name) and found is not None:
                    keys[target.id] |= found
                elif (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and isinstance(target.slice, ast.Constant)
                    and isinstance(target.slice.value, str)
                ):
                    keys[target.value.id].add(target.slice.value)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and isinstance(node.func.value, ast.Name)
        ):
            keys[node.func.value.id] |= {k.arg for k in node.keywords if k.arg}
    return keys


def _paginators(tree: ast.AST) -> dict[str, str]:
    """name → operation, for `name = <x>.get_paginator("operation")`."""
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            op = _paginator_op(node.value)
            if op:
                out[node.targets[0].id] = op
    return out


def _paginator_op(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get_paginator"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ):
        return str(node.args[0].value)
    return None


def _enclosing_functions(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    """call node → the innermost function that contains it (the module when none)."""
    out: dict[ast.AST, ast.AST] = {}

    def visit(node: ast.AST, scope: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            inner = child if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            if isinstance(child, ast.Call):
                out[child] = scope
            visit(child, inner)

    visit(tree, tree)
    return out


def s3_calls(root: Path, operations: set[str]) -> dict[str, set[str]]:
    calls: dict[str, set[str]] = defaultdict(set)
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        module_keys = _name_keys(tree)
        scopes = _enclosing_functions(tree)
        paginators = _paginators(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            attr, owner = node.func.attr, node.func.value
            if attr in operations:
                op = attr
            elif attr == "paginate":
                named = paginators.get(owner.id) if isinstance(owner, ast.Name) else None
                op = _paginator_op(owner) or named
                if op is None:
                    continue
            else:
                continue
            params = calls[op]
            for kw in node.keywords:
                if kw.arg is not None:
                    params.add(kw.arg)
                    continue
                found = _dict_keys(kw.value)
                if found is None and isinstance(kw.value, ast.Name):
                    local = _name_keys(scopes[node])
                    found = local.get(kw.value.id) or module_keys.get(kw.value.id)
                if found is None:
                    where = f"{path.name}:{node.lineno}"
                    raise Unresolved(f"{where}: cannot tell what **{ast.unparse(kw.value)} holds")
                params |= found
    return dict(calls)


# Run as `python -I -c check_script <botocore dir> <calls as JSON>`: prints a JSON report.
check_script = r"""
import json, sys
sys.path[:0] = [sys.argv[1]]
import botocore, botocore.session
from botocore import xform_name
model = botocore.session.get_session().get_service_model("s3")
by_name = {xform_name(op): op for op in model.operation_names}
unknown = {}
for op, params in sorted(json.loads(sys.argv[2]).items()):
    if op not in by_name:
        unknown[op] = ["<no such operation>"]
        continue
    members = set(model.operation_model(by_name[op]).input_shape.members)
    missing = sorted(set(params) - members)
    if missing:
        unknown[op] = missing
print(json.dumps({"file": botocore.__file__, "version": botocore.__version__, "unknown": unknown}))
"""
