"""Loads a Lambda handler from its asset directory, in this process, with its deployed environment.

The handler module is the real asset (``lambdas/consumer/handler.py``, ``training/handler.py``), imported under a
unique module name so two ``handler.py`` files can live side by side. Its environment variables are the ones the
emulator's Lambda service holds for the deployed function, i.e. what CloudFormation resolved from the template.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from clickguard.local.emulator import apply_env
from clickguard.local.metrics import metric_sum, totals

REPO_ROOT = Path(__file__).resolve().parents[4]


def function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    return dict((config.get("Environment") or {}).get("Variables") or {})


def load_handler(asset_dir: str, handler: str, env: dict[str, str], module_alias: str) -> Callable[..., Any]:
    """``handler`` is the template's ``module.function`` (e.g. ``handler.lambda_handler``)."""
    module_name, func_name = handler.rsplit(".", 1)
    path = REPO_ROOT / asset_dir / f"{module_name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"handler module {path} not found")
    apply_env(env)  # module-level configuration and clients are built at import, as at a cold start
    # A cold start's sandbox has no logger yet: Powertools reuses a logger of the same service made earlier in this
    # process (another runtime's, writing to its closed output), so it is forgotten and made afresh.
    if service := env.get("POWERTOOLS_SERVICE_NAME"):
        logging.Logger.manager.loggerDict.pop(service, None)
    spec = importlib.util.spec_from_file_location(module_alias, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_alias] = module
    spec.loader.exec_module(module)
    function: Callable[..., Any] = getattr(module, func_name)
    return function


class HandlerOutput:
    """Routes what handlers print (Powertools' JSON logs and EMF metrics) to a file, as CloudWatch Logs would
    collect it, while the rest of the process keeps its terminal. ``sys.stdout`` is swapped once for a router that
    checks a thread-local flag, so concurrent invocations on several shard threads never race on it."""

    def __init__(self, path: Path) -> None:
        import threading

        self.path = path
        self._file = path.open("w", encoding="utf-8")  # a new stack's: a workdir's last one counted its own
        self._local = threading.local()
        self._original: Any = None

    # file-like surface used by print() and logging.StreamHandler
    def write(self, text: str) -> int:
        target = self._file if getattr(self._local, "active", False) else self._original
        return target.write(text)

    def flush(self) -> None:
        self._file.flush()
        self._original.flush()

    def isatty(self) -> bool:
        return False

    def metric_total(self, name: str) -> float:
        """The sum of metric ``name`` over everything the handlers printed so far: the file is buffered, so it is
        flushed first (unflushed lines would read as nothing)."""
        self._file.flush()
        return metric_sum(self.path, name)

    def totals(self) -> dict[str, Any]:
        """``metrics.totals`` of everything the handlers printed so far."""
        self._file.flush()
        return totals(self.path)

    def install(self) -> HandlerOutput:
        self._original = sys.stdout
        sys.stdout = self
        return self

    def uninstall(self) -> None:
        if sys.stdout is self:
            sys.stdout = self._original
        self._file.close()

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(*args: Any, **kwargs: Any) -> Any:
            self._local.active = True
            try:
                return fn(*args, **kwargs)
            finally:
                self._local.active = False
                self._file.flush()  # a batch's metrics are in the file when it returns, not when the next one runs

        return invoke
