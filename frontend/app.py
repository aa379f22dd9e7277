"""The Streamlit page: classify a text, see why, teach the model, classify a CSV, see the model.

Start it with ``uv run streamlit run frontend/app.py``. It talks to serving over HTTP only
(``SERVING_URL``); see ``frontend/README.md`` for every setting.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import httpx
import streamlit as st

if __package__ in (None, ""):
    # ``streamlit run frontend/app.py`` executes this file as a script: make the repository
    # root importable so ``frontend.*`` resolves even when the project is not installed.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frontend.serving_client import ServingClient
from frontend.settings import FrontendSettings
from frontend.views.batch_page import render_batch
from frontend.views.classify import render_classify
from frontend.views.model_page import render_model
from frontend.views.status import STATUS_KEY, ServingStatus, fetch_status, render_status

logger = logging.getLogger("frontend")
FULL_RUN_KEY = "_full_run_in_progress"


@st.cache_resource(show_spinner=False)
def _shared_client(base_url: str, connect_timeout: float, request_timeout: float) -> ServingClient:
    """One pooled HTTP client per process for the real app (tests pass their own transport)."""
    return ServingClient(base_url, connect_timeout=connect_timeout, request_timeout=request_timeout)


def _client(settings: FrontendSettings, transport: httpx.BaseTransport | None) -> ServingClient:
    if transport is not None:
        return ServingClient(
            settings.serving_url,
            connect_timeout=settings.connect_timeout_seconds,
            request_timeout=settings.request_timeout_seconds,
            transport=transport,
        )
    return _shared_client(
        settings.serving_url, settings.connect_timeout_seconds, settings.request_timeout_seconds
    )


def _sidebar_status(client: ServingClient, settings: FrontendSettings) -> None:
    """Poll serving's status in the sidebar; rerun the whole page when it changes.

    That is how the page recovers by itself: serving down -> up, no model -> ready, new version.
    """

    @st.fragment(run_every=settings.status_poll_seconds or None)
    def status_panel() -> None:
        full_run = st.session_state.pop(FULL_RUN_KEY, False)
        previous: ServingStatus | None = st.session_state.get(STATUS_KEY)
        status = fetch_status(client)
        st.session_state[STATUS_KEY] = status
        render_status(status, settings.serving_url)
        changed = previous is not None and (
            previous.state != status.state
            or (previous.model and previous.model.version)
            != (status.model and status.model.version)
        )
        if previous is not None and changed and not full_run:  # a timed refresh of this panel only
            logger.info("serving status changed: %s -> %s", previous.state, status.state)
            st.rerun()

    with st.sidebar:
        st.markdown("### Serving")
        st.session_state[FULL_RUN_KEY] = True
        status_panel()
        st.caption(f"API: {settings.serving_url}")


def main(transport: httpx.BaseTransport | None = None) -> None:
    """Render the page; ``transport`` replaces the network in tests."""
    st.set_page_config(
        page_title="AI or Human? Text detector", page_icon=":material/search:", layout="wide"
    )
    st.set_option("client.toolbarMode", "minimal")  # no "Deploy" button for visitors
    st.set_option("client.showErrorDetails", "none")  # never a traceback on screen
    try:
        settings = FrontendSettings()
        client = _client(settings, transport)
        _sidebar_status(client, settings)
        status: ServingStatus = st.session_state[STATUS_KEY]
        st.title("AI or Human?")
        st.caption("A classifier of AI-generated vs human-written English text, served live.")
        classify_tab, batch_tab, model_tab = st.tabs(["Classify", "Batch (CSV)", "Model"])
        with classify_tab:
            render_classify(client, settings)
        with batch_tab:
            render_batch(client, settings)
        with model_tab:
            render_model(status, settings)
    except Exception as exc:  # the last line of defence: a message, never a stack trace
        logger.exception("page failed")
        st.error(f"Something went wrong on this page ({type(exc).__name__}). Reload to retry.")


if __name__ == "__main__":
    from platform_processes.logging_config import configure_logging

    configure_logging()
    main()
