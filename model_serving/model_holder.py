"""The model being served: load ``models:/NAME@ALIAS``, check it, swap it in, keep polling.

``ModelHolder.current`` is the ``LoadedModel`` in use (``None`` until a first version loads); it is
replaced by one attribute assignment, so a request that took a reference keeps a consistent model
for its whole life and no request ever sees a half-loaded one. A background thread resolves the
alias every ``poll_interval`` seconds, counted from the start of the previous check (a slow
registry call does not stretch the period, so replicas see an alias move within one interval),
with doubling backoff while nothing could be loaded;
``check_now`` does the same on demand (``POST /admin/reload``). A new version is loaded, warmed up
and checked on built-in texts (shape, finite probabilities in [0, 1]) before the swap; a version
that fails is refused, counted, remembered (not retried until the alias moves or a forced
reload) and the old one keeps serving. The load-time checks are ``model_checks``; the value types
``model_version``; the MLflow adapter ``mlflow_source``.

``reason`` (why nothing is served) reaches clients in ``/readyz`` and 503 bodies: it names what
failed and the exception's type, never the exception's text (which may hold a URL with
credentials or a path); the full message is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from model_serving.errors import ModelRejected
from model_serving.model_checks import build_loaded_model, short_error
from model_serving.model_version import CheckResult, LoadedModel, ModelSource, VersionInfo

logger = logging.getLogger(__name__)


class ModelHolder:
    """Holds the served model and keeps it in step with the registry alias."""

    def __init__(
        self,
        source: ModelSource,
        *,
        name: str,
        alias: str,
        poll_interval: float,
        retry_min: float = 1.0,
        retry_max: float = 30.0,
        on_swap: tuple[Callable[[LoadedModel | None, LoadedModel], None], ...] = (),
        on_reload: Callable[[str], None] = lambda result: None,
        compile_scorer: bool = True,
    ) -> None:
        self.source = source
        self.name = name
        self.alias = alias
        self.poll_interval = poll_interval
        self.retry_min = retry_min
        self.retry_max = retry_max
        self._on_swap = on_swap
        self._on_reload = on_reload
        self.compile_scorer = compile_scorer
        self.current: LoadedModel | None = None
        self.reason = "no model loaded yet"
        self.refused: dict[str, str] = {}
        self._check_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._first_attempt = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-holder", daemon=True)
        self._thread.start()

    def wait_first_attempt(self, timeout: float) -> bool:
        """Block until the first load attempt ended (loaded or not) or ``timeout``; True if ended.

        The app's startup waits on this, so that a worker accepts connections only once it has
        tried to load the champion: with several workers sharing one socket, no worker answers
        503 while another one is already serving.
        """
        return self._first_attempt.wait(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        backoff = self.retry_min
        while not self._stop.is_set():
            started = time.monotonic()
            result = self.check_now()
            self._first_attempt.set()
            if self.current is None and result.outcome != "loaded":
                delay, backoff = backoff, min(backoff * 2, self.retry_max)
            else:
                # Fixed rate: the next check starts one interval after this one started.
                elapsed = time.monotonic() - started
                delay, backoff = max(0.0, self.poll_interval - elapsed), self.retry_min
            self._wake.wait(delay)
            self._wake.clear()

    # --- checks --------------------------------------------------------------------------

    def check_now(self, *, force: bool = False) -> CheckResult:
        """Resolve the alias and load the version it points at if it is new.

        ``force`` forgets previously refused versions so they are tried again.
        """
        with self._check_lock:
            if force:
                self.refused.clear()
            return self._check()

    def _check(self) -> CheckResult:
        try:
            info = self.source.resolve(self.name, self.alias)
        except Exception as exc:
            reason = f"cannot resolve the alias {self.name}@{self.alias} ({type(exc).__name__})"
            logger.warning("%s: %s", reason, short_error(exc))
            if self.current is None:
                self.reason = reason
            return CheckResult("unavailable", None, reason)
        current = self.current
        if current is not None and current.version == info.version:
            return CheckResult("unchanged", info.version)
        if info.version in self.refused:
            reason = f"version {info.version} was refused: {self.refused[info.version]}"
            if current is None:
                self.reason = reason
            return CheckResult("refused", info.version, reason)
        logger.info("loading %s version %s (run %s)", info.name, info.version, info.run_id)
        try:
            artifacts = self.source.load(info)
        except ModelRejected as exc:  # refused before loading (artifact hash): not retried
            return self._refuse(info, str(exc))
        except Exception as exc:
            reason = f"version {info.version} could not be loaded ({type(exc).__name__})"
            logger.error("%s: %s", reason, short_error(exc))
            self._on_reload("error")
            if current is None:
                self.reason = reason
            return CheckResult("error", info.version, reason)
        try:
            loaded = build_loaded_model(info, artifacts, compile_scorer=self.compile_scorer)
        except ModelRejected as exc:
            return self._refuse(info, str(exc))
        for callback in self._on_swap:
            try:
                callback(current, loaded)
            except Exception:
                logger.exception("model swap callback failed")
        self.current = loaded
        self.reason = ""
        self._on_reload("success")
        logger.info(
            "serving %s version %s (threshold %.4f, run %s)",
            info.name,
            info.version,
            loaded.threshold,
            info.run_id,
        )
        return CheckResult("loaded", info.version)

    def _refuse(self, info: VersionInfo, reason: str) -> CheckResult:
        logger.error("refusing version %s: %s", info.version, reason)
        self.refused[info.version] = reason
        self._on_reload("refused")
        if self.current is None:
            self.reason = f"version {info.version} was refused: {reason}"
        return CheckResult("refused", info.version, reason)
