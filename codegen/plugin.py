"""ariadne-codegen plugin: a module-level function per operation, run on the current client.

`await create_node(input=...)` and `async for r in watch_reservations()` work inside
`async with arkitekt.connect():` without passing the client around.
"""

from __future__ import annotations

import ast
import copy

from ariadne_codegen.plugins.base import Plugin


def _is_generator(method: ast.AsyncFunctionDef) -> bool:
    return any(isinstance(node, ast.Yield) for node in ast.walk(method))


def _call(method: ast.AsyncFunctionDef) -> ast.Call:
    args = method.args
    return ast.Call(
        func=ast.Attribute(
            value=ast.Call(func=ast.Name(id="current", ctx=ast.Load()), args=[], keywords=[]),
            attr=method.name,
            ctx=ast.Load(),
        ),
        args=[],
        keywords=[
            *(
                ast.keyword(arg=a.arg, value=ast.Name(id=a.arg, ctx=ast.Load()))
                for a in args.args[1:]
            ),
            *(
                ast.keyword(arg=a.arg, value=ast.Name(id=a.arg, ctx=ast.Load()))
                for a in args.kwonlyargs
            ),
            ast.keyword(arg=None, value=ast.Name(id=args.kwarg.arg, ctx=ast.Load())),
        ],
    )


def _module_function(method: ast.AsyncFunctionDef) -> ast.stmt:
    arguments = copy.deepcopy(method.args)
    arguments.args = arguments.args[1:]  # drop self
    call = _call(method)
    if _is_generator(method):
        return ast.FunctionDef(
            name=method.name,
            args=arguments,
            body=[ast.Return(value=call)],
            decorator_list=[],
            returns=copy.deepcopy(method.returns),
            type_params=[],
        )
    return ast.AsyncFunctionDef(
        name=method.name,
        args=arguments,
        body=[ast.Return(value=ast.Await(value=call))],
        decorator_list=[],
        returns=copy.deepcopy(method.returns),
        type_params=[],
    )


CURRENT = '''
def current() -> "Client":
    """The current client (see `arkitekt.connect`)."""
    return cast("Client", active_client())
'''


class CurrentClientPlugin(Plugin):
    _operation_names: list[str]

    def generate_client_module(self, module: ast.Module) -> ast.Module:
        client = next(
            node for node in module.body if isinstance(node, ast.ClassDef) and node.name == "Client"
        )
        methods = [m for m in client.body if isinstance(m, ast.AsyncFunctionDef)]
        self._operation_names = sorted(m.name for m in methods)
        module.body.insert(
            0, ast.ImportFrom(module="typing", names=[ast.alias(name="cast")], level=0)
        )
        module.body.insert(
            0,
            ast.ImportFrom(module="base_client", names=[ast.alias(name="active_client")], level=1),
        )
        module.body.extend(ast.parse(CURRENT).body)
        module.body.extend(_module_function(m) for m in methods)
        return ast.fix_missing_locations(module)

    def generate_init_module(self, module: ast.Module) -> ast.Module:
        names = ["current", *self._operation_names]
        exports = next(
            node
            for node in module.body
            if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "__all__"
        )
        module.body.insert(
            module.body.index(exports),
            ast.ImportFrom(module="client", names=[ast.alias(name=n) for n in names], level=1),
        )
        assert isinstance(exports.value, ast.List)
        exports.value.elts.extend(ast.Constant(value=n) for n in names)
        exports.value.elts.sort(key=lambda e: str(getattr(e, "value", "")))
        return ast.fix_missing_locations(module)
