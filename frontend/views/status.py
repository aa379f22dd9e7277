"""Serving's status as the page shows it, and the plain messages for every kind of failure."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import streamlit as st

from frontend.serving_client import (
    BadInput,
    ModelInfo,
    NoModelYet,
    PredictionNotFound,
    ServingClient,
    ServingError,
    ServingUnavailable,
)

logger = logging.getLogger(__name__)

State = Literal["ready", "no_model", "down", "error"]
STATUS_KEY = "serving_status"


@dataclass(frozen=True)
class ServingStatus:
    """What the page knows about serving right now."""

    state: State
    message: str = ""
    model: ModelInfo | None = None


def fetch_status(client: ServingClient) -> ServingStatus:
    """Ask serving which model it serves; every failure becomes a status, never an exception."""
    try:
        return ServingStatus(state="ready", model=client.model_info())
    except NoModelYet as exc:
        return ServingStatus(state="no_model", message=exc.message)
    except ServingUnavailable as exc:
        return ServingStatus(state="down", message=exc.message)
    except ServingError as exc:
        return ServingStatus(state="error", message=exc.message)


def render_status(status: ServingStatus, serving_url: str) -> None:
    """A one-line status for the sidebar."""
    if status.state == "ready" and status.model is not None:
        st.success(
            f"Serving is ready: model version {status.model.version}",
            icon=":material/check_circle:",
        )
    elif status.state == "no_model":
        st.warning(
            "Serving is up but has no model yet. This page picks it up as soon as one is "
            f"promoted. ({status.message})",
            icon=":material/hourglass_top:",
        )
    elif status.state == "down":
        st.error(
            f"Serving at {serving_url} is not reachable. This page retries by itself.",
            icon=":material/cloud_off:",
        )
    else:
        st.error(f"Serving answered unexpectedly: {status.message}", icon=":material/warning:")


def show_serving_error(exc: ServingError, *, action: str) -> None:
    """Explain in one plain sentence why ``action`` did not happen."""
    if isinstance(exc, NoModelYet):
        st.warning(
            f"Could not {action}: serving has no model loaded yet ({exc.message}). "
            "Try again once a model has been promoted.",
            icon=":material/hourglass_top:",
        )
    elif isinstance(exc, ServingUnavailable):
        st.error(
            f"Could not {action}: serving is not reachable right now. "
            "Try again in a moment; the page reconnects by itself.",
            icon=":material/cloud_off:",
        )
    elif isinstance(exc, PredictionNotFound):
        st.error(f"Could not {action}: serving does not know this prediction ({exc.message}).")
    elif isinstance(exc, BadInput):
        st.error(f"Could not {action}: serving rejected the input: {exc.message}")
    else:
        logger.warning("unexpected answer from serving while trying to %s: %s", action, exc)
        st.error(f"Could not {action}: {exc.message}")
